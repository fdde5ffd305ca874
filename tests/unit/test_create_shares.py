"""The Xen backend's create path with binds, up to `xl create`, on the host (a fake `xl`).

A bad bind source fails create with a message naming ``mounts[i]`` before any disk is made; an
`xl create` that fails (after the sources were opened and staged) leaves nothing: no staging
directory, no disk directory, no open descriptor, no monitor.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from edera_oci.errors import EderaError, ZoneError
from edera_oci.lifecycle.backend import CreateRequest
from edera_oci.validate import load_bundle
from edera_oci.zone import backend as zb
from edera_oci.zone import shares
from edera_oci.zone.image import ZoneImage
from tests.unit.conftest import minimal_config, tree


@pytest.fixture
def xen_host(tmp_path, monkeypatch):
    """Just enough of a dom0 for create to reach `xl create`: a zone image, a disk root, a
    monitor that is a plain sleeping process, and an `xl` that fails."""
    image = tmp_path / "image"
    image.mkdir()
    monkeypatch.setattr(zb, "find_zone_image", lambda: ZoneImage(
        kernel=image / "vmlinux", ramdisk=image / "initramfs.img",
        manifest={"kernel_version": "test"}))
    monkeypatch.setattr(zb, "DISK_ROOT", tmp_path / "disks")
    monkeypatch.setattr(zb, "CONSOLE_LOG_DIR", tmp_path / "console")
    monitors = []

    def spawn(self, req, state_dir, netns, name):
        report_r, report_w = os.pipe()
        go_r, go_w = os.pipe()
        os.close(report_w)
        os.close(go_r)
        proc = subprocess.Popen(["sleep", "60"])
        monitors.append(proc)
        return proc, report_r, go_w

    monkeypatch.setattr(zb.XenZoneBackend, "_spawn_monitor", spawn)
    monkeypatch.setattr(zb.XenZoneBackend, "_destroy_domain", lambda self, zone: None)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    xl = bindir / "xl"
    xl.write_text("#!/bin/sh\necho 'libxl: error: the test says no' >&2\nexit 3\n")
    xl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    yield monitors
    for proc in monitors:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def request(tmp_path, make_bundle, mounts, annotations=None) -> CreateRequest:
    cfg = minimal_config(mounts=mounts, annotations=annotations or {})
    bundle = make_bundle(cfg)
    (bundle / "rootfs" / "etc").mkdir()
    state_dir = tmp_path / "run" / "c1"
    state_dir.mkdir(parents=True, mode=0o700)
    spec = load_bundle(str(bundle), for_create=True)
    return CreateRequest(id="c1", bundle=str(bundle), spec=spec, state_dir=str(state_dir))


def left(tmp_path) -> list[str]:
    return tree(tmp_path / "run" / "c1") + tree(tmp_path / "disks")


def test_a_bad_bind_source_fails_create_naming_it_before_any_disk(tmp_path, make_bundle,
                                                                  xen_host):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    req = request(tmp_path, make_bundle, [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/run/x", "type": "bind", "source": str(fifo), "options": ["rbind"]}])
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(ZoneError, match=r"^mounts\[1\]\.source: .*fifo is a FIFO"):
        zb.XenZoneBackend().create(req, lambda state: None)
    assert left(tmp_path) == []
    assert set(os.listdir("/proc/self/fd")) <= before
    assert xen_host == []  # no monitor was started


@pytest.mark.parametrize("root_mode", ["ext4", "9p"])
def test_a_failing_xl_create_leaves_nothing(tmp_path, make_bundle, xen_host, root_mode):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "data").write_text("kept\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    req = request(tmp_path, make_bundle, [
        {"destination": "/data", "type": "bind", "source": str(vol), "options": ["rbind"]},
        {"destination": "/etc/hosts", "type": "bind", "source": str(hosts),
         "options": ["bind", "ro"]}], {"org.edera-oci.rootfs": root_mode})
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(ZoneError, match="building the zone failed: xl create failed: libxl: "
                                        "error: the test says no"):
        zb.XenZoneBackend().create(req, lambda state: None)
    state_dir = Path(req.state_dir)
    cfg = (state_dir / "zone.cfg").read_text() if (state_dir / "zone.cfg").exists() else ""
    assert left(tmp_path) in ([], ["zone.cfg", "spec.bin"], ["spec.bin", "zone.cfg"]), \
        left(tmp_path)
    assert not (state_dir / shares.STAGING_DIR).exists()
    assert not (state_dir / shares.ROOT_DIR).exists()
    extra = set(os.listdir("/proc/self/fd")) - before
    assert [os.readlink(f"/proc/self/fd/{fd}") for fd in extra] == []
    assert [p.poll() for p in xen_host] == [-9]  # the monitor was killed
    assert (vol / "data").read_text() == "kept\n" and hosts.exists()
    assert "tag=edera-binds,security_model=passthrough" in cfg
    assert ("tag=edera-root" in cfg) == (root_mode == "9p")
    assert ("root.ext4" in cfg) == (root_mode == "ext4")
    json.loads(json.dumps(req.spec.raw))  # the spec itself is untouched


def test_a_namespace_path_of_another_type_fails_create_before_anything(tmp_path, make_bundle,
                                                                       xen_host):
    """As runc: an error naming the field, and nothing made (no monitor, no disk, no state)."""
    cfg = minimal_config(linux={"namespaces": [{"type": "mount"},
                                               {"type": "ipc", "path": "/proc/self/ns/net"}]})
    bundle = make_bundle(cfg)
    state_dir = tmp_path / "run" / "c1"
    state_dir.mkdir(parents=True, mode=0o700)
    req = CreateRequest(id="c1", bundle=str(bundle), state_dir=str(state_dir),
                        spec=load_bundle(str(bundle), for_create=True))
    with pytest.raises(EderaError, match=r"^linux.namespaces\[1\].path: /proc/self/ns/net is "
                                         r"a namespace of type network, not ipc"):
        zb.XenZoneBackend().create(req, lambda state: None)
    assert left(tmp_path) == [] and xen_host == []
