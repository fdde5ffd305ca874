"""The lifecycle state machine (runc semantics, runtime-spec where runc is wrong), on a fake
zone backend whose monitor is a real child process."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from edera_oci.errors import (
    AlreadyExists,
    BackendUnavailable,
    ConfigError,
    HookError,
    NotFound,
    NotRunning,
    UsageError,
    WrongState,
    ZoneError,
)
from edera_oci.lifecycle.common import Runtime, current_status
from edera_oci.lifecycle.container_create import create
from edera_oci.lifecycle.container_delete import delete
from edera_oci.lifecycle.container_events import stats_event, stream_events
from edera_oci.lifecycle.container_exec import ExecOptions, build_process, exec_process
from edera_oci.lifecycle.container_kill import kill
from edera_oci.lifecycle.container_list import list_containers
from edera_oci.lifecycle.container_pause import pause, resume
from edera_oci.lifecycle.container_ps import pids
from edera_oci.lifecycle.container_run import run
from edera_oci.lifecycle.container_start import start
from edera_oci.lifecycle.container_state import container_state
from edera_oci.lifecycle.container_update import update
from tests.unit.conftest import minimal_config, tree


def status_of(rt, cid):
    return container_state(rt.root, cid, rt)["status"]


def hook_cfg(tmp_path, kinds, script='cat > "$OUT/$KIND.json"', **extra):
    """A config whose hooks of the given kinds dump their stdin to tmp_path/<kind>.json."""
    hooks = {
        kind: [{
            "path": "/bin/sh",
            "args": ["sh", "-c", script],
            "env": [f"OUT={tmp_path}", f"KIND={kind}"],
            **extra,
        }]
        for kind in kinds
    }
    return minimal_config(hooks=hooks)


def test_create_start_kill_delete(rt, fake, make_bundle, root, tmp_path):
    bundle = make_bundle()
    pid_file = tmp_path / "init.pid"
    st = create(rt, "c1", str(bundle), pid_file=str(pid_file))
    assert st.status == "created"
    assert int(pid_file.read_text()) == st.pid == fake.monitor("c1").pid
    doc = container_state(rt.root, "c1", rt)
    assert doc["status"] == "created"
    assert doc["pid"] == st.pid
    assert doc["bundle"] == str(bundle)
    assert doc["rootfs"] == str(bundle / "rootfs")
    assert doc["id"] == "c1" and doc["ociVersion"] == "1.2.0"
    assert doc["created"].endswith("Z")

    start(rt, "c1")
    assert status_of(rt, "c1") == "running"
    kill(rt, "c1", "KILL")
    assert ("signal", "c1", 9, False) in fake.calls
    assert status_of(rt, "c1") == "stopped"
    assert container_state(rt.root, "c1", rt)["pid"] == 0
    delete(rt, "c1")
    assert fake.destroyed == ["c1"]
    assert tree(root) == []
    with pytest.raises(NotFound, match='container "c1" does not exist'):
        container_state(rt.root, "c1", rt)


def test_create_refuses_duplicate_and_leaves_the_first_alone(rt, fake, make_bundle, root):
    create(rt, "dup", str(make_bundle()))
    before = (root / "dup" / "state.json").read_bytes()
    with pytest.raises(AlreadyExists, match='container "dup" already exists'):
        create(rt, "dup", str(make_bundle()))
    assert (root / "dup" / "state.json").read_bytes() == before
    assert status_of(rt, "dup") == "created"
    assert len(fake.zones) == 1


def test_concurrent_creates_of_one_id_only_one_wins(root, make_bundle, fake):
    bundle = make_bundle()
    results: list[str] = []
    barrier = threading.Barrier(4)

    def worker():
        barrier.wait()
        try:
            create(Runtime(str(root), backend=fake), "race", str(bundle))
            results.append("ok")
        except AlreadyExists:
            results.append("exists")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["exists", "exists", "exists", "ok"]


@pytest.mark.parametrize("bad_id", ["", "../x", "a/b", "/abs", ".", "..", "x" * 256, "sp ace",
                                    "tab\t", "é"])
def test_create_refuses_malformed_ids(rt, fake, make_bundle, root, bad_id):
    with pytest.raises(UsageError):
        create(rt, bad_id, str(make_bundle()))
    assert tree(root) == []
    assert fake.calls == []


def test_longest_valid_id_works(rt, make_bundle):
    cid = "a" * 255
    create(rt, cid, str(make_bundle()))
    assert status_of(rt, cid) == "created"


def test_create_on_a_host_without_zones_leaves_nothing(rt, fake, make_bundle, root):
    fake.available = False
    with pytest.raises(BackendUnavailable, match="not a Xen dom0"):
        create(rt, "c", str(make_bundle()))
    assert tree(root) == []


def test_invalid_bundle_is_refused_before_the_backend_is_asked(rt, fake, make_bundle, root):
    bundle = make_bundle(minimal_config(process={"cwd": "/", "args": []}))
    with pytest.raises(ConfigError, match="process.args: must be a non-empty array"):
        create(rt, "c", str(bundle))
    assert fake.calls == []
    assert tree(root) == []


@pytest.mark.parametrize("stage", ["before-hooks", "after-hooks"])
def test_backend_failure_leaves_nothing(rt, fake, make_bundle, root, stage):
    fake.fail_create = stage
    with pytest.raises(ZoneError):
        create(rt, "c", str(make_bundle()))
    assert tree(root) == []
    assert fake.zones == {}


def test_pid_file_is_written_last_and_its_failure_undoes_create(rt, fake, make_bundle, root,
                                                                  tmp_path, monkeypatch):
    import edera_oci.lifecycle.container_create as cc

    def boom(path, pid):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cc, "write_pid_file", boom)
    with pytest.raises(OSError):
        create(rt, "c", str(make_bundle()), pid_file=str(tmp_path / "p"))
    assert tree(root) == []
    assert fake.destroyed == ["c"]


def test_pid_file_directory_must_exist(rt, fake, make_bundle, root, tmp_path):
    with pytest.raises(UsageError, match="not found"):
        create(rt, "c", str(make_bundle()), pid_file=str(tmp_path / "nope" / "init.pid"))
    assert tree(root) == [] and fake.calls == []


def test_console_socket_rules(rt, fake, make_bundle, root, tmp_path):
    tty = make_bundle(minimal_config(process={"terminal": True, "cwd": "/", "args": ["sh"]}))
    with pytest.raises(ConfigError, match="--console-socket is required"):
        create(rt, "c", str(tty))
    with pytest.raises(ConfigError, match="not found"):
        create(rt, "c", str(tty), console_socket=str(tmp_path / "missing.sock"))
    regular = tmp_path / "file"
    regular.write_text("")
    with pytest.raises(ConfigError, match="not a unix socket"):
        create(rt, "c", str(tty), console_socket=str(regular))
    import socket

    sock_path = tmp_path / "console.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(sock_path))
    try:
        with pytest.raises(ConfigError, match="terminal is false"):
            create(rt, "c", str(make_bundle()), console_socket=str(sock_path))
        assert tree(root) == []
        create(rt, "c", str(tty), console_socket=str(sock_path))
        assert fake.calls[-1] == ("create", "c", True, str(sock_path), 0)
    finally:
        srv.close()


def test_preserve_fds_must_be_open(rt, fake, make_bundle, root):
    with pytest.raises(UsageError, match="is not open"):
        create(rt, "c", str(make_bundle()), preserve_fds=500)
    assert tree(root) == []


def test_start_only_from_created(rt, fake, make_bundle):
    create(rt, "c", str(make_bundle()))
    start(rt, "c")
    with pytest.raises(WrongState, match="it is running"):
        start(rt, "c")
    assert fake.calls.count(("start", "c")) == 1
    fake.exit_container("c")
    assert status_of(rt, "c") == "stopped"
    with pytest.raises(WrongState, match="it is stopped"):
        start(rt, "c")
    assert fake.calls.count(("start", "c")) == 1


def test_kill_of_stopped_container_says_not_running(rt, fake, make_bundle):
    create(rt, "c", str(make_bundle()))
    kill(rt, "c", signal.SIGTERM)
    with pytest.raises(NotRunning, match="container not running"):
        kill(rt, "c", "KILL")


def test_kill_of_created_container_is_allowed_and_all_flag_passes(rt, fake, make_bundle):
    create(rt, "c", str(make_bundle()))
    kill(rt, "c", "USR1", all_processes=True)
    assert fake.calls[-1] == ("signal", "c", signal.SIGUSR1, True)
    assert status_of(rt, "c") == "created"


def test_kill_unknown_signal_changes_nothing(rt, fake, make_bundle):
    create(rt, "c", str(make_bundle()))
    with pytest.raises(UsageError, match="unknown signal"):
        kill(rt, "c", "NOPE")
    assert not [c for c in fake.calls if c[0] == "signal"]


def test_delete_kills_created_refuses_running_but_force_works(rt, fake, make_bundle, root):
    """runc deletes a created container without --force (containerd's shim relies on it);
    a running one needs --force."""
    create(rt, "c", str(make_bundle()))
    delete(rt, "c")
    assert ("signal", "c", 9, True) in fake.calls
    assert fake.destroyed == ["c"]
    create(rt, "r", str(make_bundle()))
    start(rt, "r")
    with pytest.raises(WrongState, match="that is running"):
        delete(rt, "r")
    assert status_of(rt, "r") == "running"
    assert fake.destroyed == ["c"]
    delete(rt, "r", force=True)
    assert ("signal", "r", 9, True) in fake.calls
    assert fake.destroyed == ["c", "r"]
    assert tree(root) == []


def test_delete_unknown_says_does_not_exist_but_force_succeeds(rt, root):
    """runc's delete --force of an unknown id exits 0; without --force it is an error."""
    with pytest.raises(NotFound, match="does not exist"):
        delete(rt, "ghost")
    delete(rt, "ghost", force=True)
    assert tree(root) == []


def test_delete_does_not_touch_other_containers(rt, fake, make_bundle, root):
    create(rt, "a", str(make_bundle()))
    create(rt, "b", str(make_bundle()))
    before = (root / "b" / "state.json").read_bytes()
    delete(rt, "a", force=True)
    assert (root / "b" / "state.json").read_bytes() == before
    assert status_of(rt, "b") == "created"
    assert fake.destroyed == ["a"]


def test_monitor_death_reads_stopped_without_the_backend(rt, fake, make_bundle, root):
    create(rt, "c", str(make_bundle()))
    start(rt, "c")
    proc = fake.monitor("c")
    proc.kill()
    proc.wait()
    fake.calls.clear()
    doc = container_state(str(root), "c")  # a fresh process would do exactly this
    assert doc["status"] == "stopped" and doc["pid"] == 0
    assert fake.calls == []


def test_recorded_pid_reused_by_another_process_reads_stopped(rt, fake, make_bundle, root):
    create(rt, "c", str(make_bundle()))
    raw = json.loads((root / "c" / "state.json").read_text())
    raw["pid"] = os.getpid()  # alive, but not the process that was recorded
    (root / "c" / "state.json").write_text(json.dumps(raw))
    assert container_state(str(root), "c", rt)["status"] == "stopped"


def test_state_survives_the_runtime_process(rt, fake, make_bundle, root):
    create(rt, "c", str(make_bundle()))
    start(rt, "c")
    fresh = Runtime(str(root), backend=fake)  # a new edera-oci invocation
    assert container_state(fresh.root, "c", fresh)["status"] == "running"


def test_crashed_create_reads_stopped_and_delete_cleans_it(rt, fake, make_bundle, root):
    # what a create killed mid-way leaves: state.json "creating", nobody holding the lock
    (root / "half").mkdir(parents=True)
    (root / "half" / "state.json").write_text(json.dumps({
        "id": "half", "bundle": "/b", "rootfs": "/b/rootfs", "created": "x",
        "status": "creating", "pid": 0,
    }))
    assert container_state(str(root), "half", rt)["status"] == "stopped"
    delete(rt, "half")
    assert tree(root) == []
    # and one killed right after mkdir, before any state was written
    (root / "bare").mkdir()
    with pytest.raises(NotFound):
        container_state(str(root), "bare", rt)
    delete(rt, "bare")
    assert tree(root) == []


def test_creating_is_reported_while_create_holds_the_lock(rt, fake, make_bundle, root):
    seen = {}
    bundle = make_bundle(minimal_config())
    original = fake.create

    def slow_create(req, run_hooks):
        seen["status"] = container_state(str(root), req.id)["status"]
        return original(req, run_hooks)

    fake.create = slow_create
    create(rt, "c", str(bundle))
    assert seen["status"] == "creating"


def test_pause_resume(rt, fake, make_bundle):
    create(rt, "c", str(make_bundle()))
    with pytest.raises(WrongState):
        pause(rt, "c")
    start(rt, "c")
    with pytest.raises(WrongState):
        resume(rt, "c")
    pause(rt, "c")
    assert status_of(rt, "c") == "paused"
    kill(rt, "c", "USR1")  # signals still reach a paused container
    resume(rt, "c")
    assert status_of(rt, "c") == "running"


def test_list_ps_events_update(rt, fake, make_bundle, root):
    create(rt, "b", str(make_bundle()))
    create(rt, "a", str(make_bundle()))
    start(rt, "a")
    rows = list_containers(rt)
    assert [(r["id"], r["status"]) for r in rows] == [("a", "running"), ("b", "created")]
    assert pids(rt, "a") == [fake.monitor("a").pid]
    ev = stats_event(rt, "a")
    assert ev["type"] == "stats" and ev["id"] == "a" and ev["data"]["cpu"]["usage"]["total"] == 123
    got = []
    assert stream_events(rt, "a", 0.01, got.append, max_events=3) == 3
    assert len(got) == 3
    fake.exit_container("a")
    assert stream_events(rt, "a", 0.01, got.append) == 0
    update(rt, "b", {"memory": {"limit": 1 << 30}, "pids": {"limit": 10}})
    assert fake.calls[-1] == ("update", "b", {"memory": {"limit": 1 << 30}, "pids": {"limit": 10}})
    with pytest.raises(ConfigError, match="linux.resources.memory.limit"):
        update(rt, "b", {"memory": {"limit": "1g"}})
    with pytest.raises(WrongState):
        update(rt, "a", {"pids": {"limit": 10}})


def test_list_of_missing_root_is_empty(tmp_path, fake):
    assert list_containers(Runtime(str(tmp_path / "none"), backend=fake)) == []


# -- hooks in the lifecycle -------------------------------------------------------------------

def test_create_hooks_see_the_monitor_pid_and_created(rt, fake, make_bundle, tmp_path):
    cfg = hook_cfg(tmp_path, ["prestart", "createRuntime", "createContainer"])
    cfg["annotations"] = {"org.example": "v"}
    st = create(rt, "c", str(make_bundle(cfg)))
    for kind in ("prestart", "createRuntime", "createContainer"):
        got = json.loads((tmp_path / f"{kind}.json").read_text())
        assert got["pid"] == st.pid
        assert got["status"] == "created"
        assert got["id"] == "c"
        assert got["annotations"] == {"org.example": "v"}


def test_create_hook_order_is_the_specs(rt, fake, make_bundle, tmp_path):
    log = tmp_path / "order"
    cfg = hook_cfg(tmp_path, ["createContainer", "prestart", "createRuntime"],
                   script=f'echo "$KIND" >> {log}')
    create(rt, "c", str(make_bundle(cfg)))
    assert log.read_text().split() == ["prestart", "createRuntime", "createContainer"]


def test_backend_that_skips_the_callback_still_gets_hooks_run(rt, fake, make_bundle, tmp_path):
    fake.skip_hooks = True
    st = create(rt, "c", str(make_bundle(hook_cfg(tmp_path, ["prestart"]))))
    assert json.loads((tmp_path / "prestart.json").read_text())["pid"] == st.pid


def test_failing_prestart_undoes_create_and_runs_poststop(rt, fake, make_bundle, root, tmp_path):
    cfg = hook_cfg(tmp_path, ["poststop"])
    cfg["hooks"]["prestart"] = [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}]
    with pytest.raises(HookError, match=r"prestart hook /bin/sh failed \(exit status 3\): nope"):
        create(rt, "c", str(make_bundle(cfg)))
    assert tree(root) == []
    assert fake.zones == {}
    assert json.loads((tmp_path / "poststop.json").read_text())["status"] == "stopped"


