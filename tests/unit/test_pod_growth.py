"""A pod's zone follows its containers (issue 14), on the host with the Xen layer faked: the
sizes a zone boots with and may grow to, the xl config that says so, the zone growing as a
container joins (memory by its limit, vCPUs by its quota) and shrinking as one leaves, its
maximum, Xen without the memory, the cleanup of a failed create, and what each container
records so that a delete (``--force``, after a killed create, twice) gives back the right
amount."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path

import pytest

from edera_oci.errors import ZoneError
from edera_oci.lifecycle.backend import CreateRequest
from edera_oci.spec import Spec
from edera_oci.state import ContainerState
from edera_oci.validate import load_bundle
from edera_oci.xen import domain
from edera_oci.zone import backend as zb
from edera_oci.zone import pod

from .conftest import minimal_config
from .test_create_shares import xen_host  # noqa: F401  (the fixture)

CRI_TYPE = "io.kubernetes.cri.container-type"
CRI_SANDBOX = "io.kubernetes.cri.sandbox-id"
MiB = 1 << 20


# -- sizes ------------------------------------------------------------------------------------

def test_a_pods_zone_boots_at_its_size_and_may_grow_to_its_maximum(monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    # no annotations: 512 MiB and 2 vCPUs, growing to 2 GiB and 8 vCPUs; the struct pages of
    # the 1536 MiB headroom (1536 / 56 = 27.4) are added to the boot size
    assert pod.sandbox_size({}, pcpus=16) == pod.ZoneSize(512 + 28, 2048, 2, 8, 0)
    assert pod.sandbox_size({}, pcpus=4).max_vcpus == 4  # never more vCPUs than the host
    # the pod's limits: they are the containers' reserve
    size = pod.sandbox_size({"io.kubernetes.cri.sandbox-memory": str(300 * MiB),
                             "io.kubernetes.cri.sandbox-cpu-quota": "250000"}, pcpus=16)
    assert size == pod.ZoneSize(364 + 31, 2048, 3, 8, 300)
    # a small pod: Linux PV keeps at most 10 times its boot memory for ballooning
    small = pod.sandbox_size({"io.kubernetes.cri.sandbox-memory": str(16 * MiB)}, pcpus=1)
    assert small == pod.ZoneSize(128 + 21, 1280, 2, 2, 16)
    # a pod bigger than the maximum boots at its size and does not grow
    big = pod.sandbox_size({"io.kubernetes.cri.sandbox-memory": str(3000 * MiB)}, pcpus=2)
    assert (big.memory_mb, big.max_memory_mb) == (3064, 3064)


def test_a_zone_of_its_own_may_grow_a_little_and_keeps_its_size() -> None:
    """Any zone can be joined (podman's infra is a plain bundle): 256 MiB of headroom, whose
    struct pages come out of the zone's kernel overhead; no spare vCPU."""
    assert pod.plain_size(256, 1) == pod.ZoneSize(256, 512, 1, 1, 0)
    assert pod.plain_size(1088, 4) == pod.ZoneSize(1088, 1344, 4, 4, 0)


def test_a_recorded_zone_without_a_maximum_keeps_its_boot_size() -> None:
    """A zone created before zones grew (or a state with junk in it) cannot grow."""
    assert pod.ZoneSize.of({"memory_mb": 256, "vcpus": 1}) == pod.ZoneSize(256, 256, 1, 1, 0)
    assert pod.ZoneSize.of({"memory_mb": 256, "max_memory_mb": "lots", "vcpus": True,
                            "max_vcpus": -3}) == pod.ZoneSize(256, 256, 1, 1, 0)
    size = pod.ZoneSize(540, 2048, 2, 8, 300)
    assert pod.ZoneSize.of(size.record()) == size


def test_the_xl_config_has_the_boot_size_and_the_maximum() -> None:
    cfg = domain.DomainConfig(name="z", kernel=Path("/k"), ramdisk=Path("/r"), cmdline="c",
                              memory_mb=540, vcpus=2, max_memory_mb=2048, max_vcpus=8)
    lines = cfg.render().splitlines()
    assert {"memory = 540", "maxmem = 2048", "vcpus = 2", "maxvcpus = 8"} <= set(lines)
    plain = domain.DomainConfig(name="z", kernel=Path("/k"), ramdisk=Path("/r"), cmdline="c",
                                memory_mb=256, vcpus=1)
    assert {"maxmem = 256", "maxvcpus = 1"} <= set(plain.render().splitlines())


def test_what_a_pod_container_asks_of_its_zone() -> None:
    def demand(resources: dict) -> pod.Demand:
        return pod.container_demand({"linux": {"resources": resources}})

    assert demand({"memory": {"limit": 64 * MiB}}) == pod.Demand(64, 0)
    assert demand({"memory": {"limit": 64 * MiB + 1}}) == pod.Demand(65, 0)
    assert demand({}) == pod.Demand(pod.POD_CONTAINER_MEMORY_MB, 0)
    assert demand({"memory": {"limit": -1}}).memory_mb == pod.POD_CONTAINER_MEMORY_MB
    assert demand({"cpu": {"quota": 250000, "period": 100000}}).vcpus == 3
    assert demand({"cpu": {"quota": 50000}}).vcpus == 1  # half a CPU still needs one
    assert demand({"cpu": {"quota": -1}}).vcpus == 0  # no quota asks for nothing
    assert pod.container_demand({}) == pod.Demand(pod.POD_CONTAINER_MEMORY_MB, 0)


def test_the_zones_size_is_its_containers_reserve_first_then_growth_up_to_the_maximum():
    size = pod.ZoneSize(540, 700, 2, 4, reserve_mb=100)
    assert pod.pod_target(size, []) == pod.PodTarget(540, 2)
    # within the reserve (the pod's limits the engine sent): no growth
    assert pod.pod_target(size, [pod.Demand(60), pod.Demand(40)]) == pod.PodTarget(540, 2)
    assert pod.pod_target(size, [pod.Demand(60), pod.Demand(90)]).memory_mb == 590
    # the maximum: 160 MiB of room, 40 short
    assert pod.pod_target(size, [pod.Demand(150), pod.Demand(150)]) == \
        pod.PodTarget(700, 2, memory_short_mb=40)
    # vCPUs: the most any container asks for, at least the boot vCPUs, at most the maximum
    assert pod.pod_target(size, [pod.Demand(1, 3), pod.Demand(1, 1)]).vcpus == 3
    assert pod.pod_target(size, [pod.Demand(1, 6)]) == pod.PodTarget(540, 4, vcpus_short=2)
    # the order the containers came in does not matter: what stays decides
    a, b = pod.Demand(80, 3), pod.Demand(200, 1)
    assert pod.pod_target(size, [a, b]) == pod.pod_target(size, [b, a])


def test_a_plain_zone_is_built_with_its_headroom(tmp_path, make_bundle, xen_host) -> None:  # noqa: F811
    """create writes the growth into the xl config and the state: a zone of its own may grow
    by PLAIN_ZONE_GROWTH_MB for podman's pod members, with no spare vCPU."""
    bundle = make_bundle(minimal_config(linux={"resources": {"memory": {"limit": 128 * MiB}}}))
    state_dir = tmp_path / "run" / "c1"
    state_dir.mkdir(parents=True, mode=0o700)
    recorded: list[dict] = []
    req = CreateRequest(id="c1", bundle=str(bundle), state_dir=str(state_dir),
                        spec=load_bundle(str(bundle), for_create=True),
                        record_zone=lambda zone: recorded.append(copy.deepcopy(zone)))
    with pytest.raises(ZoneError, match="building the zone failed"):
        zb.XenZoneBackend().create(req, lambda state: None)
    cfg = (Path(req.state_dir) / "zone.cfg").read_text().splitlines()
    assert {"memory = 192", "maxmem = 448", "vcpus = 1", "maxvcpus = 1"} <= set(cfg)
    assert recorded[0]["memory_mb"] == 192 and recorded[0]["max_memory_mb"] == 448


# -- a pod's zone growing and shrinking, with Xen faked ------------------------------------------

SANDBOX = "sb"
DOMID = 7


class FakeXen:
    """The pod's running zone as XenStore and xl show it: its memory target, its vCPUs'
    availability, Xen's free memory; the xl calls made, in order."""

    def __init__(self, name: str, memory_mb: int, vcpus: int, max_vcpus: int,
                 free_mb: int = 4096) -> None:
        self.name = name
        self.target_kb = memory_mb * 1024
        self.online = vcpus
        self.max_vcpus = max_vcpus
        self.free_mb = free_mb
        self.alive = True
        self.calls: list[tuple] = []
        self.attach_error: str | None = None
        self.on_mem_set = lambda: None

    # XenStore, as the backend opens it: XenStore() as xs
    def __call__(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def ls(self, path: str) -> list[str]:
        if path == "/local/domain":
            return ["0", str(DOMID)] if self.alive else ["0"]
        if path == f"/local/domain/{DOMID}/cpu":
            return [str(n) for n in range(self.max_vcpus)]
        raise FileNotFoundError(path)

    def try_read(self, path: str) -> str | None:
        if not self.alive:
            return None
        base = f"/local/domain/{DOMID}"
        if path == f"{base}/name":
            return self.name
        if path == f"{base}/memory/target":
            return str(self.target_kb)
        if path.startswith(f"{base}/cpu/") and path.endswith("/availability"):
            n = int(path.split("/")[-2])
            return "online" if n < self.online else "offline"
        return None

    # xl, through edera_oci.xen.domain
    def free_memory_mb(self) -> int:
        self.calls.append(("info",))
        return self.free_mb

    def set_memory(self, domid: int, memory_mb: int) -> None:
        assert domid == DOMID
        self.calls.append(("mem-set", memory_mb))
        self.on_mem_set()
        self.free_mb -= memory_mb - self.target_kb // 1024
        self.target_kb = memory_mb * 1024

    def set_vcpus(self, domid: int, vcpus: int) -> None:
        assert domid == DOMID and vcpus <= self.max_vcpus
        self.calls.append(("vcpu-set", vcpus))
        self.online = vcpus

    def block_attach(self, domid: int, spec: str, timeout: float = 120) -> None:
        if self.attach_error:
            raise domain.DomainError(self.attach_error)
        self.calls.append(("block-attach",))

    def block_detach(self, domid: int, devid: int, timeout: float = 60) -> None:
        self.calls.append(("block-detach",))

    def resizes(self) -> list[tuple]:
        return [c for c in self.calls if c[0] in ("mem-set", "vcpu-set")]


class Pod:
    """A --root holding a running sandbox whose zone is the FakeXen's, and the monitors that
    the pod containers' creates started (plain processes, reporting ready at once)."""

    def __init__(self, tmp_path: Path, xen: FakeXen, size: pod.ZoneSize) -> None:
        self.base = tmp_path
        self.root = tmp_path / "root"
        self.xen = xen
        self.monitors: list[subprocess.Popen] = []
        self.pipes: list[int] = []
        self.recorded: dict[str, list[dict]] = {}
        sandbox_dir = self.root / SANDBOX
        sandbox_dir.mkdir(parents=True)
        self.write_state(SANDBOX, "running", {
            "domid": DOMID, "name": xen.name, "state_dir": str(sandbox_dir),
            "pod": {"role": "sandbox"}, **size.record()})

    def write_state(self, cid: str, status: str, zone: dict) -> None:
        (self.root / cid / "state.json").write_text(json.dumps(
            {"id": cid, "bundle": "/b", "status": status, "zone": zone}))

    def request(self, cid: str, resources: dict | None = None,
                mounts: list | None = None) -> CreateRequest:
        state_dir = self.root / cid
        state_dir.mkdir()
        rootfs = self.base / f"{cid}-rootfs"
        rootfs.mkdir()
        spec = Spec.from_dict({
            "ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"},
            "root": {"path": str(rootfs)},
            "annotations": {CRI_TYPE: "container", CRI_SANDBOX: SANDBOX},
            "linux": {"resources": resources or {}}, "mounts": mounts or []})
        self.recorded[cid] = []

        def record(zone: dict) -> None:  # as the lifecycle does: into state.json, at once
            self.recorded[cid].append(copy.deepcopy(zone))
            self.write_state(cid, "creating", zone)

        return CreateRequest(id=cid, bundle=str(self.base), spec=spec, state_dir=str(state_dir),
                             record_zone=record)

    def create(self, cid: str, resources: dict | None = None, mounts: list | None = None) -> dict:
        zone = zb.XenZoneBackend().create(self.request(cid, resources, mounts),
                                          lambda state: None)
        self.write_state(cid, "created", zone)
        return zone

    def delete(self, cid: str) -> None:
        raw = json.loads((self.root / cid / "state.json").read_text())
        zb.XenZoneBackend().destroy(ContainerState(
            id=cid, bundle="/b", rootfs="/r", created="", status="stopped", zone=raw["zone"]))
        for f in (self.root / cid).iterdir():
            f.unlink()
        (self.root / cid).rmdir()

    def close(self) -> None:
        for proc in self.monitors:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for fd in self.pipes:
            os.close(fd)


@pytest.fixture
def make_pod(tmp_path, monkeypatch):
    """make_pod(size, free_mb=...) -> Pod: a sandbox's running zone of that size, faked."""
    made: list[Pod] = []

    def make(size: pod.ZoneSize, free_mb: int = 4096) -> Pod:
        xen = FakeXen("edera-test-sb", size.memory_mb, size.vcpus, size.max_vcpus, free_mb)
        p = Pod(tmp_path, xen, size)
        made.append(p)
        monkeypatch.setattr(zb, "XenStore", xen)
        for fn in ("free_memory_mb", "set_memory", "set_vcpus", "block_attach",
                   "block_detach"):
            monkeypatch.setattr(domain, fn, getattr(xen, fn))

        def spawn(self, req, state_dir, netns, name, pod_sandbox_dir=None):
            report_r, report_w = os.pipe()
            go_r, go_w = os.pipe()
            os.write(report_w, b"ready\n")
            os.close(report_w)
            p.pipes.append(go_r)
            proc = subprocess.Popen(["sleep", "60"])
            p.monitors.append(proc)
            return proc, report_r, go_w

        monkeypatch.setattr(zb.XenZoneBackend, "_spawn_monitor", spawn)
        return p

    monkeypatch.setattr(zb, "DISK_ROOT", tmp_path / "disks")
    monkeypatch.setattr(zb, "CONSOLE_LOG_DIR", tmp_path / "console")
    monkeypatch.setattr(zb.hotplug, "block_script", lambda: tmp_path / "block-hotplug")
    monkeypatch.setattr(zb.disks, "make_ext4",
                        lambda source, image, label: image.write_bytes(b"ext4"))
    yield make
    for p in made:
        p.close()


POD = pod.ZoneSize(540, 2048, 1, 4)


def test_the_zone_grows_as_containers_join_and_shrinks_as_they_leave(make_pod) -> None:
    p = make_pod(POD)
    a = p.create("a", {"memory": {"limit": 64 * MiB}, "cpu": {"quota": 200000}})
    assert p.xen.resizes() == [("mem-set", 604), ("vcpu-set", 2)]
    # what it asked for and what it added, recorded in its state
    assert a["pod"]["demand"] == {"memory_mb": 64, "vcpus": 2}
    assert (a["pod"]["memory_added_mb"], a["pod"]["vcpus_added"]) == (64, 1)
    assert a["pod"]["zone_size"] == POD.record()
    # no limit: POD_CONTAINER_MEMORY_MB; no quota: the vCPUs stay
    b = p.create("b")
    assert p.xen.resizes()[2:] == [("mem-set", 604 + pod.POD_CONTAINER_MEMORY_MB)]
    assert b["pod"]["demand"] == {"memory_mb": pod.POD_CONTAINER_MEMORY_MB, "vcpus": 0}
    # a leaves: the zone is what b needs; b leaves: the zone's boot size
    p.delete("a")
    assert p.xen.resizes()[3:] == [("mem-set", 540 + pod.POD_CONTAINER_MEMORY_MB),
                                   ("vcpu-set", 1)]
    p.delete("b")
    assert p.xen.resizes()[5:] == [("mem-set", 540)]
    assert (p.xen.target_kb, p.xen.online) == (540 * 1024, 1)


def test_the_demand_is_recorded_before_the_zone_grows(make_pod) -> None:
    """A create killed right after the zone grew leaves a state that says so."""
    p = make_pod(POD)
    seen: list = []
    p.xen.on_mem_set = lambda: seen.append(
        json.loads((p.root / "a" / "state.json").read_text())["zone"]["pod"].get("demand"))
    p.create("a", {"memory": {"limit": 64 * MiB}})
    assert seen == [{"memory_mb": 64, "vcpus": 0}]


def test_the_zone_stops_at_its_maximum_and_says_so(make_pod, capsys) -> None:
    p = make_pod(pod.ZoneSize(540, 580, 1, 1))
    p.create("a", {"memory": {"limit": 64 * MiB}, "cpu": {"quota": 300000}})
    assert p.xen.resizes() == [("mem-set", 580)]
    err = capsys.readouterr().err
    assert "stops at its maximum of 580 MiB, 24 MiB short" in err
    assert "asks for 3 CPUs; the pod's zone has at most 1 vCPUs" in err
    p.delete("a")
    assert p.xen.resizes()[1:] == [("mem-set", 540)]


def test_containers_within_the_pods_limits_do_not_grow_it(make_pod) -> None:
    """The engine sent the pod's limits (300 MiB): the zone booted with them, so its
    containers' limits come out of them first."""
    p = make_pod(pod.ZoneSize(395, 2048, 3, 8, reserve_mb=300))
    p.create("a", {"memory": {"limit": 200 * MiB}})
    p.create("b", {"memory": {"limit": 100 * MiB}})
    assert p.xen.calls == [("block-attach",), ("block-attach",)]  # no xl for the size at all
    p.create("c", {"memory": {"limit": 50 * MiB}})
    assert p.xen.resizes() == [("mem-set", 445)]


def test_a_zone_made_before_zones_grew_is_joined_as_it_is(make_pod) -> None:
    p = make_pod(pod.ZoneSize(256, 256, 1, 1))
    p.create("a", {"memory": {"limit": 64 * MiB}, "cpu": {"quota": 200000}})
    p.delete("a")
    assert p.xen.resizes() == []


def test_xen_without_the_memory_fails_the_create_and_leaves_the_pod(make_pod) -> None:
    p = make_pod(POD, free_mb=10)
    p.create("a", {"memory": {"limit": 4 * MiB}})
    calls = list(p.xen.calls)
    with pytest.raises(ZoneError) as e:
        p.create("b", {"memory": {"limit": 64 * MiB}})
    assert str(e.value) == ('container "b": the pod\'s zone cannot grow by 64 MiB (to 608 '
                            "MiB): Xen has 6 MiB free")
    # nothing of b is left (its disks, its monitor); a and the zone are as they were
    assert p.xen.calls[len(calls):] == [("info",)]
    assert p.xen.target_kb == 544 * 1024
    assert not zb.disk_dir_of(p.root / "b").exists()
    assert len(p.monitors) == 1  # b's monitor was never started
    assert [c for c in p.xen.calls if c[0] == "block-attach"] == [("block-attach",)]


def test_a_create_failing_after_the_zone_grew_gives_it_back(make_pod) -> None:
    p = make_pod(POD)
    p.xen.attach_error = "xl block-attach failed: libxl: error: the test says no"
    with pytest.raises(ZoneError, match="attaching the container's disk xvdc"):
        p.create("a", {"memory": {"limit": 64 * MiB}, "cpu": {"quota": 200000}})
    assert p.xen.resizes() == [("mem-set", 604), ("vcpu-set", 2), ("mem-set", 540),
                               ("vcpu-set", 1)]
    assert (p.xen.target_kb, p.xen.online) == (540 * 1024, 1)
    assert p.monitors == []


@pytest.mark.parametrize("grown", [True, False], ids=["killed-after-growing",
                                                      "killed-before-growing"])
def test_delete_force_after_a_killed_create_gives_back_the_right_amount(make_pod,
                                                                       grown) -> None:
    """edera-oci killed in a member's create, before or after the zone grew: the state holds
    the demand (recorded first), and delete --force, once or twice, leaves the zone at what
    the other containers need."""
    p = make_pod(POD)
    p.create("a", {"memory": {"limit": 100 * MiB}})
    (p.root / "b").mkdir()
    p.write_state("b", "creating", {
        **zb.derived_zone(p.root / "b", "b"),
        "pod": {"role": "container", "sandbox_id": SANDBOX, "name": "b",
                "sandbox_state_dir": str(p.root / SANDBOX), "domid": DOMID,
                "zone_name": p.xen.name, "disks": [3], "demand": {"memory_mb": 64, "vcpus": 2},
                "zone_size": POD.record(), "memory_added_mb": 64, "vcpus_added": 1}})
    if grown:
        p.xen.set_memory(DOMID, 704)
        p.xen.set_vcpus(DOMID, 2)
    p.xen.calls.clear()
    raw = json.loads((p.root / "b" / "state.json").read_text())
    state = ContainerState(id="b", bundle="/b", rootfs="/r", created="", status="creating",
                           zone=raw["zone"])
    zb.XenZoneBackend().destroy(state)
    assert p.xen.resizes() == ([("mem-set", 640), ("vcpu-set", 1)] if grown else [])
    zb.XenZoneBackend().destroy(state)  # again: nothing more is given back
    assert (p.xen.target_kb, p.xen.online) == (640 * 1024, 1)
    assert len(p.xen.resizes()) == (2 if grown else 0)


def test_a_member_of_a_pod_whose_zone_is_gone_gives_nothing_back(make_pod) -> None:
    """The sandbox's end (its zone destroyed, then its members torn down): no xl call."""
    p = make_pod(POD)
    p.create("a", {"memory": {"limit": 64 * MiB}})
    p.xen.alive = False
    p.xen.calls.clear()
    p.delete("a")
    assert p.xen.calls == []


def test_a_failing_shrink_is_a_warning_and_the_next_create_fixes_the_size(make_pod,
                                                                       monkeypatch,
                                                                       capsys) -> None:
    p = make_pod(POD)
    p.create("a", {"memory": {"limit": 64 * MiB}})

    def refuse(domid, memory_mb):
        raise domain.DomainError("xl mem-set failed: libxl: error: no")

    monkeypatch.setattr(domain, "set_memory", refuse)
    p.delete("a")  # the container goes anyway
    assert "giving the container's memory and vCPUs back to its pod's zone" in \
        capsys.readouterr().err
    assert p.xen.target_kb == 604 * 1024
    monkeypatch.setattr(domain, "set_memory", p.xen.set_memory)
    p.create("b", {"memory": {"limit": 32 * MiB}})
    assert p.xen.target_kb == 572 * 1024  # the pod's size for b alone


def test_update_of_a_pod_container_resizes_its_pods_zone_then_writes_its_cgroup(
        make_pod, monkeypatch) -> None:
    """runc `update` of one container of a pod (the CRI's UpdateContainerResources): a new
    memory limit (or CPU quota) brings the pod's zone to what its containers now ask, as their
    creates did, and is recorded as the container's demand; then the limits go to its own
    cgroup (its monitor's UPDATE). Limits that ask nothing more of the zone resize nothing;
    a zone that refuses the limits gets its size back, and the error is the zone's."""
    p = make_pod(POD)
    p.create("a", {"memory": {"limit": 64 * MiB}})
    p.create("b", {"memory": {"limit": 32 * MiB}})
    sent: list = []
    refuse: list = []

    def request(self, state, op, **fields):
        if refuse:
            raise ZoneError("the zone refused the update: no")
        sent.append((state.id, op, fields.get("records")))
        return {"ok": True}

    monkeypatch.setattr(zb.XenZoneBackend, "_request", request)

    def state(cid: str) -> ContainerState:
        raw = json.loads((p.root / cid / "state.json").read_text())
        return ContainerState(id=cid, bundle="/b", rootfs="/r", created="", status="running",
                              zone=raw["zone"])

    a = state("a")
    p.xen.calls.clear()
    zb.XenZoneBackend().update(a, {"memory": {"limit": 128 * MiB}, "pids": {"limit": 30}})
    assert p.xen.resizes() == [("mem-set", 540 + 128 + 32)]
    assert a.zone["pod"]["demand"] == {"memory_mb": 128, "vcpus": 0}
    assert [(cid, op) for cid, op, _ in sent] == [("a", "update")]
    assert bytes.fromhex(sent[0][2]).count(b"pids.max") == 1
    p.write_state("a", "running", a.zone)  # as the lifecycle saves it
    # b's pids alone: its demand and the zone stay
    p.xen.calls.clear()
    b = state("b")
    zb.XenZoneBackend().update(b, {"pids": {"limit": 10}})
    assert p.xen.resizes() == [] and b.zone["pod"]["demand"]["memory_mb"] == 32
    # b asks for 2 CPUs: a vCPU is brought online, and a's new demand counts
    zb.XenZoneBackend().update(b, {"cpu": {"quota": 200000, "period": 100000}})
    assert p.xen.resizes() == [("vcpu-set", 2)]
    p.write_state("b", "running", b.zone)
    # a zone that refuses a's new limits: the zone goes back to a's recorded demand
    refuse.append(True)
    p.xen.calls.clear()
    with pytest.raises(ZoneError, match="refused"):
        zb.XenZoneBackend().update(a, {"memory": {"limit": 256 * MiB}})
    assert p.xen.resizes() == [("mem-set", 540 + 256 + 32), ("mem-set", 540 + 128 + 32)]
    assert a.zone["pod"]["demand"]["memory_mb"] == 128
