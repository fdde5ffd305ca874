"""Teardown and status of the Xen backend where no Xen is needed to tell right from wrong.

The backend's teardown kills processes and asks XenStore; these tests give it an unrelated
process that reuses a recorded pid, a XenStore socket that refuses, a corrupt state file and
a create stopped by a signal, and check that it neither harms what is not its own nor takes
"cannot tell" for "stopped".
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from edera_oci.errors import EderaError, NotFound, ZoneError
from edera_oci.lifecycle import container_state as cs
from edera_oci.lifecycle.backend import TEST_DIE_AT_PHASE
from edera_oci.lifecycle.common import Runtime
from edera_oci.lifecycle.container_create import Interrupted, create
from edera_oci.lifecycle.container_delete import delete
from edera_oci.state import ContainerState, StateStore, process_start_time
from edera_oci.zone import backend as zb
from tests.unit.conftest import tree


@pytest.fixture
def bystander():
    """A process that is not the runtime's: what a reused pid points at."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def test_teardown_does_not_kill_a_process_that_reused_the_monitors_pid(bystander):
    """The recorded start time differs: the pid now belongs to someone else."""
    start = process_start_time(bystander.pid)
    st = ContainerState(id="c", bundle="/b", rootfs="/b/rootfs", created="", status="running",
                        pid=bystander.pid, pid_start=start + 1,
                        zone={"monitor_pid": bystander.pid})
    backend = zb.XenZoneBackend()
    backend.destroy(st)
    assert backend.pids(st) == []
    time.sleep(0.1)
    assert bystander.poll() is None, "teardown killed a process that was not its monitor"


def test_teardown_kills_its_own_monitor(bystander):
    start = process_start_time(bystander.pid)
    zone = {"monitor_pid": bystander.pid, "monitor_start": start}
    st = ContainerState(id="c", bundle="/b", rootfs="/b/rootfs", created="", status="running",
                        pid=bystander.pid, pid_start=start, zone=zone)
    assert zb.XenZoneBackend().pids(st) == [bystander.pid]
    zb.XenZoneBackend().destroy(st)
    assert bystander.wait(timeout=5) == -9


@pytest.fixture
def dead_xenstored(tmp_path, monkeypatch):
    """XENSTORED_PATH at a socket nobody listens on: xenstored cannot answer."""
    path = tmp_path / "xenstored.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))  # bound, never listening: connect() is refused
    monkeypatch.setenv("XENSTORED_PATH", str(path))
    yield path
    sock.close()


@pytest.fixture
def running_container(tmp_path, bystander):
    """A container recorded running, its monitor (the bystander) alive."""
    root = tmp_path / "root"
    store = StateStore(str(root))
    with store.claim("c") as state_dir:
        store.save(ContainerState(
            id="c", bundle="/b", rootfs="/b/rootfs", created="", status="running",
            pid=bystander.pid, pid_start=process_start_time(bystander.pid),
            zone={"monitor_pid": bystander.pid, "domid": 5, "state_dir": state_dir,
                  "name": zb.domain_name(state_dir, "c")}))
    return root


def test_cannot_tell_is_never_stopped(running_container, dead_xenstored, bystander):
    """With xenstored refusing, state is an error (not "stopped"), and delete refuses,
    keeping the container and its monitor."""
    root = running_container
    rt = Runtime(str(root), backend=zb.XenZoneBackend())
    with pytest.raises(ZoneError, match="cannot tell"):
        cs.container_state(str(root), "c")
    with pytest.raises(ZoneError, match="cannot tell"):
        delete(rt, "c")
    assert (root / "c" / "state.json").exists()
    assert bystander.poll() is None


