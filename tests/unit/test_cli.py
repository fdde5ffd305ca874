"""The command line, end to end through ``main()`` (and a few real subprocesses)."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys

import pytest

from edera_oci.cli.events import parse_duration
from edera_oci.cli.main import main, parse_globals
from edera_oci.cli.update import parse_bytes
from edera_oci.errors import UsageError
from edera_oci.validate import schema_version, validate_config, validate_features
from tests.unit.conftest import REPO, minimal_config, run_cli, tree


@pytest.fixture
def ok(capsys):
    def call(*args):
        code, out, err = run_cli(capsys, *args)
        assert code == 0, err
        return out

    return call


@pytest.fixture
def fails(capsys):
    def call(*args, match):
        code, out, err = run_cli(capsys, *args)
        assert code == 1, (code, out, err)
        assert re.search(match, err), err
        assert err.startswith("edera-oci: ")
        return err

    return call


def test_version(ok):
    out = ok("--version")
    assert out.splitlines()[0] == "edera-oci version 0.1.0"
    assert f"spec: {schema_version()}" in out.splitlines()
    assert ok("-v") == out


def test_help_lists_every_verb(ok):
    out = ok("--help")
    for verb in ("create", "start", "state", "kill", "delete", "run", "list", "spec",
                 "features", "ps", "pause", "resume", "events", "update", "exec"):
        assert re.search(rf"^\s+{verb}\s", out, re.M), verb


def test_unknown_verb_and_missing_id(fails, root):
    fails("frobnicate", match="No such command 'frobnicate'")
    for verb in ("create", "start", "state", "kill", "delete", "pause", "resume", "ps",
                 "events", "exec", "run", "update"):
        fails("--root", root, verb, match="Missing argument 'CONTAINER_ID'")
    fails("--root", root, "create", "--bundle", "/tmp", match="Missing argument")
    assert tree(root) == []


def test_global_options_only_before_the_verb(fails, root, make_bundle):
    fails("state", "--root", root, "x", match="No such option.*--root")


def test_full_lifecycle_through_the_cli(ok, fails, cli_fake, root, make_bundle, tmp_path):
    bundle = make_bundle()
    pid_file = tmp_path / "init.pid"
    assert ok("--root", root, "create", "--bundle", bundle, "--pid-file", pid_file, "c1") == ""
    assert int(pid_file.read_text()) == cli_fake.monitor("c1").pid
    fast = json.loads(ok("--root", root, "state", "c1"))
    via_click = json.loads(ok("--root", root, "state", "--", "c1"))
    assert fast == via_click
    assert fast["status"] == "created" and fast["pid"] == cli_fake.monitor("c1").pid
    ok("--root", root, "start", "c1")
    fails("--root", root, "start", "c1", match='cannot start container "c1": it is running')
    fails("--root", root, "delete", "c1", match="that is running")
    assert json.loads(ok("--root", root, "list", "--format", "json"))[0]["status"] == "running"
    assert ok("--root", root, "list", "-q") == "c1\n"
    table = ok("--root", root, "list")
    assert table.splitlines()[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert "running" in table.splitlines()[1]
    assert json.loads(ok("--root", root, "ps", "--format", "json", "c1")) == [
        cli_fake.monitor("c1").pid]
    fails("--root", root, "ps", "c1", "-ef", match="ps arguments are not supported")
    assert json.loads(ok("--root", root, "events", "--stats", "c1"))["type"] == "stats"
    ok("--root", root, "pause", "c1")
    assert json.loads(ok("--root", root, "state", "c1"))["status"] == "paused"
    ok("--root", root, "resume", "c1")
    ok("--root", root, "kill", "c1", "USR1")
    ok("--root", root, "kill", "--all", "c1", "10")
    assert ("signal", "c1", 10, True) in cli_fake.calls
    fails("--root", root, "kill", "c1", "SIGNOPE", match="unknown signal 'SIGNOPE'")
    ok("--root", root, "kill", "c1")  # TERM by default
    assert ("signal", "c1", 15, False) in cli_fake.calls
    fails("--root", root, "kill", "c1", "KILL", match="container not running")
    assert json.loads(ok("--root", root, "state", "c1"))["status"] == "stopped"
    ok("--root", root, "delete", "c1")
    fails("--root", root, "state", "c1", match='container "c1" does not exist')
    fails("--root", root, "delete", "c1", match='container "c1" does not exist')
    assert tree(root) == []


def test_delete_of_created_and_force_of_unknown(ok, fails, cli_fake, root, make_bundle):
    """As runc: delete kills and deletes a created container; delete -f of an unknown id
    succeeds."""
    ok("--root", root, "create", "-b", make_bundle(), "c")
    ok("--root", root, "delete", "c")
    ok("--root", root, "delete", "-f", "c")
    fails("--root", root, "delete", "c", match='container "c" does not exist')
    assert tree(root) == []


@pytest.mark.parametrize("bad_id", ["../x", "a/b", "", ".", "..", "x" * 256, "-/"])
def test_bad_ids_create_nothing(fails, cli_fake, root, make_bundle, bad_id):
    args = ["--root", root, "create", "-b", make_bundle()]
    args += ["--", bad_id] if bad_id.startswith("-") else [bad_id]
    fails(*args, match="container id")
    assert tree(root) == []
    assert cli_fake.calls == []


def test_bundle_problems(fails, cli_fake, root, make_bundle, tmp_path):
    fails("--root", root, "create", "-b", tmp_path / "nope", "c",
          match=r"bundle directory .*/nope not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    fails("--root", root, "create", "-b", empty, "c",
          match=r"config file .*/empty/config.json not found")
    broken = make_bundle()
    (broken / "config.json").write_text('{"ociVersion": "1.0.0",\n "root": }')
    fails("--root", root, "create", "-b", broken, "c",
          match=r"cannot parse config file .*/config.json: Expecting value at line 2 column 10")
    schema = make_bundle(minimal_config(linux={"resources": {"memory": {"limit": "abc"}}}))
    fails("--root", root, "create", "-b", schema, "c",
          match=r"linux.resources.memory.limit: 'abc' is not of type 'integer'")
    no_rootfs = make_bundle(minimal_config(root={"path": "missing"}))
    fails("--root", root, "create", "-b", no_rootfs, "c", match=r"rootfs .*/missing not found")
    file_rootfs = make_bundle(minimal_config(root={"path": "afile"}))
    (file_rootfs / "afile").write_text("")
    fails("--root", root, "create", "-b", file_rootfs, "c", match="is not a directory")
    fails("--root", root, "run", "-b", schema, "c", match="memory.limit")
    assert tree(root) == []
    assert cli_fake.calls == []


def test_console_socket_and_duplicate(ok, fails, cli_fake, root, make_bundle, tmp_path):
    tty = make_bundle(minimal_config(process={"terminal": True, "cwd": "/", "args": ["sh"]}))
    fails("--root", root, "create", "-b", tty, "--console-socket", tmp_path / "no.sock", "c",
          match="console-socket .*no.sock: not found")
    fails("--root", root, "create", "-b", tty, "c", match="--console-socket is required")
    assert tree(root) == []
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "c.sock"))
    try:
        ok("--root", root, "create", "-b", tty, "--console-socket", tmp_path / "c.sock", "c")
    finally:
        sock.close()
    before = (root / "c" / "state.json").read_bytes()
    fails("--root", root, "create", "-b", make_bundle(), "c", match='container "c" already exists')
    assert (root / "c" / "state.json").read_bytes() == before


def test_unsupported_options_fail_clearly(fails, cli_fake, root, make_bundle, tmp_path):
    fails("--root", root, "create", "-b", make_bundle(), "--pidfd-socket", tmp_path / "s", "c",
          match="--pidfd-socket is not supported")
    fails("--root", root, "--rootless", "true", "list", match="rootless mode is not supported")
    fails("spec", "-b", tmp_path, "--rootless", match="--rootless is not supported")
    assert tree(root) == []


def test_accepted_compat_options(ok, cli_fake, root, make_bundle):
    ok("--root", root, "--systemd-cgroup", "--rootless=false", "--debug", "create",
       "-b", make_bundle(), "--no-pivot", "--no-new-keyring", "--preserve-fds", "0", "c")
    assert json.loads(ok("--root", root, "--systemd-cgroup", "state", "c"))["status"] == "created"


def test_json_log_gets_the_error_line(fails, root, tmp_path):
    log_file = tmp_path / "log.json"
    log_file.write_text('{"level":"info","msg":"earlier","time":"x"}\n')
    fails("--root", root, "--log", log_file, "--log-format", "json", "kill", "ghost", "9",
          match="does not exist")
    fails("--root", root, "--log", log_file, "--log-format=json", "state", "ghost",
          match="does not exist")
    fails("--root", root, "--log", log_file, "--log-format", "json", "start",
          match="Missing argument")
    lines = log_file.read_text().splitlines()
    assert lines[0] == '{"level":"info","msg":"earlier","time":"x"}'
    entries = [json.loads(line) for line in lines[1:]]
    assert [e["level"] for e in entries] == ["error"] * 3
    assert entries[0]["msg"] == 'container "ghost" does not exist'
    assert "Missing argument" in entries[2]["msg"]
    for e in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", e["time"])


def test_text_log(fails, root, tmp_path):
    log_file = tmp_path / "log.txt"
    fails("--root", root, "--log", log_file, "delete", "ghost", match="does not exist")
    line = log_file.read_text().strip()
    assert re.fullmatch(r'time="[^"]+" level=error msg="container \\"ghost\\" does not exist"',
                        line)


def test_run_exits_with_the_container_status(capsys, cli_fake, root, make_bundle):
    original = cli_fake.start

    def start_and_finish(state):
        original(state)
        cli_fake.monitor(state.id).stdin.write(b"x")
        cli_fake.monitor(state.id).stdin.flush()

    cli_fake.start = start_and_finish
    bundle = make_bundle(minimal_config(annotations={"fake.exit": "3"}))
    code, _out, err = run_cli(capsys, "--root", root, "run", "-b", bundle, "r")
    assert code == 3, err
    assert tree(root) == []
    code, _out, err = run_cli(capsys, "--root", root, "run", "-d", "-b", bundle, "r2")
    assert code == 0, err


def test_exec_through_the_cli(ok, fails, cli_fake, root, make_bundle, tmp_path):
    ok("--root", root, "create", "-b", make_bundle(), "c")
    ok("--root", root, "start", "c")
    cli_fake.exec_result = 99
    ok("--root", root, "exec", "-d", "--pid-file", tmp_path / "e.pid", "-e", "A=1", "-e", "B=2",
       "--cwd", "/tmp", "-u", "1:2", "-g", "3", "-g", "4", "c", "ls", "-l", "--color")
    req = cli_fake.calls[-1][2]
    assert req.process.args == ("ls", "-l", "--color")
    assert req.process.env[-2:] == ("A=1", "B=2")
    assert req.process.user.additional_gids == (3, 4)
    assert (tmp_path / "e.pid").read_text() == "99"
    cli_fake.exec_result = 5
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps({"cwd": "/", "args": ["true"], "terminal": False}))
    with pytest.raises(SystemExit) as exit_info:
        main(["--root", str(root), "exec", "--process", str(pfile), "c"])
    assert exit_info.value.code == 5
    fails("--root", root, "exec", "c", match="needs a command")


def test_update_through_the_cli(ok, fails, cli_fake, root, make_bundle, tmp_path,
                                monkeypatch):
    ok("--root", root, "create", "-b", make_bundle(), "c")
    res = tmp_path / "r.json"
    res.write_text(json.dumps({"cpu": {"shares": 512}}))
    ok("--root", root, "update", "--resources", res, "--memory", "512m", "--pids-limit", "20",
       "--cpu-quota", "50000", "c")
    assert cli_fake.calls[-1][2] == {"cpu": {"shares": 512, "quota": 50000},
                                     "memory": {"limit": 512 << 20}, "pids": {"limit": 20}}
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"memory": {"limit": 1024}}'))
    ok("--root", root, "update", "-r", "-", "c")
    assert cli_fake.calls[-1][2] == {"memory": {"limit": 1024}}
    fails("--root", root, "update", "c", match="nothing to update")
    res.write_text(json.dumps({"memory": {"limit": "lots"}}))
    fails("--root", root, "update", "-r", res, "c", match="linux.resources.memory.limit")
    fails("--root", root, "update", "--memory", "12q", "c", match="not a size")


def test_spec_writes_a_valid_zone_config_and_refuses_to_overwrite(ok, fails, tmp_path):
    ok("spec", "--bundle", tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    validate_config(cfg)
    assert cfg["process"]["args"] == ["sh"] and cfg["process"]["terminal"] is True
    assert cfg["root"] == {"path": "rootfs", "readonly": True}
    before = (tmp_path / "config.json").read_bytes()
    fails("spec", "-b", tmp_path, match="already exists")
    assert (tmp_path / "config.json").read_bytes() == before
    fails("spec", "-b", tmp_path / "nope", match="not found")


def test_spec_then_bundle_validation(ok, tmp_path):
    from edera_oci.validate import load_bundle

    ok("spec", "-b", tmp_path)
    (tmp_path / "rootfs").mkdir()
    spec = load_bundle(str(tmp_path))
    assert spec.process.terminal and spec.root.readonly


def test_features_tell_the_truth(ok):
    doc = json.loads(ok("features"))
    assert validate_features(doc) == []
    assert doc["ociVersionMin"] == "1.0.0"
    assert doc["ociVersionMax"] == schema_version() == "1.2.0"
    assert doc["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer",
                            "poststart", "poststop"]
    linux = doc["linux"]
    seccomp = linux["seccomp"]
    assert seccomp["enabled"] is True
    assert "SCMP_ACT_ERRNO" in seccomp["actions"] and "SCMP_ACT_NOTIFY" not in seccomp["actions"]
    assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"} <= set(seccomp["archs"])
    assert "SCMP_CMP_MASKED_EQ" in seccomp["operators"]
    assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" not in seccomp["supportedFlags"]
    assert "user" not in linux["namespaces"] and "network" in linux["namespaces"]
    assert "CAP_SYS_ADMIN" in linux["capabilities"]
    assert doc["annotations"]["dev.edera.oci.zone"] == "true"
    from edera_oci.zone import records

    # the flags the zone mapping applies, and "defaults" (no flag), as runc lists it
    assert doc["mountOptions"] == sorted({*records.MOUNT_OPTIONS, "defaults"})


def test_parse_globals_matches_the_click_app():
    assert parse_globals(["--root", "/r", "--log=/l", "--log-format", "json", "--debug",
                          "state", "x"]) == (
        {"--root": "/r", "--log": "/l", "--log-format": "json", "--debug": True,
         "--systemd-cgroup": False, "--rootless": "auto"}, ["state", "x"])
    assert parse_globals(["--bogus", "state", "x"]) is None
    assert parse_globals(["--log-format", "xml", "state", "x"]) is None
    assert parse_globals(["--root"]) is None


def test_parse_duration_and_bytes():
    assert parse_duration("5s") == 5
    assert parse_duration("1m30s") == 90
    assert parse_duration("250ms") == 0.25
    assert parse_duration("2") == 2
    for bad in ("", "5x", "0s", "-1s", "s"):
        with pytest.raises(UsageError):
            parse_duration(bad)
    assert parse_bytes("512m", "--memory") == 512 << 20
    assert parse_bytes("1G", "--memory") == 1 << 30
    assert parse_bytes("1gb", "--memory") == 1 << 30
    assert parse_bytes("4096", "--memory") == 4096
    assert parse_bytes("-1", "--memory-swap") == -1
    for bad in ("", "x", "12q", "-5"):
        with pytest.raises(UsageError):
            parse_bytes(bad, "--memory")


# -- real processes ---------------------------------------------------------------------------

def python_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_create_on_this_non_xen_host_says_so_after_validation(root, make_bundle):
    bad = make_bundle(minimal_config(process={"cwd": "/", "args": []}))
    proc = console("--root", str(root), "create", "-b", str(bad), "c")
    assert proc.returncode == 1
    assert "process.args: must be a non-empty array" in proc.stderr  # validation comes first
    good = make_bundle()
    proc = console("--root", str(root), "create", "-b", str(good), "c")
    assert proc.returncode == 1
    assert re.search(r"not a Xen dom0|zone backend not available", proc.stderr), proc.stderr
    assert proc.stdout == ""
    assert tree(root) == []


def test_state_fast_path_loads_no_heavy_module(root, make_bundle):
    (root / "c").mkdir(parents=True)
    (root / "c" / "state.json").write_text(json.dumps({
        "id": "c", "bundle": "/b", "rootfs": "/b/rootfs", "created": "t", "status": "stopped"}))
    code = (
        "import sys\n"
        "from edera_oci.cli.main import main\n"
        f"try:\n    main(['--root', {str(root)!r}, 'state', 'c'])\n"
        "except SystemExit as e:\n    code = e.code\n"
        "heavy = [m for m in ('click', 'jsonschema', 'rich', 'pyroute2', 'psutil',"
        " 'dataclasses', 'edera_oci.zone.backend') if m in sys.modules]\n"
        "print('CODE', code, 'HEAVY', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=python_env(), timeout=60)
    assert "CODE 0 HEAVY []" in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["status"] == "stopped"


def console(*args: str, stdin=None) -> subprocess.CompletedProcess:
    """``python3 -m edera_oci``: the console entry, which skips the interpreter's teardown."""
    return subprocess.run([sys.executable, "-m", "edera_oci", *args], capture_output=True,
                          text=True, env=python_env(), timeout=60, stdin=stdin)


