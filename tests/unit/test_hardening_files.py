"""Files the runtime opens are opened safely.

* the pid file's temporary: random name, ``O_EXCL|O_NOFOLLOW`` (a planted symlink in a shared
  directory never makes the runtime write through it);
* ``--root``: refused when empty, not a directory, owned by someone else or writable by the
  group or others; nothing below it is opened through a symlink;
* ``config.json``, ``--process``, ``--resources``: only a regular file under a size cap, read
  without blocking; strict JSON (deep nesting, NaN/Infinity, out-of-range numbers and lone
  surrogates are clear errors, not tracebacks).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager

import pytest

from edera_oci import state as state_module
from edera_oci.errors import ConfigError, NotFound, UsageError
from edera_oci.lifecycle.common import write_pid_file
from edera_oci.state import StateCorrupt, StateStore
from edera_oci.validate import MAX_JSON_FILE, load_bundle, read_json_file
from tests.unit.conftest import REPO, minimal_config, run_cli, tree


@contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging the suite) if the block blocks longer than ``seconds``."""

    def expired(_signo, _frame):
        raise TimeoutError(f"still blocked after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# -- the pid file -----------------------------------------------------------------------------

def shared_dir(tmp_path):
    shared = tmp_path / "tmp"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    return shared, victim


def test_planted_pid_file_temp_symlinks_are_never_followed(tmp_path):
    shared, victim = shared_dir(tmp_path)
    # what an attacker could guess before: ".<name>.tmp-<pid>" for the next pids
    for pid in range(os.getpid(), os.getpid() + 50):
        os.symlink(victim, shared / f".c.pid.tmp-{pid}")
    write_pid_file(str(shared / "c.pid"), 4242)
    assert victim.read_text() == "precious"
    assert (shared / "c.pid").read_text() == "4242"
    assert not (shared / "c.pid").is_symlink()


def test_a_guessed_temp_name_is_not_written_through(tmp_path, monkeypatch):
    """Even when the attacker guesses the name: O_EXCL|O_NOFOLLOW, and another name is tried."""
    shared, victim = shared_dir(tmp_path)
    planted = ".c.pid.tmp-planted"
    os.symlink(victim, shared / planted)
    names = iter([planted, ".c.pid.tmp-fresh"])
    monkeypatch.setattr(state_module, "_temp_name", lambda name: next(names))
    write_pid_file(str(shared / "c.pid"), 77)
    assert victim.read_text() == "precious"
    assert (shared / "c.pid").read_text() == "77"
    assert os.path.islink(shared / planted)  # the attacker's link was left alone
    assert not os.path.exists(shared / ".c.pid.tmp-fresh")


# -- --root -----------------------------------------------------------------------------------

@pytest.mark.parametrize("verb", [["list"], ["state", "c"], ["delete", "c"]])
def test_an_empty_root_is_refused(capsys, tmp_path, monkeypatch, verb):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "--root", "", *verb)
    assert code == 1 and out == ""
    assert "invalid --root ''" in err
    assert os.listdir(tmp_path) == []


def bad_roots(tmp_path):
    world = tmp_path / "world"
    world.mkdir()
    os.chmod(world, 0o777)
    group = tmp_path / "group"
    group.mkdir()
    os.chmod(group, 0o770)
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, 65534, 65534)
    a_file = tmp_path / "file"
    a_file.write_text("")
    return [(world, "writable by its group or others"), (group, "writable by its group"),
            (foreign, "owned by uid 65534"), (a_file, "is not a directory")]


def test_untrusted_roots_are_refused_by_every_verb(capsys, tmp_path, make_bundle, cli_fake):
    bundle = make_bundle()
    for root, why in bad_roots(tmp_path):
        for verb in (["list"], ["state", "c"], ["delete", "-f", "c"], ["kill", "c"],
                     ["create", "-b", bundle, "c"]):
            code, out, err = run_cli(capsys, "--root", root, *verb)
            assert code == 1, (root, verb, err)
            assert why in err and str(root) in err, err
            assert out == ""
        if root.is_dir():
            assert os.listdir(root) == []
    with pytest.raises(UsageError, match="owned by uid 65534"):
        StateStore(str(tmp_path / "foreign"))


def test_a_new_root_is_made_0700(capsys, tmp_path, make_bundle, cli_fake):
    root = tmp_path / "a" / "root"
    code, _, err = run_cli(capsys, "--root", root, "create", "-b", make_bundle(), "c")
    assert code == 0, err
    assert os.stat(root).st_mode & 0o777 == 0o700


