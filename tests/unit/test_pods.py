"""Pods on the host: which bundles make a pod's zone and which join one, the pod's size, the
records of a pod container, the missing-sandbox error, and the monitors of a sandbox and of a
pod container driving the real zone init (edera-init-host) over sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from edera_oci.errors import ZoneError
from edera_oci.lifecycle.backend import CreateRequest
from edera_oci.spec import Spec
from edera_oci.state import ContainerState, StateStore, process_start_time
from edera_oci.zone import pod
from edera_oci.zone import protocol as p
from edera_oci.zone.backend import XenZoneBackend
from edera_oci.zone.control import EXIT_STATUS_FILE

from .monitor_harness import HostInitZone, launch, make_monitor, sh, wait_for
from .test_zone_init import host_init, unit_run  # noqa: F401  (the built edera-init-host)

CRI = "io.kubernetes.cri.container-type"


@pytest.mark.parametrize("annotations, role", [
    ({CRI: "sandbox"}, pod.PodRole("sandbox")),
    ({"io.kubernetes.cri-o.ContainerType": "sandbox"}, pod.PodRole("sandbox")),
    ({CRI: "container", "io.kubernetes.cri.sandbox-id": "abc"}, pod.PodRole("container", "abc")),
    ({"io.kubernetes.cri-o.ContainerType": "container", "io.kubernetes.cri-o.SandboxID": "s1"},
     pod.PodRole("container", "s1")),
    ({}, None),  # docker, plain podman, ctr: a zone of its own
    ({"io.podman.annotations.autoremove": "FALSE"}, None),
])
def test_annotations_decide_sandbox_container_or_neither(annotations, role) -> None:
    assert pod.pod_role(annotations) == role


def test_a_container_type_without_a_sandbox_id_keeps_a_zone_of_its_own() -> None:
    assert pod.pod_role({CRI: "container"}) is None
    assert pod.pod_role({CRI: "container", "io.kubernetes.cri.sandbox-id": ""}) is None


def test_the_pods_zone_is_sized_from_the_sandbox_annotations(monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert pod.pod_size({}) == (pod.POD_MEMORY_MB, pod.POD_VCPUS)
    assert pod.pod_size({"io.kubernetes.cri.sandbox-memory": str(300 << 20),
                         "io.kubernetes.cri.sandbox-cpu-quota": "250000",
                         "io.kubernetes.cri.sandbox-cpu-period": "100000"}) == (364, 3)
    assert pod.pod_size({"io.kubernetes.cri.sandbox-memory": "0"})[0] == pod.POD_MEMORY_MB
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert pod.pod_size({"io.kubernetes.cri.sandbox-cpu-quota": "800000"})[1] == 2
    with pytest.raises(ZoneError, match="sandbox-memory: '-5'"):
        pod.pod_size({"io.kubernetes.cri.sandbox-memory": "-5"})


def test_pod_container_records_join_the_sandboxs_namespaces_and_use_its_disks() -> None:
    config = {
        "process": {"args": ["sh"], "cwd": "/"},
        "root": {"path": "rootfs"},
        "mounts": [{"destination": "/data", "type": "bind", "source": "/srv/x",
                    "options": ["rbind"]}],
        "linux": {"namespaces": [{"type": "mount"}, {"type": "network", "path": "/run/netns/x"},
                                 {"type": "ipc", "path": "/proc/9/ns/ipc"},
                                 {"type": "uts", "path": "/proc/9/ns/uts"}, {"type": "pid"}]},
    }
    records = p.decode_records(pod.pod_container_records(
        config, {0: "/run/edera/binds/pod-ctr1/0"}, "ctr1", 2, 3))
    values = [(tag, value.decode()) for tag, value in records]
    assert (p.Tag.ROOT_DISK, "xvdc\0ext4") in values
    assert (p.Tag.BINDS_DISK, "xvdd") in values
    assert (p.Tag.POD_NAME, "ctr1") in values
    assert sorted(v for t, v in values if t == p.Tag.POD_JOIN) == ["ipc", "uts"]
    assert sorted(v for t, v in values if t == p.Tag.NAMESPACE) == ["mount", "pid"]
    mount = next(v for t, v in values if t == p.Tag.MOUNT)
    assert mount.split("\0")[2] == "/run/edera/binds/pod-ctr1/0"  # where the zone has it
    shared = [(tag, value.decode()) for tag, value in p.decode_records(
        pod.pod_container_records(config, {0: "/run/edera/binds/pod-ctr1/0"}, "ctr1",
                                  "/run/edera/binds/pod-ctr1/root", None))]
    # a root in the pod's share: ROOT_BIND instead of ROOT_DISK, and no disk at all
    assert (p.Tag.ROOT_BIND, "/run/edera/binds/pod-ctr1/root") in shared
    assert not {p.Tag.ROOT_DISK, p.Tag.BINDS_DISK} & {tag for tag, _ in shared}


def test_pod_names_and_disk_slots() -> None:
    assert pod.pod_name("a" * 64) == "a" * 64
    assert len(pod.pod_name("x" * 100)) == 32 and pod.pod_name(".hidden") != ".hidden"
    assert pod.vdev_name(2) == "xvdc" and pod.devid(2) == 51744
    assert pod.free_disk_indexes({51712, 51728, 51744}, 2) == [3, 4]
    with pytest.raises(ZoneError, match="no free disk slot"):
        pod.free_disk_indexes({pod.devid(i) for i in range(pod.MAX_DISKS)}, 1)


def _write_state(root: Path, cid: str, status: str, zone: dict | None, **more) -> Path:
    d = root / cid
    d.mkdir(parents=True)
    (d / "state.json").write_text(json.dumps({"id": cid, "status": status, "zone": zone,
                                              **more}))
    return d


def test_a_container_whose_sandbox_is_gone_fails_create_and_leaves_nothing(tmp_path) -> None:
    root = tmp_path / "root"
    state_dir = root / "ctr"
    state_dir.mkdir(parents=True)
    spec = Spec.from_dict({
        "ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"},
        "root": {"path": str(tmp_path / "rootfs")},
        "annotations": {CRI: "container", "io.kubernetes.cri.sandbox-id": "gone"}})
    req = CreateRequest(id="ctr", bundle=str(tmp_path), spec=spec, state_dir=str(state_dir))
    hooks: list = []
    with pytest.raises(ZoneError) as e:
        XenZoneBackend().create(req, hooks.append)
    assert str(e.value) == (f'container "ctr": its pod sandbox "gone" (io.kubernetes.cri.'
                            f"sandbox-id) does not exist (under {root}): the pod is gone or "
                            "was not created by edera-oci")
    assert hooks == [] and list(state_dir.iterdir()) == []


def test_a_sandbox_that_stopped_or_is_a_pod_container_is_refused(tmp_path) -> None:
    root = tmp_path / "root"
    zone = {"pod": {"role": "sandbox"}, "domid": 3, "name": "edera-x-s", "state_dir": "x"}
    _write_state(root, "stopped", "stopped", zone)
    _write_state(root, "member", "running", {"pod": {"role": "container", "sandbox_id": "ok"},
                                             "domid": 3, "name": "edera-x-m"})
    _write_state(root, "nozone", "running", None)
    _write_state(root, "ok", "running", zone)
    with pytest.raises(ZoneError, match='pod sandbox "stopped" .* is stopped'):
        pod.sandbox_zone(root / "c", "c", "stopped")
    with pytest.raises(ZoneError, match='runs in the zone of its own pod sandbox "ok": a pod '
                                        "container has no zone to join"):
        pod.sandbox_zone(root / "c", "c", "member")
    with pytest.raises(ZoneError, match="is not a container of edera-oci"):
        pod.sandbox_zone(root / "c", "c", "nozone")
    with pytest.raises(ZoneError, match="is not a container id"):
        pod.sandbox_zone(root / "c", "c", "../ok")
    assert pod.sandbox_zone(root / "c", "c", "ok")["domid"] == 3


def test_a_single_containers_zone_can_be_joined(tmp_path) -> None:
    """podman's infra container is an ordinary bundle: its zone, which no annotation marked as
    a pod's, is joined by the pod's containers all the same."""
    root = tmp_path / "root"
    _write_state(root, "infra", "running", {"domid": 4, "name": "edera-x-i", "state_dir": "i"})
    assert pod.sandbox_zone(root / "c", "c", "infra", "io.kubernetes.cri-o.SandboxID") == {
        "domid": 4, "name": "edera-x-i", "state_dir": "i"}
    with pytest.raises(ZoneError, match=r'pod sandbox "gone" \(io.kubernetes.cri-o.SandboxID\) '
                                        "does not exist"):
        pod.sandbox_zone(root / "c", "c", "gone", "io.kubernetes.cri-o.SandboxID")


def test_members_are_the_containers_of_that_sandbox(tmp_path) -> None:
    _write_state(tmp_path, "s", "running", {"pod": {"role": "sandbox"}})
    _write_state(tmp_path, "a", "running", {"pod": {"role": "container", "sandbox_id": "s"}})
    _write_state(tmp_path, "b", "stopped", {"pod": {"role": "container", "sandbox_id": "t"}})
    _write_state(tmp_path, "c", "running", {"domid": 1})
    assert [m for m, _ in pod.members(tmp_path, "s")] == ["a"]


# -- pod containers found by their namespace paths (podman's --pod, --ipc container:X) ---------

ME = os.getpid()  # a live process standing for a container's monitor


def _ns_config(*namespaces: dict) -> dict:
    return {"process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"},
            "linux": {"namespaces": list(namespaces)}}


def _podman_member(pid: int = ME) -> dict:
    """What podman 4.3 gives a container of a pod sharing ipc, net and uts (namespacePath)."""
    return _ns_config({"type": "pid"}, {"type": "network", "path": f"/proc/{pid}/ns/net"},
                      {"type": "ipc", "path": f"/proc/{pid}/ns/ipc"},
                      {"type": "uts", "path": f"/proc/{pid}/ns/uts"},
                      {"type": "mount"}, {"type": "cgroup"})


@pytest.fixture
def infra_root(tmp_path) -> Path:
    """A root holding "infra", created and running, whose reported pid (its monitor's) is ME."""
    root = tmp_path / "root"
    _write_state(root, "infra", "running", {"domid": 4, "name": "edera-x-infra"}, pid=ME,
                 pid_start=process_start_time(ME))
    return root


def test_namespace_paths_into_a_running_container_of_ours_make_a_pod_container(infra_root):
    role = pod.namespace_owner(_podman_member(), infra_root, "web")
    assert role == pod.PodRole("container", "infra")
    assert role.join == {"ipc", "uts"}
    assert role.named_by in (f"linux.namespaces[ipc].path /proc/{ME}/ns/ipc",
                             f"linux.namespaces[uts].path /proc/{ME}/ns/uts")
    # --pid container:X too, and a created (not yet started) container is one to join
    (infra_root / "infra" / "state.json").write_text(json.dumps({
        "id": "infra", "status": "created", "zone": {}, "pid": ME,
        "pid_start": process_start_time(ME)}))
    role = pod.namespace_owner(_ns_config({"type": "pid", "path": f"/proc/{ME}/ns/pid"}),
                               infra_root, "top")
    assert role == pod.PodRole("container", "infra") and role.join == {"pid"}


def test_a_pid_that_is_no_container_of_ours_is_todays_rule(infra_root, tmp_path):
    other = subprocess.Popen(["sleep", "30"])
    try:
        assert pod.namespace_owner(_podman_member(other.pid), infra_root, "web") is None
    finally:
        other.kill()
        other.wait()
    # another --root's container is not this one's
    assert pod.namespace_owner(_podman_member(), tmp_path / "elsewhere", "web") is None
    # the container itself (its own pid, its own id) is skipped
    assert pod.namespace_owner(_podman_member(), infra_root, "infra") is None


@pytest.mark.parametrize("status, pid_start", [
    ("stopped", None),  # recorded stopped
    ("running", -1),  # its monitor is gone and the pid is another process's now
    ("creating", None),  # not yet there
])
def test_a_stopped_containers_pid_is_todays_rule(tmp_path, status, pid_start) -> None:
    root = tmp_path / "root"
    start = process_start_time(ME) if pid_start is None else pid_start
    _write_state(root, "infra", status, {"domid": 4, "name": "n"}, pid=ME, pid_start=start)
    assert pod.namespace_owner(_podman_member(), root, "web") is None


@pytest.mark.parametrize("namespaces", [
    [{"type": "ipc", "path": "/run/ipcns/x"}],  # not under /proc
    [{"type": "ipc", "path": "/proc/self/ns/ipc"}],
    [{"type": "ipc", "path": f"/proc/{ME}/ns/uts"}],  # another type than the entry's
    [{"type": "ipc", "path": f"/proc/0{ME}/ns/ipc"}],
    [{"type": "ipc", "path": f"/proc/{ME}/ns/ipc/"}],
    [{"type": "ipc", "path": f"/proc/{ME}/task/{ME}/ns/ipc"}],
    [{"type": "mount", "path": f"/proc/{ME}/ns/mnt"}],  # a type a pod container cannot share
    [{"type": "cgroup", "path": f"/proc/{ME}/ns/cgroup"}],
    [{"type": "network", "path": f"/proc/{ME}/ns/net"}],  # the network alone: not a pod's
    [{"type": "ipc"}, {"type": "uts"}],  # no path at all
], ids=["netns-dir", "self", "other-type", "leading-zero", "trailing-slash", "task", "mount",
        "cgroup", "network-only", "no-path"])
def test_a_path_that_is_not_a_containers_shared_namespace_is_todays_rule(infra_root,
                                                                        namespaces) -> None:
    assert pod.namespace_owner(_ns_config(*namespaces), infra_root, "web") is None


def test_a_pod_container_has_the_pods_network_or_a_zone_of_its_own(infra_root, capsys):
    """The zone's network is its first container's: a bundle sharing its IPC namespace but with
    a network of its own (docker's --ipc container:X on a bridge) is not joined to it."""
    ipc = {"type": "ipc", "path": f"/proc/{ME}/ns/ipc"}
    own_net = _ns_config(ipc, {"type": "network"})
    assert pod.namespace_owner(own_net, infra_root, "web") is None
    assert (f'/proc/{ME}/ns/ipc name namespaces of container "infra", whose network namespace '
            "this one does not share") in capsys.readouterr().err
    # no network entry: the runtime's own namespace, which this process (the "infra") is in
    assert pod.namespace_owner(_ns_config(ipc), infra_root, "web") == \
        pod.PodRole("container", "infra")
    # the same namespace under another name (a bind mount of it, as /run/netns/<name> is)
    same = _ns_config(ipc, {"type": "network", "path": "/proc/self/ns/net"})
    assert pod.namespace_owner(same, infra_root, "web") == pod.PodRole("container", "infra")
    gone = _ns_config(ipc, {"type": "network", "path": "/run/netns/no-such-namespace"})
    assert pod.namespace_owner(gone, infra_root, "web") is None


def test_namespaces_of_two_zones_cannot_both_be_joined(infra_root) -> None:
    other = subprocess.Popen(["sleep", "30"])
    try:
        _write_state(infra_root, "other", "running", {"domid": 5, "name": "n"}, pid=other.pid,
                     pid_start=process_start_time(other.pid))
        config = _ns_config({"type": "ipc", "path": f"/proc/{ME}/ns/ipc"},
                            {"type": "uts", "path": f"/proc/{other.pid}/ns/uts"})
        with pytest.raises(ZoneError, match=r'namespaces of containers in different zones: '
                                            rf'/proc/{ME}/ns/ipc \(container "infra"\); '
                                            rf'/proc/{other.pid}/ns/uts \(container "other"\)'):
            pod.namespace_owner(config, infra_root, "web")
    finally:
        other.kill()
        other.wait()


def test_a_namespace_path_member_joins_only_what_it_shares() -> None:
    """A member found by its paths shares the namespaces that pointed at its sandbox; another
    path (a host namespace's) gets a new namespace, as in a zone of its own."""
    config = _ns_config({"type": "ipc", "path": "/proc/7/ns/ipc"},
                        {"type": "uts", "path": "/proc/1/ns/uts"}, {"type": "mount"})
    records = p.decode_records(pod.pod_container_records(config, {}, "web", 2, None,
                                                         frozenset({"ipc"})))
    values = [(tag, value.decode()) for tag, value in records]
    assert [v for t, v in values if t == p.Tag.POD_JOIN] == ["ipc"]
    assert sorted(v for t, v in values if t == p.Tag.NAMESPACE) == ["mount", "uts"]


class _CreateStopsAtThePod(Exception):
    pass


def _create_role(tmp_path: Path, root: Path, config: dict, monkeypatch) -> pod.PodRole | None:
    """The role XenZoneBackend.create gives the bundle: the pod branch is caught as it is taken
    (a plain create would go on to need Xen; find_zone_image stops it first)."""
    seen: list = []

    def in_pod(self, req, run_hooks, role):
        seen.append(role)
        raise _CreateStopsAtThePod

    def no_image():
        seen.append(None)
        raise _CreateStopsAtThePod

    monkeypatch.setattr(XenZoneBackend, "_create_in_pod", in_pod)
    monkeypatch.setattr("edera_oci.zone.backend.find_zone_image", no_image)
    state_dir = root / "web"
    state_dir.mkdir(parents=True)
    spec = Spec.from_dict({"ociVersion": "1.0.2", **config,
                           "root": {"path": str(tmp_path / "rootfs")}})
    req = CreateRequest(id="web", bundle=str(tmp_path), spec=spec, state_dir=str(state_dir))
    with pytest.raises(_CreateStopsAtThePod):
        XenZoneBackend().create(req, lambda _st: None)
    return seen[0]


def test_create_takes_a_podman_pod_container_into_its_infras_zone(infra_root, tmp_path,
                                                                  monkeypatch) -> None:
    role = _create_role(tmp_path, infra_root, _podman_member(), monkeypatch)
    assert role == pod.PodRole("container", "infra") and role.join == {"ipc", "uts"}


def test_create_reads_the_annotations_first(infra_root, tmp_path, monkeypatch) -> None:
    """podman 4.3 also names the infra in CRI-O's annotations (for Kata): the same sandbox."""
    config = {**_podman_member(), "annotations": {
        "io.kubernetes.cri-o.ContainerType": "container",
        "io.kubernetes.cri-o.SandboxID": "infra"}}
    role = _create_role(tmp_path, infra_root, config, monkeypatch)
    assert role == pod.PodRole("container", "infra")
    assert role.named_by == "io.kubernetes.cri-o.SandboxID" and role.join is None


def test_create_of_a_container_sharing_nothing_builds_a_zone(infra_root, tmp_path,
                                                             monkeypatch) -> None:
    config = _ns_config({"type": "ipc"}, {"type": "network", "path": "/proc/self/ns/net"})
    assert _create_role(tmp_path, infra_root, config, monkeypatch) is None


def test_the_end_of_a_single_containers_zone_ends_the_containers_that_joined_it(
        tmp_path, monkeypatch) -> None:
    """delete of podman's infra (a zone no annotation marked as a pod's) tears down and
    forgets every container of its pod, as a Kubernetes sandbox's does; those of another pod
    stay."""
    root = tmp_path / "root"
    store = StateStore(str(root))
    for cid, zone in (("infra", {}), ("web", {"pod": {"role": "container",
                                                      "sandbox_id": "infra"}}),
                      ("other", {"pod": {"role": "container", "sandbox_id": "elsewhere"}})):
        with store.claim(cid) as state_dir:
            store.save(ContainerState(id=cid, bundle="/b", rootfs="/b/rootfs", created="",
                                      status="running",
                                      zone={**zone, "state_dir": state_dir}))
    torn: list = []
    monkeypatch.setattr(XenZoneBackend, "_teardown",
                        lambda self, zone, clock=None: torn.append(zone["state_dir"]))
    XenZoneBackend().destroy(store.load("infra"))
    assert torn == [str(root / "infra"), str(root / "web")]
    assert not (root / "web").exists() and (root / "other").exists()


# -- the monitors of a pod against the zone init built for the host ---------------------------

@pytest.fixture
def pod_zone(host_init: Path, tmp_path: Path):  # noqa: F811
    zone = HostInitZone(host_init, tmp_path / "zone")
    runs: list = []
    yield zone, runs
    zone.close()
    for r in runs:
        r.cleanup()


def _pod_container_records(name: str, script: str) -> bytes:
    return p.encode_records([(p.Tag.POD_NAME, name), (p.Tag.ROOT_DISK, ["xvdc", "ext4"])]) + \
        sh(script)


def _booted(run):
    assert run.booted.wait(15), run.log()
    assert run.boot_error is None, f"{run.boot_error}\n{run.log()}"
    return run


def test_sandbox_and_pod_container_monitors_share_one_zone(pod_zone, tmp_path) -> None:
    """The sandbox's monitor boots the zone; a pod container's monitor gets its channel through
    the sandbox's (CONTAINER), runs its own lifecycle on it, and reports its own exit status;
    killing it leaves the sandbox running; the sandbox's end ends the pod's other container."""
    zone, runs = pod_zone
    sandbox = make_monitor(tmp_path, zone, records=sh("echo pause; while :; do sleep 0.1; done"),
                           name="sandbox")
    runs.append(sandbox)
    _booted(launch(sandbox))
    sandbox.request("start")
    wait_for(lambda: sandbox.stdout() == b"pause\n", what="the sandbox's output")

    def pod_container(name: str, script: str):
        run = make_monitor(tmp_path, zone, records=_pod_container_records(name, script),
                           name=name)
        run.mon.pod_sandbox_dir = sandbox.state_dir
        runs.append(run)
        return _booted(launch(run))

    a = pod_container("a", "echo a-says-hi; while :; do sleep 0.1; done")
    b = pod_container("b", "echo b-says-hi; while :; do sleep 0.1; done")
    assert a.request("start")["ok"] and b.request("start")["ok"]
    wait_for(lambda: a.stdout() == b"a-says-hi\n", what="a's output")
    wait_for(lambda: b.stdout() == b"b-says-hi\n", what="b's output")
    assert sandbox.stdout() == b"pause\n"  # each container's output to its own monitor
    a.request("signal", signo=signal.SIGKILL)
    assert a.wait() == 137
    assert (a.state_dir / EXIT_STATUS_FILE).read_text() == "137\n"
    assert sandbox.request("ping") == {"ok": True, "started": True}
    assert b.request("ping") == {"ok": True, "started": True}
    # A pod container killed before its start ends alone, not the pod's zone.
    c = pod_container("c", "echo never")
    c.request("signal", signo=signal.SIGTERM)
    assert c.wait() == 143 and c.stdout() == b"" and not zone.destroyed
    sandbox.request("signal", signo=signal.SIGKILL)
    assert sandbox.wait() == 137
    assert b.wait() == 137
    assert (b.state_dir / EXIT_STATUS_FILE).read_text() == "137\n"


def test_a_pod_container_monitor_without_its_sandbox_fails_to_boot(pod_zone, tmp_path) -> None:
    zone, runs = pod_zone
    run = make_monitor(tmp_path, zone, records=_pod_container_records("a", "true"), name="a")
    run.mon.pod_sandbox_dir = tmp_path / "no-sandbox-monitor-here"
    run.mon.pod_sandbox_dir.mkdir()
    runs.append(run)
    launch(run)
    assert run.booted.wait(15)
    assert "the pod's sandbox: the container's monitor is not running" in str(run.boot_error)
    assert not zone.destroyed


def test_each_pod_container_has_its_own_seccomp_filter(
        pod_zone, tmp_path) -> None:
    """linux.seccomp is per container: a pod container gets the filter of its own config (none
    without one), not the sandbox's."""
    from edera_oci.zone.seccomp import seccomp_records

    zone, runs = pod_zone
    deny_uname = seccomp_records({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]})
    status = "grep Seccomp: /proc/self/status | tr -d ' \\t'; "
    idle = "while :; do sleep 0.1; done"
    sandbox = make_monitor(tmp_path, zone, name="sandbox", records=(
        sh(status + idle) + p.encode_records(deny_uname)))
    runs.append(sandbox)
    _booted(launch(sandbox))
    sandbox.request("start")
    wait_for(lambda: sandbox.stdout() == b"Seccomp:2\n", what="the sandbox's output")

    def pod_container(name: str, extra: list) -> object:
        run = make_monitor(tmp_path, zone, name=name, records=(
            _pod_container_records(name, status + idle) + p.encode_records(extra)))
        run.mon.pod_sandbox_dir = sandbox.state_dir
        runs.append(run)
        _booted(launch(run))
        assert run.request("start")["ok"]
        return run

    plain = pod_container("plain", [])
    filtered = pod_container("filtered", deny_uname)
    wait_for(lambda: plain.stdout() == b"Seccomp:0\n", what="the unfiltered container's output")
    wait_for(lambda: filtered.stdout() == b"Seccomp:2\n", what="the filtered one's output")
    for run in (plain, filtered):
        run.request("signal", signo=signal.SIGKILL)
        assert run.wait() == 137
    sandbox.request("signal", signo=signal.SIGKILL)
    assert sandbox.wait() == 137