def test_start_runs_startcontainer_then_poststart(rt, fake, make_bundle, tmp_path):
    log = tmp_path / "order"
    cfg = hook_cfg(tmp_path, ["startContainer", "poststart"],
                   script=f'cat > "$OUT/$KIND.json"; echo "$KIND" >> {log}')
    create(rt, "c", str(make_bundle(cfg)))
    assert not log.exists()
    start(rt, "c")
    assert log.read_text().split() == ["startContainer", "poststart"]
    assert json.loads((tmp_path / "startContainer.json").read_text())["status"] == "created"
    assert json.loads((tmp_path / "poststart.json").read_text())["status"] == "running"


def test_failing_startcontainer_never_starts(rt, fake, make_bundle):
    cfg = minimal_config(hooks={"startContainer": [{"path": "/bin/false"}]})
    create(rt, "c", str(make_bundle(cfg)))
    with pytest.raises(HookError):
        start(rt, "c")
    assert ("start", "c") not in fake.calls


def test_poststop_failure_only_warns(rt, fake, make_bundle, root, tmp_path, capsys):
    cfg = hook_cfg(tmp_path, ["poststop"])
    cfg["hooks"]["poststop"].insert(0, {"path": "/bin/false"})
    create(rt, "c", str(make_bundle(cfg)))
    delete(rt, "c", force=True)
    assert tree(root) == []
    assert "poststop hook /bin/false failed" in capsys.readouterr().err
    assert json.loads((tmp_path / "poststop.json").read_text())["id"] == "c"