def test_a_symlinked_container_dir_is_not_followed(capsys, tmp_path, cli_fake):
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "state.json").write_text(json.dumps(
        {"id": "c", "bundle": "/b", "status": "stopped"}))
    os.symlink(elsewhere, root / "c")
    for verb in (["state", "c"], ["delete", "c"], ["kill", "c", "KILL"], ["start", "c"]):
        code, out, err = run_cli(capsys, "--root", root, *verb)
        assert code == 1, (verb, err)
        assert "is a symbolic link" in err, err
    assert sorted(os.listdir(elsewhere)) == ["state.json"]  # no .lock created through it
    code, out, err = run_cli(capsys, "--root", root, "list", "--format", "json")
    assert code == 0
    assert [(r["id"], r["status"]) for r in json.loads(out)] == [("c", "unknown")]
    store = StateStore(str(root))
    with pytest.raises(StateCorrupt):
        store.load("c")
    store.remove("c")  # removes the link, not its target
    assert not os.path.lexists(root / "c")
    assert sorted(os.listdir(elsewhere)) == ["state.json"]
    assert os.listdir(root) == []


def test_a_symlinked_lock_file_is_not_followed(tmp_path):
    store = StateStore(str(tmp_path / "root"))
    with store.claim("c"):
        pass
    victim = tmp_path / "victim"
    victim.write_text("x")
    lock = tmp_path / "root" / "c" / ".lock"
    lock.unlink()
    os.symlink(victim, lock)
    with pytest.raises(StateCorrupt, match="cannot be opened"), store.locked("c"):
        pass
    with pytest.raises(NotFound), store.locked("other"):
        pass


# -- config.json, --process, --resources ------------------------------------------------------

def bundle_with(tmp_path, make_config_path):
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    make_config_path(bundle / "config.json")
    return bundle


def test_a_fifo_config_is_refused_without_hanging(tmp_path):
    bundle = bundle_with(tmp_path, os.mkfifo)
    with deadline(10), pytest.raises(ConfigError, match=r"config.json is a FIFO, not a regular"):
        load_bundle(str(bundle))


def test_dev_zero_as_config_is_refused_without_reading_it(tmp_path):
    bundle = bundle_with(tmp_path, lambda p: os.symlink("/dev/zero", p))
    with deadline(10), pytest.raises(ConfigError,
                                     match="config.json is a character device, not a regular"):
        load_bundle(str(bundle))


def test_the_cli_refuses_a_fifo_and_dev_zero_in_a_bounded_process(tmp_path):
    """End to end, in a child limited to 1 GiB and 30 s (before: hang, or gigabytes)."""
    for name, make in (("fifo", os.mkfifo), ("zero", lambda p: os.symlink("/dev/zero", p))):
        bundle = tmp_path / name
        (bundle / "rootfs").mkdir(parents=True)
        make(bundle / "config.json")
        proc = subprocess.run(
            [sys.executable, "-m", "edera_oci", "--root", str(tmp_path / "root"), "create",
             "-b", str(bundle), "c"],
            capture_output=True, text=True, timeout=30, cwd=REPO,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)),
        )
        assert proc.returncode == 1, proc.stderr
        assert "not a regular file" in proc.stderr and "Traceback" not in proc.stderr
    assert tree(tmp_path / "root") == []


def test_a_config_over_the_cap_is_refused(tmp_path):
    doc = json.dumps(minimal_config()).encode()
    bundle = bundle_with(tmp_path, lambda p: p.write_bytes(doc + b" " * MAX_JSON_FILE))
    with pytest.raises(ConfigError, match=r"config.json is \d+ bytes, more than the limit "
                                          r"of 4 MiB"):
        load_bundle(str(bundle))
    (bundle / "config.json").write_bytes(doc + b" " * (MAX_JSON_FILE - len(doc)))
    assert load_bundle(str(bundle)).process.args == ("/bin/true",)


@pytest.mark.parametrize("what", ["process file", "resources file"])
def test_process_and_resources_files_get_the_same_checks(tmp_path, what):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with deadline(10), pytest.raises(ConfigError, match=f"{what} {fifo} is a FIFO"):
        read_json_file(str(fifo), what)
    with deadline(10), pytest.raises(ConfigError, match=f"{what} /dev/zero is a character"):
        read_json_file("/dev/zero", what)
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        with pytest.raises(ConfigError, match="cannot open it|unix socket"):
            read_json_file(str(sock_path), what)
    finally:
        sock.close()
    with pytest.raises(ConfigError, match="is a directory"):
        read_json_file(str(tmp_path), what)