def test_delete_force_that_cannot_tell_fails_and_keeps_the_state(
        running_container, dead_xenstored, monkeypatch):
    """delete --force that cannot make sure the domain is gone fails and keeps the state."""
    monkeypatch.setattr(zb, "SIGKILL_GRACE", 0.2)
    rt = Runtime(str(running_container), backend=zb.XenZoneBackend())
    with pytest.raises(ZoneError, match="cannot tell whether zone .* still runs"):
        delete(rt, "c", force=True)
    assert (running_container / "c" / "state.json").exists()


class LiveDomainXenStore:
    """XenStore that shows the zone's domain alive, whatever is done to it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def ls(self, path: str) -> list[str]:
        return ["0", "5"]

    def try_read(self, path: str) -> str | None:
        return self.name if path == "/local/domain/5/name" else None


def test_a_failing_xl_destroy_fails_delete_and_keeps_the_state(running_container, monkeypatch,
                                                                bystander):
    """xl destroy fails and the domain is still there: delete fails, the state stays (and
    delete can be tried again), rather than reporting success over a live domain."""
    raw = json.loads((running_container / "c" / "state.json").read_text())
    monkeypatch.setattr(zb, "XenStore", lambda: LiveDomainXenStore(raw["zone"]["name"]))

    def failing_destroy(domid: int) -> None:
        raise zb.domain.DomainError("xl destroy failed: libxl: error")

    monkeypatch.setattr(zb.domain, "destroy", failing_destroy)
    monkeypatch.setattr(zb, "SIGKILL_GRACE", 0.2)
    monkeypatch.setattr(zb, "DESTROY_SETTLE", 0.3)
    monkeypatch.setattr(cs, "light_status", lambda raw: "running")
    rt = Runtime(str(running_container), backend=zb.XenZoneBackend())
    with pytest.raises(ZoneError, match="destroying zone .* failed.*kept"):
        delete(rt, "c", force=True)
    assert (running_container / "c" / "state.json").exists()


def test_state_never_shows_a_transient_stopped_while_create_finishes(tmp_path, monkeypatch):
    """state read `creating`; before it looks at the lock, create saves `created` and lets
    the lock go. The answer is what create wrote last, not "stopped"."""
    root = tmp_path / "root"
    store = StateStore(str(root))
    me = os.getpid()
    st = ContainerState(id="c", bundle="/b", rootfs="/b/rootfs", created="", status="creating",
                        pid=me, pid_start=process_start_time(me))
    with store.claim("c"):
        store.save(st)

    def create_finishes_meanwhile(_root: str, _id: str) -> bool:
        st.status = "created"
        st.zone = {"domid": 1, "name": "n"}
        store.save(st)
        return False  # the lock is free now

    monkeypatch.setattr(cs, "lock_busy", create_finishes_meanwhile)
    monkeypatch.setattr(cs, "light_status", lambda raw: raw["status"])
    assert cs.container_state(str(root), "c")["status"] == "created"


def test_a_create_gone_before_it_finished_reads_stopped(tmp_path):
    """No create holds the lock and the record still says creating: that create died."""
    root = tmp_path / "root"
    store = StateStore(str(root))
    with store.claim("c"):
        store.save(ContainerState(id="c", bundle="/b", rootfs="/b/rootfs", created="",
                                  status="creating"))
    assert cs.container_state(str(root), "c")["status"] == "stopped"


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"id": "other"}', b"\xff\xfe",
                                     b'{"id": "c", "zone": 7}'])
def test_delete_force_tears_down_a_container_whose_state_is_corrupt(rt, fake, root, content):
    """delete --force goes on from the names derived from --root and the id; plain delete
    refuses with a message and no traceback."""
    store = rt.store
    with store.claim("c"):
        pass
    (root / "c" / "state.json").write_bytes(content)
    with pytest.raises(EderaError):
        delete(rt, "c")
    delete(rt, "c", force=True)
    assert fake.destroyed == ["c"]
    assert tree(root) == []


def test_delete_force_of_an_unknown_id_succeeds_and_sweeps_its_names(rt, root, monkeypatch):
    """runc exits 0; what a container of that id would have left is swept, under a claim
    of the id that leaves nothing behind."""
    swept = []
    rt._backend.sweep = lambda state_dir, cid: swept.append((state_dir, cid))
    root.mkdir()
    delete(rt, "ghost", force=True)
    assert swept == [(str(root / "ghost"), "ghost")]
    assert tree(root) == []
    with pytest.raises(NotFound):
        delete(rt, "ghost")


def test_delete_force_of_an_id_that_left_nothing_claims_nothing(rt, root):
    """An engine deletes each container of a pod again after the pod's end removed it. With
    no trace of the id in dom0 there is nothing to sweep and no claim is made: a claim held
    through a sweep that the engine cuts off was a state directory left holding `.lock` (the
    CRI lab test in CI)."""
    seen = []
    rt._backend.left_traces = lambda state_dir, cid: seen.append(os.path.isdir(state_dir))
    rt._backend.sweep = lambda state_dir, cid: pytest.fail("swept an id that left nothing")
    root.mkdir()
    delete(rt, "ghost", force=True)
    assert seen == [False]
    assert tree(root) == []


def test_a_directory_without_state_is_swept_by_delete_force(rt, root):
    """A delete --force cut off in its sweep leaves its claim (a directory without state):
    the next delete --force sweeps again before removing it."""
    swept = []
    rt._backend.sweep = lambda state_dir, cid: swept.append(cid)
    with rt.store.claim("half"):
        pass
    delete(rt, "half", force=True)
    assert swept == ["half"]
    assert tree(root) == []


@pytest.mark.parametrize("phase", ["1:TERM", "claimed:INT", "1:HUP"])
def test_a_signal_to_create_tears_down_like_an_error(rt, fake, root, make_bundle, phase,
                                                     monkeypatch):
    """SIGTERM, SIGINT and SIGHUP to create undo what it made, as an error does."""
    monkeypatch.setenv(TEST_DIE_AT_PHASE, phase)
    with pytest.raises(Interrupted, match="interrupted by SIG"):
        create(rt, "c", str(make_bundle()))
    assert tree(root) == []
    monkeypatch.delenv(TEST_DIE_AT_PHASE)
    create(rt, "c", str(make_bundle()))  # the id can be created again


def test_a_signal_during_the_zone_build_tears_the_zone_down(rt, fake, root, make_bundle,
                                                             monkeypatch):
    """The fake backend runs the hooks: a SIGTERM there reaches its cleanup."""
    monkeypatch.setenv(TEST_DIE_AT_PHASE, "ready:TERM")
    with pytest.raises(Interrupted):
        create(rt, "c", str(make_bundle()))
    assert fake.destroyed == ["c"]
    assert tree(root) == []


def test_zone_names_are_unique_per_root_and_derive_from_the_state_dir(tmp_path):
    a = zb.derived_zone(str(tmp_path / "r1" / "c"), "c")
    b = zb.derived_zone(str(tmp_path / "r2" / "c"), "c")
    assert a["name"] != b["name"] and a["name"].endswith("-c")
    assert a["disk_dir"] != b["disk_dir"]
    assert os.path.basename(a["disk_dir"]).startswith(zb.boot_id() + "-")


def test_disk_dirs_of_an_earlier_boot_are_swept(tmp_path, monkeypatch):
    monkeypatch.setattr(zb, "DISK_ROOT", tmp_path / "disks")
    monkeypatch.setattr(zb, "CONSOLE_LOG_DIR", tmp_path / "console")
    (tmp_path / "console").mkdir()
    old = tmp_path / "disks" / "0123456789ab-deadbeef"
    now = tmp_path / "disks" / f"{zb.boot_id()}-cafe"
    old.mkdir(parents=True)
    now.mkdir()
    stale_log = tmp_path / "console" / "guest-edera-x-c.log"
    stale_log.write_text("old")
    os.utime(stale_log, (1, 1))
    fresh_log = tmp_path / "console" / "guest-edera-x-d.log"
    fresh_log.write_text("new")
    assert sorted(zb.sweep_previous_boots()) == sorted([str(old), str(stale_log)])
    assert now.is_dir() and fresh_log.exists()


def test_monitors_are_found_by_their_state_dir(tmp_path):
    """With state.json lost, teardown finds the monitor by its argv."""
    state_dir = tmp_path / "root" / "c"
    proc = subprocess.Popen(["python3", "-c", "import time; time.sleep(60)",
                             "edera_oci.zone.monitor", "--state-dir", str(state_dir)])
    try:
        time.sleep(0.2)
        assert [pid for pid, _ in zb.monitors_of(str(state_dir))] == [proc.pid]
        zb.XenZoneBackend()._stop_monitor({"state_dir": str(state_dir)})
        assert proc.wait(timeout=5) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_state_records_the_zone_before_each_side_effect(rt, root, make_bundle, fake):
    """record_zone reaches state.json while create is still going on (write-ahead)."""
    seen = []
    real_create = fake.create

    def create_recording(req, run_hooks):
        req.record_zone({"name": "edera-x-c", "disk_dir": "/d"})
        seen.append(json.loads((root / "c" / "state.json").read_text())["zone"])
        return real_create(req, run_hooks)

    fake.create = create_recording
    create(rt, "c", str(make_bundle()))
    assert seen == [{"name": "edera-x-c", "disk_dir": "/d"}]


def test_sigkill_is_enforced_when_the_zone_does_not_report_it(tmp_path, bystander,
                                                               monkeypatch):
    """A monitor that does not end (its zone ignores the kill): after the grace, dom0
    destroys the domain, records 137 and kills the monitor; kill returns after that."""
    monkeypatch.setattr(zb, "SIGKILL_GRACE", 0.3)
    order = []
    monkeypatch.setattr(zb.XenZoneBackend, "_destroy_domain",
                        lambda self, zone: order.append(("destroy", bystander.poll())))
    state_dir = tmp_path / "c"
    state_dir.mkdir()
    start = process_start_time(bystander.pid)
    st = ContainerState(id="c", bundle="/b", rootfs="/b/rootfs", created="", status="running",
                        pid=bystander.pid, pid_start=start,
                        zone={"monitor_pid": bystander.pid, "monitor_start": start,
                              "state_dir": str(state_dir), "name": "edera-x-c", "domid": 5})
    zb.XenZoneBackend().signal(st, 9, True)
    assert order == [("destroy", None)]  # the domain went first, the monitor still alive
    assert bystander.poll() == -9
    assert (state_dir / "exit-status").read_text() == "137\n"


def test_orphans_are_what_no_container_under_the_root_owns(tmp_path, monkeypatch):
    """A domain named after this root and an id with no state, a disk directory whose owner
    is gone: listed by id. What a live container owns, or another root's, is not."""
    root = tmp_path / "root"
    (root / "alive").mkdir(parents=True)
    mine = zb.domain_name(str(root / "x"), "lost")
    owned = zb.domain_name(str(root / "x"), "alive")
    other = zb.domain_name(str(tmp_path / "other" / "x"), "lost")

    class Store(LiveDomainXenStore):
        names = {"1": mine, "2": owned, "3": other}

        def ls(self, path):
            return ["0", *self.names]

        def try_read(self, path):
            return self.names.get(path.split("/")[3])

    monkeypatch.setattr(zb, "XenStore", lambda: Store(""))
    monkeypatch.setattr(zb.domain, "is_dom0", lambda: True)
    monkeypatch.setattr(zb, "DISK_ROOT", tmp_path / "disks")
    for owner in ("lost", "alive"):
        d = tmp_path / "disks" / f"{zb.boot_id()}-{owner}"
        d.mkdir(parents=True)
        (d / zb.OWNER_FILE).write_text(str(root / owner))
    found = zb.XenZoneBackend().orphans(str(root))
    assert found == {"lost": [f"domain {mine} (1)",
                              f"disk dir {tmp_path / 'disks' / (zb.boot_id() + '-lost')}"]}


