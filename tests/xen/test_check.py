"""`edera-oci check` against real Xen: a healthy dom0 passes every check; with a piece broken
(xenstored unreachable, the backends and the 9pfs QEMU gone, the zone image missing) the check
that owns it fails with its fix, the others still pass, and the exit status is 1.

Pieces are broken in a private mount namespace (`unshare -m`), so the lab's dom0 stays healthy
for the tests after these: xenstored's socket and /dev/xen/xenbus hidden is, to every client,
a xenstored that is not running."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

pytestmark = pytest.mark.xen

ALL = ["xen", "xl", "xenstored", "xenconsoled", "blkback", "netback", "channels", "9pfs",
       "disks", "zone-image", "memory", "state-root"]


def check(tmp_path, *, env=None, broken: str = "") -> tuple[int, dict[str, dict]]:
    root = tmp_path / "root"
    line = f"edera-oci --root {root} check --format json"
    argv = ["unshare", "-m", "sh", "-c", f"{broken} && exec {line}"] if broken else line.split()
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                         env=None if env is None else {**os.environ, **env})
    doc = json.loads(res.stdout)
    checks = {c["name"]: c for c in doc["checks"]}
    assert list(checks) == ALL, res.stdout
    assert doc["ok"] == (res.returncode == 0), res.stdout
    return res.returncode, checks


def failed(checks: dict[str, dict]) -> set[str]:
    return {name for name, c in checks.items() if not c["ok"]}


def test_a_healthy_dom0_passes_every_check(tmp_path):
    rc, checks = check(tmp_path)
    assert rc == 0 and failed(checks) == set(), checks
    assert "Xen 4.17" in checks["xl"]["detail"]
    assert "xenstored answers" in checks["xenstored"]["detail"]
    text = subprocess.run(["edera-oci", "--root", str(tmp_path / "r"), "check"],
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stdout
    lines = text.stdout.splitlines()
    assert [ln.split()[0] for ln in lines[:-1]] == ["ok"] * len(ALL)
    assert lines[-1] == "all checks passed"


def test_xenstored_unreachable(tmp_path):
    rc, checks = check(tmp_path, broken="mount -t tmpfs none /run/xenstored && "
                                         "mount --bind /dev/null /dev/xen/xenbus")
    assert rc == 1
    assert "xenstored" in failed(checks)
    assert "service xen start" in checks["xenstored"]["fix"]
    assert {"zone-image", "disks", "state-root", "xen", "xenconsoled"}.isdisjoint(failed(checks))


def test_backends_missing(tmp_path):
    rc, checks = check(tmp_path, broken="mount -t tmpfs none /sys/bus/xen-backend/drivers && "
                                         "mount --bind /dev/null /usr/libexec/xen-qemu-system-i386")
    assert rc == 1
    assert failed(checks) == {"blkback", "netback", "9pfs"}
    assert checks["blkback"]["fix"] == "modprobe xen-blkback"
    assert checks["netback"]["fix"] == "modprobe xen-netback"
    assert checks["9pfs"]["fix"] == "apt install qemu-system-xen"


def test_zone_image_missing(tmp_path):
    rc, checks = check(tmp_path, env={"EDERA_OCI_ZONE_IMAGE": str(tmp_path / "no-image")})
    assert rc == 1
    assert failed(checks) == {"zone-image"}
    assert "no zone image found" in checks["zone-image"]["detail"]
    assert "make zone-image" in checks["zone-image"]["fix"]


def test_state_root_readable_by_others(tmp_path):
    root = tmp_path / "root"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    rc, checks = check(tmp_path)
    assert rc == 1 and failed(checks) == {"state-root"}
    assert checks["state-root"]["fix"] == f"chmod 700 {root}"