@pytest.mark.parametrize("verb, flag, what", [
    ("exec", "--process", "process file"),
    ("exec", "-p", "process file"),
    ("update", "--resources", "resources file"),
    ("update", "-r", "resources file"),
])
def test_process_and_resources_files_over_the_cap_or_a_fifo_fail_the_cli(
        capsys, tmp_path, make_bundle, cli_fake, verb, flag, what):
    """Through the CLI: one line naming the file and why, exit 1, nothing asked of the
    container; a FIFO is refused at once (no writer ever comes); the cap itself is accepted."""
    root = tmp_path / "root"
    assert run_cli(capsys, "--root", root, "create", "-b", make_bundle(), "c")[0] == 0
    assert run_cli(capsys, "--root", root, "start", "c")[0] == 0
    doc = json.dumps({"cwd": "/", "args": ["true"], "terminal": False} if verb == "exec"
                     else {"pids": {"limit": 20}}).encode()
    big = tmp_path / "big.json"
    big.write_bytes(doc + b" " * (MAX_JSON_FILE + 1 - len(doc)))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    calls = len(cli_fake.calls)
    for path, why in ((big, f"is {MAX_JSON_FILE + 1} bytes, more than the limit of 4 MiB"),
                      (fifo, "is a FIFO, not a regular file")):
        with deadline(10):
            code, out, err = run_cli(capsys, "--root", root, verb, flag, path, "c")
        assert (code, out) == (1, "")
        assert err == f"edera-oci: {what} {path} {why}\n"  # one line, no traceback
    assert [c for c in cli_fake.calls[calls:] if c[0] != "status"] == []  # no exec, no update
    big.write_bytes(doc + b" " * (MAX_JSON_FILE - len(doc)))  # exactly the cap
    code, out, err = run_cli(capsys, "--root", root, verb, flag, big, "c")
    assert code == 0, err
    assert cli_fake.calls[-1][0] == verb


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"x": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    ('{"memory": {"limit": NaN}}', "NaN is not a JSON number"),
    ('{"memory": {"limit": Infinity}}', "Infinity is not a JSON number"),
    ('{"memory": {"limit": -Infinity}}', "-Infinity is not a JSON number"),
    ('{"memory": {"limit": 1e400}}', "number 1e400 is out of range"),
    ('{"memory": {"limit": ' + "9" * 5000 + "}}", "limit"),
    ('{"args": ["/bin/echo", "\\udcff\\udcfe"]}', r"args\[1\]: a string holds a lone"),
    ('{"\\ud800": 1}', "lone UTF-16 surrogate"),
    ('{"a": 1', "Expecting ',' delimiter at line 1 column 8"),
])
def test_json_that_strict_decoders_refuse_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "doc.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        read_json_file(str(path), "resources file")
    assert str(info.value).startswith(f"cannot parse resources file {path}: ")
    assert len(str(info.value)) < 400


def test_encoded_surrogates_and_fine_unicode(tmp_path):
    path = tmp_path / "doc.json"
    path.write_bytes(b'{"args": ["\xed\xb3\xbf"]}')  # a surrogate encoded as UTF-8 bytes
    with pytest.raises(ConfigError, match="lone UTF-16 surrogate"):
        read_json_file(str(path), "process file")
    path.write_text('{"args": ["한", "\\ud83d\\ude00"]}', encoding="utf-8")
    assert read_json_file(str(path), "process file") == {"args": ["한", "😀"]}


@pytest.mark.parametrize("bad", [
    "[" * 100_000 + "]" * 100_000,
    json.dumps(minimal_config()).replace('"/bin/true"', '"/bin/true", NaN'),
    json.dumps(minimal_config()).replace('"/bin/true"', '"\\udcff"'),
])
def test_create_says_so_without_a_traceback(capsys, tmp_path, bad, cli_fake):
    bundle = bundle_with(tmp_path, lambda p: p.write_text(bad))
    code, out, err = run_cli(capsys, "--root", tmp_path / "root", "create", "-b", bundle, "c")
    assert code == 1 and out == ""
    assert err.startswith("edera-oci: cannot parse config file ") and err.count("\n") == 1
    assert tree(tmp_path / "root") == []


def test_a_root_not_owned_by_root_is_refused_whoever_runs_edera_oci():
    """Owned by the user who runs it is not enough: a state directory must be root's (a zone
    needs root; a user's own directory would let that user plant hooks for root's runs)."""
    import shutil
    import tempfile
    from pathlib import Path

    from edera_oci.statefile import check_root

    top = Path(tempfile.mkdtemp(prefix="edera-root-owner-"))  # /tmp: uid 1000 can reach it
    os.chmod(top, 0o755)
    mine = top / "mine"
    mine.mkdir(mode=0o700)
    os.chown(mine, 1000, 1000)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # as uid 1000, on its own directory
        os.close(r)
        try:
            os.seteuid(1000)
            check_root(str(mine))
            os.write(w, b"accepted")
        except UsageError as e:
            os.write(w, str(e).encode())
        finally:
            os._exit(0)
    os.close(w)
    said = os.read(r, 4096).decode()
    os.close(r)
    os.waitpid(pid, 0)
    shutil.rmtree(top)
    assert "owned by uid 1000, not by root" in said, said
