"""Bundles for the lab tests: a busybox rootfs (dom0's static busybox) and a config from `spec`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path


def busybox_rootfs(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", root / "bin/busybox")
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", root / "bin" / applet)
    for d in ("proc", "sys", "dev", "tmp", "etc", "root", "home/user", "work"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"
    )
    (root / "etc/group").write_text("root:x:0:\nuser:x:1000:\nextra:x:2000:\n")
    (root / "etc/zone-marker").write_text("rootfs-from-bundle\n")
    (root / "bin/not-executable").write_text("#!/bin/sh\necho never\n")
    os.chmod(root / "bin/not-executable", 0o644)
    return root


def make_bundle(base: Path, args: list[str], **changes) -> Path:
    """A bundle whose config is `edera-oci spec`'s default with args and changes applied."""
    bundle = base
    bundle.mkdir(parents=True, exist_ok=True)
    if not (bundle / "rootfs").exists():
        busybox_rootfs(bundle / "rootfs")
    cfg_path = bundle / "config.json"
    if cfg_path.exists():
        cfg_path.unlink()
    subprocess.run(["edera-oci", "spec", "--bundle", str(bundle)], check=True)
    cfg = json.loads(cfg_path.read_text())
    cfg["process"]["args"] = args
    cfg["process"]["terminal"] = False
    for key, value in changes.items():
        node = cfg
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    cfg_path.write_text(json.dumps(cfg, indent=2))
    return bundle