def test_console_entry_flushes_its_answer_into_a_pipe(root):
    proc = console("--root", str(root), "features")  # block-buffered: lost unless flushed
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ociVersionMax"]


def test_console_entry_keeps_exit_codes_and_messages(root, tmp_path):
    proc = console("--root", str(root), "state", "nosuch")
    assert (proc.returncode, proc.stdout) == (1, "")
    assert 'container "nosuch" does not exist' in proc.stderr
    proc = console("--root", str(root), "no-such-verb")
    assert proc.returncode == 1
    assert "No such command 'no-such-verb'" in proc.stderr


@pytest.mark.parametrize("code, status, stderr", [
    ("None", 0, ""), ("3", 3, ""), ("'went wrong'", 1, "went wrong\n")])
def test_exit_now_follows_sys_exit(code, status, stderr):
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from edera_oci.process_exit import exit_now\n"
         f"sys.stdout.write('unflushed'); exit_now({code})"],
        capture_output=True, text=True, env=python_env(), timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (status, "unflushed", stderr)


def test_what_spec_writes_create_accepts_up_to_the_missing_xen(root, tmp_path):
    """``spec`` then ``create`` on this host: validation passes; only the absent Xen stops it."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    proc = console("spec", "--bundle", str(bundle))
    assert proc.returncode == 0, proc.stderr
    (bundle / "rootfs").mkdir()
    sock_path = tmp_path / "console.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(sock_path))
        listener.listen(1)  # spec asks for a terminal: create needs a console socket
        proc = console("--root", str(root), "create", "--bundle", str(bundle),
                       "--console-socket", str(sock_path), "c")
    assert proc.returncode == 1
    assert re.search(r"not a Xen dom0|zone backend not available", proc.stderr), proc.stderr
    assert "invalid" not in proc.stderr
    assert tree(root) == []