def test_hooks_are_those_of_create_time(rt, fake, make_bundle, tmp_path):
    bundle = make_bundle(minimal_config(hooks={"poststart": [{"path": "/bin/true"}]}))
    create(rt, "c", str(bundle))
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["hooks"]["poststart"] = [{"path": "/bin/false"}]
    (bundle / "config.json").write_text(json.dumps(cfg))
    start(rt, "c")  # the edited config must not matter
    assert status_of(rt, "c") == "running"


# -- run and exec -----------------------------------------------------------------------------

def test_run_exits_with_the_container_code_and_deletes(rt, fake, make_bundle, root):
    bundle = make_bundle(minimal_config(annotations={"fake.exit": "3"}))
    original = fake.start

    def start_and_finish(state):
        original(state)
        fake.monitor(state.id).stdin.write(b"x")
        fake.monitor(state.id).stdin.flush()

    fake.start = start_and_finish
    assert run(rt, "r", str(bundle)) == 3
    assert ("create", "r", False, None, 0) in fake.calls
    assert tree(root) == []


def test_run_keep_and_detach(rt, fake, make_bundle, root):
    assert run(rt, "d", str(make_bundle()), detach=True) == 0
    assert status_of(rt, "d") == "running"
    bundle = make_bundle(minimal_config(annotations={"fake.exit": "0"}))
    original = fake.start

    def start_and_finish(state):
        original(state)
        fake.monitor(state.id).stdin.write(b"x")
        fake.monitor(state.id).stdin.flush()

    fake.start = start_and_finish
    assert run(rt, "k", str(bundle), keep=True) == 0
    assert status_of(rt, "k") == "stopped"