def test_list_orphans_on_a_host_without_xen_is_empty(capsys, tmp_path):
    from edera_oci.cli.main import main

    with pytest.raises(SystemExit) as done:
        main(["--root", str(tmp_path / "r"), "list", "--orphans", "--format", "json"])
    assert done.value.code == 0
    assert json.loads(capsys.readouterr().out) == []


class NoDomains:
    """A XenStore with no domain in it."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def ls(self, path):
        return []


def test_a_sweep_searches_network_namespaces_only_when_a_zone_left_something(tmp_path,
                                                                            monkeypatch):
    """delete --force of an unknown id: the tc search of every namespace (slow in a busy
    dom0) runs when the id's zone left a trace (here a disk directory), not for the ids an
    engine deletes again after its pod's end removed them (the CRI lab test found those
    deletes slow enough to be cut off, leaving a state directory behind)."""
    from edera_oci.zone import backend as zb
    from edera_oci.zone import network

    searched: list[set] = []
    monkeypatch.setattr(network, "find_redirects", lambda marks: searched.append(marks) or [])
    monkeypatch.setattr(zb.domain, "is_dom0", lambda: True)
    monkeypatch.setattr(zb, "DISK_ROOT", tmp_path / "disks")
    monkeypatch.setattr(zb.XenZoneBackend, "_teardown", lambda self, zone, clock=None: None)

    monkeypatch.setattr(zb, "XenStore", NoDomains)
    state_dir = str(tmp_path / "root" / "gone")
    zb.XenZoneBackend().sweep(state_dir, "gone")
    assert searched == []
    Path(zb.derived_zone(state_dir, "gone")["disk_dir"]).mkdir(parents=True)
    zb.XenZoneBackend().sweep(state_dir, "gone")
    assert searched == [{network.redirect_mark(zb.domain_name(state_dir, "gone"))}]


def test_the_traces_of_an_id_are_its_disks_its_backend_and_its_console_log(tmp_path,
                                                                          monkeypatch):
    """What delete --force of an unknown id checks before it claims the id: nothing of the
    id in dom0 is no trace; a disk directory, a 9pfs backend or a console log is one."""
    from edera_oci.zone import backend as zb

    backends: list[int] = []
    monkeypatch.setattr(zb.domain, "is_dom0", lambda: True)
    monkeypatch.setattr(zb, "XenStore", NoDomains)
    monkeypatch.setattr(zb, "DISK_ROOT", tmp_path / "disks")
    monkeypatch.setattr(zb, "console_log", lambda name: tmp_path / f"{name}.log")
    monkeypatch.setattr(zb.shares, "backend_pids", lambda name, domid=None: backends)
    state_dir = str(tmp_path / "root" / "gone")
    zone = zb.derived_zone(state_dir, "gone")
    backend = zb.XenZoneBackend()
    assert backend.left_traces(state_dir, "gone") is False
    backends.append(4242)
    assert backend.left_traces(state_dir, "gone") is True
    backends.clear()
    (tmp_path / f"{zone['name']}.log").write_text("")
    assert backend.left_traces(state_dir, "gone") is True
    (tmp_path / f"{zone['name']}.log").unlink()
    Path(zone["disk_dir"]).mkdir(parents=True)
    assert backend.left_traces(state_dir, "gone") is True


class RecordingXenStore(LiveDomainXenStore):
    """XenStore with domain 5 alive (the zone) and libxl's record of its devices; records
    what is removed, and when, among the other calls of the teardown."""

    def __init__(self, name: str, calls: list, devices: tuple[str, ...]) -> None:
        super().__init__(name)
        self.calls = calls
        self.nodes = {f"/libxl/5/device/{kind}" for kind in devices}

    def try_read(self, path: str) -> str | None:
        return "" if path in self.nodes else super().try_read(path)

    def rm(self, path: str) -> None:
        self.calls.append(("rm", path))
        self.nodes.discard(path)


@pytest.mark.parametrize("killed", [True, False])
def test_a_zone_with_a_9p_share_is_destroyed_after_its_qemu_and_its_9pfs_records(
        running_container, monkeypatch, killed):
    """libxl removes a QEMU-served device of a dying domain by waiting a fixed 2 s: its QEMU
    is killed and its records removed first, so ``xl destroy`` does not wait. A QEMU that
    cannot be killed keeps its records (libxl's own removal then runs)."""
    raw = json.loads((running_container / "c" / "state.json").read_text())
    calls: list = []
    xs = RecordingXenStore(raw["zone"]["name"], calls, ("9pfs", "vbd"))
    monkeypatch.setattr(zb, "XenStore", lambda: xs)
    monkeypatch.setattr(zb.shares, "kill_backends",
                        lambda name, domid: calls.append(("kill", name, domid)) or killed)
    monkeypatch.setattr(zb.domain, "destroy", lambda domid: calls.append(("destroy", domid)))
    zb.XenZoneBackend()._destroy_domain(raw["zone"])
    forgotten = [("rm", "/libxl/5/device/9pfs"), ("rm", "/local/domain/0/backend/9pfs/5"),
                 ("rm", "/local/domain/5/device/9pfs")]
    kill = ("kill", raw["zone"]["name"], 5)
    assert calls == ([kill, *forgotten] if killed else [kill]) + [("destroy", 5)]


def test_a_zone_without_9p_devices_is_destroyed_without_a_search_for_its_qemu(
        running_container, monkeypatch):
    raw = json.loads((running_container / "c" / "state.json").read_text())
    calls: list = []
    monkeypatch.setattr(zb, "XenStore",
                        lambda: RecordingXenStore(raw["zone"]["name"], calls, ("vbd",)))
    monkeypatch.setattr(zb.shares, "kill_backends", lambda *a: calls.append(("kill",)))
    monkeypatch.setattr(zb.domain, "destroy", lambda domid: calls.append(("destroy", domid)))
    zb.XenZoneBackend()._destroy_domain(raw["zone"])
    assert calls == [("destroy", 5)]


def test_kill_backends_kills_the_zones_qemu_and_waits_for_it(bystander, monkeypatch):
    monkeypatch.setattr(zb.shares, "backend_pids", lambda name, domid=None:
                        [bystander.pid] if bystander.poll() is None else [])
    assert zb.shares.kill_backends("edera-x-c", 5)
    assert bystander.returncode == -9


def test_kill_backends_says_when_one_is_left(monkeypatch):
    monkeypatch.setattr(zb.shares, "backend_pids", lambda name, domid=None: [2 ** 22 + 1])
    assert not zb.shares.kill_backends("edera-x-c", 5, wait=0.1)


def test_the_monitors_destroy_of_a_zone_is_the_same_as_deletes(monkeypatch):
    """A signal before start, or a zone that breaks the protocol, has the monitor destroy the
    zone: with the 9p share's QEMU and records first, as delete does (that path had kept the
    2 s wait: the create-delete bench, which never starts its containers, showed no gain)."""
    from edera_oci.zone import monitor

    calls: list = []
    xs = RecordingXenStore("edera-x-c", calls, ("9pfs",))
    monkeypatch.setattr(monitor, "XenStore", lambda: xs)
    monkeypatch.setattr(zb.shares, "kill_backends",
                        lambda name, domid: calls.append(("kill", name, domid)) or True)
    monkeypatch.setattr(zb.domain, "destroy", lambda domid: calls.append(("destroy", domid)))
    monitor.XenZoneOps(5, "edera-x-c").destroy()
    assert calls[0] == ("kill", "edera-x-c", 5) and calls[-1] == ("destroy", 5)
    assert ("rm", "/libxl/5/device/9pfs") in calls
