"""A pod container's root and bind mounts (issue 13, 14): live through the pod's 9p share when
its zone has one, on the host with the Xen layer faked and a stand-in for the zone's QEMU (a
process in a mount namespace of its own, as `xl create` makes it); copies on disks when it has
none."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from edera_oci.errors import ZoneError
from edera_oci.lifecycle.backend import CreateRequest
from edera_oci.validate import load_bundle
from edera_oci.zone import backend as zb
from edera_oci.zone import pod, shares
from edera_oci.zone.protocol import Tag, decode_records

from .conftest import minimal_config
from .test_create_shares import xen_host  # noqa: F401  (the fixture)
from .test_pod_growth import POD, SANDBOX, make_pod  # noqa: F401  (the fixture)
from .test_shares import mounts_in


def bind(source: Path, destination: str, options=("rbind", "rw")) -> dict:
    return {"destination": destination, "type": "bind", "source": str(source),
            "options": list(options)}


@pytest.fixture
def qemu(monkeypatch):
    """The pod's zone's 9pfs backend, as shares.backend_pids finds it."""
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "slave", "sleep", "600"])
    ours = os.readlink("/proc/self/ns/mnt")
    deadline = time.monotonic() + 10
    while os.readlink(f"/proc/{proc.pid}/ns/mnt") == ours or \
            not Path(f"/proc/{proc.pid}/cmdline").read_bytes().startswith(b"sleep"):
        assert time.monotonic() < deadline, "unshare did not start"
        time.sleep(0.01)
    # the sandbox's zone's, by its name; none for a pod container's own (it has no domain)
    monkeypatch.setattr(shares, "backend_pids",
                        lambda name, domid=None: [proc.pid] if name == "edera-test-sb" else [])
    yield proc.pid
    proc.kill()
    proc.wait()


def mount_sources(state_dir: Path) -> dict[str, str]:
    """destination -> source of the MOUNT records create wrote for the zone."""
    found = {}
    for tag, value in decode_records((state_dir / "spec.bin").read_bytes()):
        if tag == Tag.MOUNT:
            fields = value.decode().split("\0")
            found[fields[0]] = fields[2]
    return found


def test_a_pod_containers_root_and_binds_are_live_through_the_pods_share(make_pod, qemu,  # noqa: F811
                                                                        tmp_path):
    p = make_pod(POD)
    staging = p.root / SANDBOX / shares.STAGING_DIR
    staging.mkdir(mode=0o700)
    vol = tmp_path / "emptydir"
    vol.mkdir()
    (vol / "index.html").write_text("from the init container\n")
    zone = p.create("web", mounts=[bind(vol, "/data")])
    member = staging / "pod-web"
    assert zone["pod"]["share"] == str(member)
    # recorded before anything was mounted
    assert any(z["pod"].get("share") == str(member) and not z["pod"].get("disks")
               for z in p.recorded["web"])
    assert mount_sources(p.root / "web")["/data"] == "/run/edera/binds/pod-web/0/emptydir"
    records = decode_records((p.root / "web" / "spec.bin").read_bytes())
    assert (Tag.ROOT_BIND, b"/run/edera/binds/pod-web/root") in records
    assert Tag.ROOT_DISK not in [tag for tag, _ in records]
    # in QEMU's namespace: the bind's source, and the bundle's rootfs
    assert set(mounts_in(qemu, member)) == {f"{member}/0/emptydir", f"{member}/root"}
    assert (Path(f"/proc/{qemu}/root{member}") / "0/emptydir/index.html").read_text() == \
        "from the init container\n"
    assert [c for c in p.xen.calls if c[0] == "block-attach"] == []  # nothing copied
    assert not list((Path(zone["disk_dir"])).glob("*.ext4"))
    p.delete("web")
    assert mounts_in(qemu, member) == {} and not member.exists()
    assert (vol / "index.html").exists()


def test_a_bad_bind_of_a_pod_container_leaves_the_share_as_it_was(make_pod, qemu, tmp_path):  # noqa: F811
    p = make_pod(POD)
    staging = p.root / SANDBOX / shares.STAGING_DIR
    staging.mkdir(mode=0o700)
    with pytest.raises(ZoneError, match=r"mounts\[0\]\.source: .*/missing does not exist"):
        p.create("web", mounts=[bind(tmp_path / "missing", "/data")])
    assert os.listdir(staging) == [] and mounts_in(qemu, staging) == {}
    assert p.xen.calls == []


def test_without_a_share_in_the_pods_zone_the_binds_are_copies(make_pod, tmp_path, capsys,  # noqa: F811
                                                               monkeypatch):
    monkeypatch.setattr(shares, "backend_pids", lambda name, domid=None: [])
    p = make_pod(POD)
    vol = tmp_path / "vol"
    vol.mkdir()
    zone = p.create("web", mounts=[bind(vol, "/data")])
    assert "has no share" in capsys.readouterr().err
    assert "share" not in zone["pod"]
    assert mount_sources(p.root / "web")["/data"] == f"{pod.POD_DIR}/{pod.pod_name('web')}/binds/0"
    assert [c for c in p.xen.calls if c[0] == "block-attach"] == [("block-attach",)] * 2
    state = json.loads((p.root / "web" / "state.json").read_text())
    assert len(state["zone"]["pod"]["disks"]) == 2  # the root's copy and the binds'
    records = decode_records((p.root / "web" / "spec.bin").read_bytes())
    assert Tag.ROOT_DISK in [tag for tag, _ in records]


@pytest.mark.parametrize("annotations, shared", [
    ({"io.kubernetes.cri.container-type": "sandbox"}, True), ({}, False)])
def test_a_pods_sandbox_zone_has_a_share_without_binds(tmp_path, make_bundle, xen_host,  # noqa: F811
                                                       annotations, shared):
    """Its containers' binds come through it later: the xl config has the 9p device and the
    zone mounts it (BINDS_SHARE); a zone of its own without binds has no binds share (only
    its root's)."""
    bundle = make_bundle(minimal_config(annotations=annotations))
    state_dir = tmp_path / "run" / "c1"
    state_dir.mkdir(parents=True, mode=0o700)
    req = CreateRequest(id="c1", bundle=str(bundle), state_dir=str(state_dir),
                        spec=load_bundle(str(bundle), for_create=True))
    with pytest.raises(ZoneError, match="building the zone failed"):
        zb.XenZoneBackend().create(req, lambda state: None)
    cfg = (state_dir / "zone.cfg").read_text()
    tags = [t for t, _ in decode_records((state_dir / "spec.bin").read_bytes())]
    assert (f"tag={shares.SHARE_TAG}" in cfg) == shared, cfg
    assert (Tag.BINDS_SHARE in tags) == shared