def test_run_maps_a_signal_death_to_128_plus_signal(rt, fake, make_bundle):
    original = fake.start

    def start_and_die(state):
        original(state)
        os.kill(fake.monitor(state.id).pid, signal.SIGKILL)

    fake.start = start_and_die
    assert run(rt, "s", str(make_bundle())) == 128 + 9


def test_run_with_failing_start_deletes(rt, fake, make_bundle, root):
    cfg = minimal_config(hooks={"startContainer": [{"path": "/bin/false"}]})
    with pytest.raises(HookError):
        run(rt, "f", str(make_bundle(cfg)))
    assert tree(root) == []


def test_exec_builds_process_from_flags(rt, fake, make_bundle, tmp_path):
    cfg = minimal_config()
    cfg["process"]["env"] = ["PATH=/bin", "A=1"]
    cfg["process"]["user"] = {"uid": 5, "gid": 6}
    create(rt, "c", str(make_bundle(cfg)))
    start(rt, "c")
    fake.exec_result = 4321
    pid_file = tmp_path / "exec.pid"
    code = exec_process(rt, "c", ExecOptions(
        args=("ls", "-l"), env=("B=2",), cwd="/tmp", user="7:8", additional_gids=(9,),
        detach=True, pid_file=str(pid_file)))
    assert code == 0
    assert pid_file.read_text() == "4321"
    req = fake.calls[-1][2]
    proc = req.process
    assert proc.args == ("ls", "-l")
    assert proc.env == ("PATH=/bin", "A=1", "B=2")
    assert proc.cwd == "/tmp"
    assert (proc.user.uid, proc.user.gid, proc.user.additional_gids) == (7, 8, (9,))
    assert req.detach is True
    fake.exec_result = 7
    assert exec_process(rt, "c", ExecOptions(args=("false",))) == 7


def test_exec_from_process_file(rt, fake, make_bundle, tmp_path):
    create(rt, "c", str(make_bundle()))
    pfile = tmp_path / "process.json"
    pfile.write_text(json.dumps({"cwd": "/", "args": ["echo", "hi"], "terminal": False}))
    exec_process(rt, "c", ExecOptions(process_file=str(pfile)))
    assert fake.calls[-1][2].process.args == ("echo", "hi")
    with pytest.raises(UsageError, match="cannot be combined with --process"):
        exec_process(rt, "c", ExecOptions(process_file=str(pfile), env=("A=1",)))
    with pytest.raises(UsageError, match="not both"):
        exec_process(rt, "c", ExecOptions(process_file=str(pfile), args=("x",)))
    with pytest.raises(UsageError, match="terminal: false"):
        exec_process(rt, "c", ExecOptions(process_file=str(pfile), tty=True))
    pfile.write_text(json.dumps({"cwd": "/", "args": []}))
    with pytest.raises(ConfigError, match="process.args: must be a non-empty array"):
        exec_process(rt, "c", ExecOptions(process_file=str(pfile)))
    pfile.write_text("{not json")
    with pytest.raises(ConfigError, match=r"cannot parse process file .*line 1 column 2"):
        exec_process(rt, "c", ExecOptions(process_file=str(pfile)))


def test_exec_refuses_stopped_paused_and_bad_input(rt, fake, make_bundle):
    create(rt, "c", str(make_bundle()))
    start(rt, "c")
    with pytest.raises(UsageError, match="needs a command"):
        exec_process(rt, "c", ExecOptions())
    with pytest.raises(UsageError, match="uid"):
        exec_process(rt, "c", ExecOptions(args=("x",), user="root"))
    with pytest.raises(ConfigError, match="--console-socket is required"):
        exec_process(rt, "c", ExecOptions(args=("sh",), tty=True, detach=True))
    pause(rt, "c")
    with pytest.raises(WrongState, match="paused"):
        exec_process(rt, "c", ExecOptions(args=("x",)))
    resume(rt, "c")
    fake.exit_container("c")
    with pytest.raises(WrongState, match="stopped"):
        exec_process(rt, "c", ExecOptions(args=("x",)))
    with pytest.raises(NotFound):
        exec_process(rt, "nope", ExecOptions(args=("x",)))
    assert not [c for c in fake.calls if c[0] == "exec"]


def test_build_process_keeps_the_container_defaults():
    base = {"cwd": "/srv", "args": ["init"], "env": ["X=1"], "terminal": True,
            "consoleSize": {"height": 1, "width": 1}, "user": {"uid": 3, "gid": 4}}
    proc = build_process(base, ExecOptions(args=("sh",)))
    assert proc["args"] == ["sh"] and proc["cwd"] == "/srv" and proc["env"] == ["X=1"]
    assert proc["terminal"] is False and "consoleSize" not in proc
    assert proc["user"] == {"uid": 3, "gid": 4}
    assert base["args"] == ["init"]  # not mutated


def test_current_status_rejects_nonsense_from_the_backend(rt, fake, make_bundle):
    create(rt, "c", str(make_bundle()))
    fake.status = lambda st: "exploded"
    with pytest.raises(ZoneError, match="unknown status"):
        current_status(rt, rt.store.load("c"))


def test_locking_serializes_one_id_but_not_two(rt, fake, make_bundle):
    create(rt, "a", str(make_bundle()))
    create(rt, "b", str(make_bundle()))
    entered = threading.Event()
    release = threading.Event()
    timeline = []

    def holder():
        with rt.store.locked("a"):
            entered.set()
            release.wait(5)
            timeline.append("holder-done")

    t = threading.Thread(target=holder)
    t.start()
    entered.wait(5)
    assert rt.store.is_busy("a") and not rt.store.is_busy("b")
    t0 = time.monotonic()
    kill(rt, "b", "USR1")  # another id: not blocked
    assert time.monotonic() - t0 < 2

    def killer():
        kill(Runtime(rt.root, backend=fake), "a", "USR1")
        timeline.append("kill-a-done")

    k = threading.Thread(target=killer)
    k.start()
    time.sleep(0.2)
    assert timeline == []  # waiting for the holder
    release.set()
    t.join()
    k.join()
    assert timeline == ["holder-done", "kill-a-done"]


def test_waiter_on_a_deleted_container_gets_not_found(rt, fake, make_bundle):
    create(rt, "a", str(make_bundle()))
    fake.exit_container("a")
    errors = []
    got_lock = threading.Event()
    go = threading.Event()

    def deleter():
        with rt.store.locked("a"):
            got_lock.set()
            go.wait(5)
            rt.store.remove("a")

    def waiter():
        try:
            kill(Runtime(rt.root, backend=fake), "a", "KILL")
        except Exception as e:  # recorded for the assertion below
            errors.append(e)

    d = threading.Thread(target=deleter)
    d.start()
    got_lock.wait(5)
    w = threading.Thread(target=waiter)
    w.start()
    time.sleep(0.2)
    go.set()
    d.join()
    w.join()
    assert len(errors) == 1 and isinstance(errors[0], NotFound)
