"""The zone init (zone_image/init): its C unit tests, and its host-test build driven through the
real protocol codec over a socket (the vchan replaced by a socketpair, exec ports by Unix sockets).

These need gcc and Debian's libxen-dev and libseccomp-dev; when one is missing the tests fail
(never skip).
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edera_oci.zone.protocol import (
    FrameReader,
    Msg,
    Tag,
    container_payload,
    container_port,
    encode_frame,
    encode_records,
    exec_payload,
    exit_status,
    resize_payload,
    signal_payload,
    started_pid,
)

REPO = Path(__file__).resolve().parents[2]
INIT_DIR = REPO / "zone_image" / "init"
HOST_INIT = INIT_DIR / "build" / "edera-init-host"
ZONE_INIT = INIT_DIR / "build" / "edera-init"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _need_toolchain() -> None:
    if shutil.which("gcc") is None or shutil.which("make") is None:
        pytest.fail("gcc/make missing: install build-essential to build the zone init",
                    pytrace=False)
    if not Path("/usr/include/libxenvchan.h").exists() or not list(
            Path("/usr/lib").glob("*/libxenvchan.a")):
        pytest.fail("libxen-dev missing (libxenvchan.h / libxenvchan.a): apt-get install "
                    "libxen-dev", pytrace=False)
    if not Path("/usr/include/seccomp.h").exists() or not list(
            Path("/usr/lib").glob("*/libseccomp.a")):
        pytest.fail("libseccomp-dev missing (seccomp.h / libseccomp.a): apt-get install "
                    "libseccomp-dev", pytrace=False)


@pytest.fixture(scope="module")
def unit_run() -> subprocess.CompletedProcess[str]:
    """`make test` once: builds the unit tests and edera-init-host, runs the unit tests."""
    _need_toolchain()
    return subprocess.run(["make", "-s", "-j1", "-C", str(INIT_DIR), "test"],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def host_init(unit_run: subprocess.CompletedProcess[str]) -> Path:
    if not HOST_INIT.exists():
        pytest.fail(f"{HOST_INIT} was not built:\n{unit_run.stdout}\n{unit_run.stderr}",
                    pytrace=False)
    return HOST_INIT


def test_c_unit_tests_pass(unit_run: subprocess.CompletedProcess[str]) -> None:
    out = unit_run.stdout + unit_run.stderr
    assert unit_run.returncode == 0, out
    m = re.search(r"(\d+) passed, (\d+) failed", out)
    assert m, out
    assert int(m.group(1)) > 50 and m.group(2) == "0", out


def test_zone_binary_is_static() -> None:
    _need_toolchain()
    r = subprocess.run(["make", "-s", "-j1", "-C", str(INIT_DIR), "all"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warning" not in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    data = ZONE_INIT.read_bytes()
    assert data[:4] == b"\x7fELF"
    # A static executable has no PT_INTERP (program interpreter) program header.
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    assert 3 not in types, "edera-init has a program interpreter: it is not static"


def test_the_c_codec_numbers_are_the_pythons() -> None:
    """proto.h and protocol.py name the same frame types, record tags and version: a record
    one side sends and the other numbers differently would be skipped as unknown."""
    from edera_oci.zone import protocol

    text = (INIT_DIR / "proto.h").read_text()
    version = re.search(r"#define PROTOCOL_VERSION (\d+)", text)
    assert version and int(version.group(1)) == protocol.PROTOCOL_VERSION
    for prefix, enum in (("TAG", protocol.Tag), ("MSG", protocol.Msg)):
        c_side = {name: int(value) for name, value in
                  re.findall(rf"\b{prefix}_([A-Z0-9_]+) = (\d+),", text)
                  if not name.startswith("STORAGE_")}
        assert c_side == {m.name: m.value for m in enum}, prefix


class Zone:
    """One edera-init-host process and the host end of its channels."""

    def __init__(self, binary: Path, tmp: Path, env: dict[str, str] | None = None,
                 wrapper: list[str] | None = None) -> None:
        self.tmp = tmp
        self.sock, child = socket.socketpair()
        self.log_path = tmp / "init.log"
        full_env = {"PATH": os.environ["PATH"], "EDERA_INIT_HOST_TEST": "1",
                    "EDERA_INIT_FD": str(child.fileno()), "EDERA_INIT_EXEC_DIR": str(tmp)}
        full_env.update(env or {})
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([*(wrapper or []), str(binary)], env=full_env,
                                         pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        child.close()
        self.reader = FrameReader()
        self.pending: list = []

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def send(self, msg: int, payload: bytes = b"", sock: socket.socket | None = None) -> None:
        (sock or self.sock).sendall(encode_frame(msg, payload))

    def read_until(self, until: int, timeout: float = 10.0, sock: socket.socket | None = None,
                   reader: FrameReader | None = None, pending: list | None = None) -> list:
        """Frames up to and including the first of type `until`."""
        sock = sock or self.sock
        reader = reader or self.reader
        pending = self.pending if pending is None else pending
        got: list = []
        deadline = time.monotonic() + timeout
        while True:
            while pending:
                f = pending.pop(0)
                got.append(f)
                if f.type == until:
                    return got
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no frame {until} within {timeout} s; got {got}\n"
                            f"init log:\n{self.log()}")
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                continue
            data = sock.recv(1 << 16)
            if not data:
                pytest.fail(f"channel closed before frame {until}; got {got}\n"
                            f"init log:\n{self.log()}")
            pending.extend(reader.feed(data))

    def create(self, records: list) -> None:
        self.send(Msg.SPEC, encode_records(records))
        frames = self.read_until(Msg.READY)
        assert [f.type for f in frames] == [Msg.READY], frames

    def start(self) -> int:
        self.send(Msg.START)
        frames = self.read_until(Msg.STARTED)
        assert [f.type for f in frames] == [Msg.STARTED], frames
        return started_pid(frames[-1].payload)

    def wait_exit(self, timeout: float = 10.0) -> dict:
        return summarize(self.read_until(Msg.EXIT, timeout))

    def wait_output(self, text: bytes, timeout: float = 10.0) -> None:
        """Read until STDOUT has carried `text`; other frames stay queued for read_until."""
        seen = b"".join(f.payload for f in self.pending if f.type == Msg.STDOUT)
        self.pending = [f for f in self.pending if f.type != Msg.STDOUT]
        deadline = time.monotonic() + timeout
        while text not in seen:
            left = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                pytest.fail(f"no {text!r} on stdout within {timeout} s (saw {seen!r})\n"
                            f"{self.log()}")
            data = self.sock.recv(1 << 16)
            assert data, self.log()
            for f in self.reader.feed(data):
                if f.type == Msg.STDOUT:
                    seen += f.payload
                else:
                    self.pending.append(f)

    def finish(self) -> int:
        """Acknowledge the exit; the init then 'powers off' (exits 0 on a host)."""
        self.send(Msg.EXIT_ACK)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"init did not exit after EXIT_ACK\n{self.log()}")

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def summarize(frames: list) -> dict:
    out = {"stdout": b"", "stderr": b"", "error": None, "status": None,
           "types": [f.type for f in frames]}
    for f in frames:
        if f.type == Msg.STDOUT:
            out["stdout"] += f.payload
        elif f.type == Msg.STDERR:
            out["stderr"] += f.payload
        elif f.type == Msg.ERROR:
            out["error"] = f.payload.decode()
        elif f.type == Msg.EXIT:
            out["status"] = exit_status(f.payload)
    return out


@pytest.fixture
def zone(host_init: Path, tmp_path: Path):
    zones: list[Zone] = []

    def make(**kw) -> Zone:
        z = Zone(host_init, tmp_path, **kw)
        zones.append(z)
        return z

    yield make
    for z in zones:
        z.close()


def sh(script: str, *extra: tuple) -> list:
    return [(Tag.ARG, "sh"), (Tag.ARG, "-c"), (Tag.ARG, script), (Tag.ENV, PATH_ENV), *extra]


def run(z: Zone, records: list) -> dict:
    z.create(records)
    z.start()
    return z.wait_exit()


def test_stdout_stderr_are_separate_frames_and_exit_code(zone) -> None:
    z = zone()
    res = run(z, sh("echo out; echo err >&2; exit 3"))
    assert res["stdout"] == b"out\n"
    assert res["stderr"] == b"err\n"
    assert res["status"] == 3
    assert res["types"][-1] == Msg.EXIT
    assert z.finish() == 0
    assert "exit-status=3" in z.log()


def test_missing_command_is_127(zone) -> None:
    z = zone()
    res = run(z, [(Tag.ARG, "no-such-command-edera"), (Tag.ENV, PATH_ENV)])
    assert res["status"] == 127
    assert b'exec: "no-such-command-edera": executable file not found in $PATH' in res["stderr"]


def test_missing_absolute_path_is_127(zone) -> None:
    res = run(zone(), [(Tag.ARG, "/nonexistent/bin/x")])
    assert res["status"] == 127


def test_not_executable_is_126(zone, tmp_path: Path) -> None:
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    res = run(zone(), [(Tag.ARG, str(script)), (Tag.ENV, PATH_ENV)])
    assert res["status"] == 126
    assert b"ermission denied" in res["stderr"]


def test_path_lookup_uses_the_process_env(zone, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "edera-tool"
    tool.write_text("#!/bin/sh\necho from-tool \"$@\"\n")
    tool.chmod(0o755)
    res = run(zone(), [(Tag.ARG, "edera-tool"), (Tag.ARG, "a b"),
                       (Tag.ENV, f"PATH=/nonexistent:{bindir}:/usr/bin:/bin")])
    assert res["status"] == 0, res
    assert res["stdout"] == b"from-tool a b\n"


def test_sigterm_runs_the_trap(zone) -> None:
    z = zone()
    z.create(sh('trap "echo trapped; exit 0" TERM; echo ready; '
                'while :; do sleep 0.1; done'))
    z.start()
    z.wait_output(b"ready\n")
    z.send(Msg.SIGNAL, signal_payload(signal.SIGTERM))
    res = z.wait_exit()
    assert b"trapped\n" in res["stdout"]
    assert res["status"] == 0


def test_sigkill_is_137(zone) -> None:
    z = zone()
    z.create(sh("echo ready; while :; do sleep 0.1; done"))
    z.start()
    z.wait_output(b"ready\n")
    z.send(Msg.SIGNAL, signal_payload(signal.SIGKILL))
    assert z.wait_exit()["status"] == 137


def test_env_and_cwd_reach_the_process(zone, tmp_path: Path) -> None:
    res = run(zone(), sh('echo "$FOO|$BAR"; pwd; umask',
                         (Tag.ENV, "FOO=hello world"), (Tag.ENV, "BAR=x=y"),
                         (Tag.CWD, str(tmp_path)), (Tag.UMASK, "63")))
    assert res["status"] == 0, res
    assert res["stdout"] == f"hello world|x=y\n{tmp_path}\n0077\n".encode()


def test_rlimit_and_oom_score_adj(zone) -> None:
    res = run(zone(), sh("ulimit -n; cat /proc/self/oom_score_adj",
                         (Tag.RLIMIT, ("7", "123", "456")), (Tag.OOM_SCORE_ADJ, "250")))
    assert res["status"] == 0, res
    assert res["stdout"] == b"123\n250\n"


def test_stdin_frames_reach_cat(zone) -> None:
    z = zone()
    z.create([(Tag.ARG, "cat"), (Tag.ENV, PATH_ENV)])
    z.start()
    z.send(Msg.STDIN, b"hello\n")
    z.send(Msg.STDIN, b"world\n")
    z.send(Msg.STDIN_EOF)
    res = z.wait_exit()
    assert res["stdout"] == b"hello\nworld\n"
    assert res["status"] == 0


def test_large_stdin_and_stdout_stream_through(zone) -> None:
    """More than the pipe and channel buffers hold, both ways at once (back-pressure)."""
    z = zone()
    z.create([(Tag.ARG, "cat"), (Tag.ENV, PATH_ENV)])
    z.start()
    blob = bytes(range(256)) * 16384  # 4 MiB

    def feed() -> None:
        for off in range(0, len(blob), 65536):
            z.send(Msg.STDIN, blob[off:off + 65536])
        z.send(Msg.STDIN_EOF)

    writer = threading.Thread(target=feed)
    writer.start()
    res = z.wait_exit(timeout=60)
    writer.join(10)
    assert len(res["stdout"]) == len(blob)
    assert res["stdout"] == blob
    assert res["status"] == 0


def test_workload_does_not_run_before_start(zone, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    z = zone()
    z.create(sh(f"touch {marker}"))
    time.sleep(0.5)
    assert not marker.exists(), "the workload ran before START"
    z.start()
    assert z.wait_exit()["status"] == 0
    assert marker.exists()


def test_stdin_sent_before_start_is_kept(zone) -> None:
    z = zone()
    z.create([(Tag.ARG, "cat"), (Tag.ENV, PATH_ENV)])
    z.send(Msg.STDIN, b"early\n")
    z.send(Msg.STDIN_EOF)
    z.start()
    assert z.wait_exit()["stdout"] == b"early\n"


def test_bad_spec_is_error_then_exit_1(zone) -> None:
    z = zone()
    z.send(Msg.SPEC, encode_records([(Tag.ENV, "A=1")]))
    res = summarize(z.read_until(Msg.EXIT))
    assert res["types"] == [Msg.ERROR, Msg.EXIT]
    assert "no ARG" in res["error"]
    assert res["status"] == 1
    assert z.finish() == 0


def test_unknown_frames_and_records_are_ignored(zone) -> None:
    z = zone()
    z.send(200, b"from the future")
    res = run(z, sh("echo ok", (999, "new record")))
    assert res["stdout"] == b"ok\n" and res["status"] == 0


def test_signal_before_start_ends_the_container(zone, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    z = zone()
    z.create(sh(f"touch {marker}"))
    z.send(Msg.SIGNAL, signal_payload(signal.SIGWINCH))  # ignored by default: no effect
    z.send(Msg.SIGNAL, signal_payload(signal.SIGTERM))
    res = z.wait_exit()
    assert res["status"] == 128 + signal.SIGTERM
    assert not marker.exists()


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of the processes whose parent is pid."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append((int(d.name), fields[0]))
    return out


def _gone_or_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # reaped (possibly between any check and this read)
    return stat[stat.rindex(")") + 2] == "Z"


def test_orphans_are_reaped(zone) -> None:
    z = zone()
    # The inner shell exits at once; its background sleep is orphaned onto the init.
    z.create(sh('sh -c "sleep 0.2 &"; echo spawned; sleep 1.5; echo done'))
    z.start()
    z.wait_output(b"spawned\n")
    time.sleep(0.8)
    zombies = [p for p, state in _children(z.proc.pid) if state == "Z"]
    assert zombies == [], f"zombies left under the init: {zombies}"
    assert z.wait_exit()["status"] == 0


def test_signal_all_reaches_every_process(zone) -> None:
    z = zone()
    z.create(sh("sleep 100 & sleep 100 & echo started; wait"))
    pid = z.start()
    z.wait_output(b"started\n")
    sleeps = [p for p, _ in _children(pid)]
    assert len(sleeps) == 2, sleeps
    z.send(Msg.SIGNAL, signal_payload(signal.SIGKILL, all_processes=True))
    assert z.wait_exit()["status"] == 137
    for p in sleeps:
        assert _gone_or_zombie(p), f"sleep {p} survived kill --all"


def test_host_closing_the_channel_stops_the_zone(zone) -> None:
    """The host closing port 1 mid-run ends the zone (and its processes)."""
    z = zone()
    z.create(sh("echo ready; sleep 100"))
    pid = z.start()
    z.wait_output(b"ready\n")
    z.sock.close()
    assert z.proc.wait(10) != 0
    assert _gone_or_zombie(pid), "the workload outlived the zone"


def test_stats(zone) -> None:
    z = zone()
    z.create(sh("echo ready; sleep 100"))
    z.start()
    z.wait_output(b"ready\n")
    z.send(Msg.STATS_REQ)
    stats = z.read_until(Msg.STATS)[-1].payload.decode()
    keys = dict(line.split() for line in stats.splitlines())
    assert set(keys) == {"mem_total_kb", "mem_available_kb", "pids", "cpu_usage_ns"}
    assert int(keys["mem_total_kb"]) > 0 and int(keys["cpu_usage_ns"]) > 0
    z.send(Msg.SIGNAL, signal_payload(signal.SIGKILL))
    assert z.wait_exit()["status"] == 137


def test_terminal_and_resize(zone) -> None:
    z = zone()
    z.create(sh('stty size; test -t 0 && test -t 2 && echo is-a-tty; read x; stty size',
                (Tag.TERMINAL, ""), (Tag.TERM_SIZE, ("24", "80"))))
    z.start()
    z.wait_output(b"is-a-tty")
    z.send(Msg.RESIZE, resize_payload(30, 100))
    z.send(Msg.STDIN, b"go\n")
    res = z.wait_exit()
    assert res["status"] == 0
    assert res["stderr"] == b"", "a terminal has no separate stderr"
    assert b"30 100" in res["stdout"], res


def test_terminal_output_reaches_host_before_exit(zone) -> None:
    res = run(zone(), sh("echo via-pty; exit 4", (Tag.TERMINAL, "")))
    assert res["stdout"].replace(b"\r", b"") == b"via-pty\n"
    assert res["status"] == 4


class ExecChannel:
    def __init__(self, z: Zone, port: int) -> None:
        path = z.tmp / str(port)
        deadline = time.monotonic() + 10
        while not path.exists():
            if time.monotonic() > deadline:
                pytest.fail(f"exec port {port} never listened\n{z.log()}")
            time.sleep(0.01)
        self.z = z
        self.port = port
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.reader = FrameReader()
        self.pending: list = []

    def read_until(self, until: int) -> list:
        return self.z.read_until(until, sock=self.sock, reader=self.reader,
                                 pending=self.pending)

    def send(self, msg: int, payload: bytes = b"") -> None:
        self.z.send(msg, payload, sock=self.sock)


def test_exec_runs_on_its_own_channel(zone, tmp_path: Path) -> None:
    z = zone()
    z.create(sh("echo init-ready; while :; do sleep 0.1; done", (Tag.ENV, "FROM=init")))
    z.start()
    z.wait_output(b"init-ready\n")
    records = encode_records(sh('echo "exec $FROM"; pwd; echo exec-err >&2; exit 5',
                                (Tag.ENV, "FROM=exec"), (Tag.CWD, str(tmp_path))))
    z.send(Msg.EXEC, exec_payload(2, records))
    ex = ExecChannel(z, 2)
    res = summarize(ex.read_until(Msg.EXIT))
    assert res["types"][0] == Msg.STARTED
    assert res["stdout"] == f"exec exec\n{tmp_path}\n".encode()
    assert res["stderr"] == b"exec-err\n"
    assert res["status"] == 5
    ex.send(Msg.EXIT_ACK)
    # A second exec with stdin and a signal, while the init keeps running.
    z.send(Msg.EXEC, exec_payload(3, encode_records([(Tag.ARG, "cat"), (Tag.ENV, PATH_ENV)])))
    ex3 = ExecChannel(z, 3)
    ex3.read_until(Msg.STARTED)
    ex3.send(Msg.STDIN, b"to-exec\n")
    ex3.send(Msg.STDIN_EOF)
    res3 = summarize(ex3.read_until(Msg.EXIT))
    assert res3["stdout"] == b"to-exec\n" and res3["status"] == 0
    ex3.send(Msg.EXIT_ACK)
    z.send(Msg.EXEC, exec_payload(4, encode_records(sh("echo r; sleep 100"))))
    ex4 = ExecChannel(z, 4)
    ex4.read_until(Msg.STARTED)
    ex4.send(Msg.SIGNAL, signal_payload(signal.SIGTERM))
    assert summarize(ex4.read_until(Msg.EXIT))["status"] == 143
    # The container's init was untouched by all of that.
    z.send(Msg.SIGNAL, signal_payload(signal.SIGKILL))
    assert z.wait_exit()["status"] == 137
    assert z.finish() == 0


def test_exec_failures_are_reported_on_the_exec_channel(zone) -> None:
    z = zone()
    z.create(sh("echo ready; sleep 100"))
    z.start()
    z.wait_output(b"ready\n")
    z.send(Msg.EXEC, exec_payload(2, encode_records([(Tag.ARG, "no-such-cmd-edera"),
                                                     (Tag.ENV, PATH_ENV)])))
    res = summarize(ExecChannel(z, 2).read_until(Msg.EXIT))
    assert res["status"] == 127
    assert b"executable file not found" in res["stderr"]
    z.send(Msg.EXEC, exec_payload(3, encode_records([(Tag.ARG, "true"),
                                                     (Tag.HOSTNAME, "nope")])))
    res = summarize(ExecChannel(z, 3).read_until(Msg.EXIT))
    assert res["types"] == [Msg.ERROR, Msg.EXIT]
    assert "not allowed in EXEC" in res["error"] and res["status"] == 1


def test_exec_processes_die_with_the_container_init(zone) -> None:
    z = zone()
    z.create(sh("echo ready; read x"))
    z.start()
    z.wait_output(b"ready\n")
    z.send(Msg.EXEC, exec_payload(2, encode_records(sh("sleep 100"))))
    ex = ExecChannel(z, 2)
    ex.read_until(Msg.STARTED)
    z.send(Msg.STDIN, b"\n")  # the init process exits 0
    assert z.wait_exit()["status"] == 0
    assert summarize(ex.read_until(Msg.EXIT))["status"] == 137


def _unshare(*flags: str) -> list[str]:
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is missing", pytrace=False)
    probe = subprocess.run(["unshare", *flags, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(f"this test needs user namespaces (unshare {' '.join(flags)}): "
                    f"{probe.stderr.strip()}", pytrace=False)
    return ["unshare", *flags]


def terminal_lines(z, script: str, records: list) -> list[str]:
    """Run script with a terminal under the container records; its output lines (the pty's
    CRs dropped), after a 0 exit."""
    res = run(z, [(Tag.ARG, "/bin/sh"), (Tag.ARG, "-c"), (Tag.ARG, script),
                  (Tag.ENV, PATH_ENV), (Tag.TERMINAL, ""), *records])
    out = res["stdout"].replace(b"\r", b"").decode()
    assert res["status"] == 0, (out, z.log())
    return out.splitlines()


def test_container_setup_in_a_user_and_mount_namespace(zone, tmp_path: Path) -> None:
    """EDERA_INIT_ROOT: the SPEC's mounts, /dev, masked and read-only paths, a read-only root
    and the chroot, applied for real (in namespaces, so the host is untouched)."""
    root = tmp_path / "root"
    root.mkdir()
    for name in ("bin", "lib", "lib64", "sbin"):
        (root / name).symlink_to(f"usr/{name}")
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    (root / "var").mkdir()
    (root / "var" / "run").symlink_to("/run")  # absolute: must resolve inside the root
    binds = tmp_path / "binds"
    binds.mkdir()
    (binds / "data.txt").write_text("from the binds disk\n")
    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = (
        1, 2, 4, 8, 4096, 16384, 1 << 18)
    mounts = [
        ("/usr", "bind", "/usr", MS_BIND | MS_REC | MS_RDONLY, ""),
        ("/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""),
        ("/dev", "tmpfs", "tmpfs", MS_NOSUID, "mode=755,size=65536k"),
        ("/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
         "newinstance,ptmxmode=0666,mode=0620"),
        ("/tmp", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_PRIVATE, ""),
        ("/var/run/edera", "tmpfs", "tmpfs", 0, ""),
        ("/data/file.txt", "bind", str(binds / "data.txt"), MS_BIND | MS_RDONLY, ""),
    ]
    records = [(Tag.MOUNT, (d, t, s, str(f), o)) for d, t, s, f, o in mounts]
    (root / "secret").mkdir()
    (root / "secret" / "key").write_text("hidden\n")
    records += [(Tag.MASKED_PATH, "/proc/version"), (Tag.MASKED_PATH, "/secret"),
                (Tag.MASKED_PATH, "/proc/nonexistent"),
                (Tag.READONLY_PATH, "/proc/sys"), (Tag.ROOT_READONLY, "")]
    script = ("cat /data/file.txt; ls /dev | tr '\\n' ' '; echo; "
              "test -c /dev/null && echo null-ok; readlink /dev/ptmx; "
              "test -d /run/edera && echo run-inside-root; "
              "echo masked-file=$(wc -c < /proc/version); "
              "echo masked-dir=$(ls -A /secret | wc -l); "
              "touch /x 2>/dev/null || echo root-ro; "
              "(echo 1 > /proc/sys/kernel/domainname) 2>/dev/null || echo sys-ro; "
              "touch /tmp/ok && echo tmp-rw; "
              "echo hi > /dev/null && echo devnull-ok; "
              "echo pty; test -t 0 && echo is-tty")
    z = zone(env={"EDERA_INIT_ROOT": str(root)},
             wrapper=_unshare("--user", "--map-root-user", "--mount", "--pid", "--fork",
                              "--mount-proc"))
    lines = terminal_lines(z, script, records)
    assert lines[0] == "from the binds disk"
    devs = set(lines[1].split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "fd", "stdin",
            "stdout", "stderr", "core"} <= devs, lines[1]
    for expected in ("null-ok", "pts/ptmx", "run-inside-root", "masked-file=0",
                     "masked-dir=0", "root-ro", "sys-ro",
                     "tmp-rw", "devnull-ok", "is-tty"):
        assert expected in lines, (expected, lines)
    assert not (root / "x").exists()
    # /var/run -> /run resolved inside the root: the mount point was made there.
    assert (root / "run" / "edera").is_dir()


def test_setup_failure_names_what_failed(zone, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    z = zone(env={"EDERA_INIT_ROOT": str(root)},
             wrapper=_unshare("--user", "--map-root-user", "--mount"))
    z.send(Msg.SPEC, encode_records(sh("true", (Tag.MOUNT, ("/x", "nosuchfs", "none", "0",
                                                           "")))))
    res = summarize(z.read_until(Msg.EXIT))
    assert res["types"] == [Msg.ERROR, Msg.EXIT] and res["status"] == 1
    assert res["error"] == f"mount /x (nosuchfs) on {root}/x: No such device", res


def test_network_records_in_a_network_namespace(zone) -> None:
    """EDERA_INIT_NET=1: lo comes up, addresses and routes are added over rtnetlink."""
    z = zone(env={"EDERA_INIT_NET": "1"},
             wrapper=_unshare("--user", "--map-root-user", "--net"))
    res = run(z, sh("ip -o link show lo; ip -o addr show dev lo; ip route show; "
                    "ip -6 route show",
                    (Tag.NET_ADDR, ("lo", "10.200.0.1/24")),
                    (Tag.NET_ADDR, ("lo", "fd00:e::1/128")),
                    (Tag.NET_ROUTE, ("lo", "10.201.0.0/16", "")),
                    (Tag.NET_ROUTE, ("lo", "10.202.0.0/16", "10.200.0.2"))))
    out = res["stdout"].decode()
    assert res["status"] == 0, (out, z.log())
    assert "UP" in out.splitlines()[0]
    assert "10.200.0.1/24" in out and "fd00:e::1/128" in out
    assert "10.201.0.0/16 dev lo" in out
    assert "10.202.0.0/16 via 10.200.0.2 dev lo" in out


def test_bad_network_record_is_an_error(zone) -> None:
    z = zone(env={"EDERA_INIT_NET": "1"},
             wrapper=_unshare("--user", "--map-root-user", "--net"))
    z.send(Msg.SPEC, encode_records(sh("true", (Tag.NET_ADDR, ("nosuchif0", "10.0.0.1/8")))))
    res = summarize(z.read_until(Msg.EXIT))
    assert res["types"] == [Msg.ERROR, Msg.EXIT] and res["status"] == 1
    assert "no interface nosuchif0" in res["error"]


def test_concurrent_exec_channels(zone) -> None:
    """Several channels live in one poll loop: two execs interleaved with the init process."""
    z = zone()
    z.create(sh("echo ready; cat"))
    z.start()
    z.wait_output(b"ready\n")
    cat = encode_records([(Tag.ARG, "cat"), (Tag.ENV, PATH_ENV)])
    z.send(Msg.EXEC, exec_payload(5, cat))
    z.send(Msg.EXEC, exec_payload(6, cat))
    a, b = ExecChannel(z, 5), ExecChannel(z, 6)
    a.read_until(Msg.STARTED)
    b.read_until(Msg.STARTED)
    for i in range(20):
        a.send(Msg.STDIN, f"a{i}\n".encode())
        b.send(Msg.STDIN, f"b{i}\n".encode())
        z.send(Msg.STDIN, f"z{i}\n".encode())
    a.send(Msg.STDIN_EOF)
    b.send(Msg.STDIN_EOF)
    ra, rb = summarize(a.read_until(Msg.EXIT)), summarize(b.read_until(Msg.EXIT))
    # Only now end the container's init: its death takes every exec'd process with it.
    z.send(Msg.STDIN_EOF)
    rz = z.wait_exit()
    assert ra["stdout"] == "".join(f"a{i}\n" for i in range(20)).encode(), z.log()
    assert rb["stdout"] == "".join(f"b{i}\n" for i in range(20)).encode(), z.log()
    assert rz["stdout"] == "".join(f"z{i}\n" for i in range(20)).encode()
    assert ra["status"] == rb["status"] == rz["status"] == 0


def test_oversized_frame_closes_the_channel(zone) -> None:
    z = zone()
    z.sock.sendall(struct.pack("<II", Msg.SPEC, (1 << 20) + 1))
    assert z.proc.wait(10) == 1
    assert "over the limit" in z.log()


def test_output_is_not_lost_when_the_host_reads_slowly(zone) -> None:
    """The 200 ms drain limit is for pipes a grandchild holds, not for a slow host."""
    # A 1 MiB pipe lets the process write everything and exit before the host reads a byte.
    writer = ("import fcntl, os, sys; fcntl.fcntl(1, 1031, 1 << 20); "  # F_SETPIPE_SZ
              "os.write(1, b'x' * (1 << 20)); sys.exit(2)")
    z = zone()
    z.create([(Tag.ARG, sys.executable), (Tag.ARG, "-c"), (Tag.ARG, writer),
              (Tag.ENV, PATH_ENV)])
    z.start()
    time.sleep(1.5)  # long past the 200 ms drain limit; the output waits in pipe and buffers
    res = z.wait_exit(timeout=60)
    assert len(res["stdout"]) == 1 << 20
    assert res["status"] == 2


def test_net_if_is_found_by_mac_renamed_and_configured(zone) -> None:
    """NET_IF: the NIC with the MAC (here a veth standing in for netfront's eth0) is renamed,
    gets its MTU and comes up; then its address and a default route via a gateway."""
    veth = ("ip link add vtest0 address 02:00:00:00:00:01 type veth peer name vtest1 "
            "&& ip link add vtest2 type veth peer name vtest3 && exec \"$0\"")
    z = zone(env={"EDERA_INIT_NET": "1"},
             wrapper=[*_unshare("--user", "--map-root-user", "--net"), "sh", "-c", veth])
    res = run(z, sh("ip -o link show edera0; ip -o addr show dev edera0; ip route show",
                    (Tag.NET_IF, ("edera0", "02:00:00:00:00:01", "1400")),
                    (Tag.NET_ADDR, ("edera0", "10.9.0.2/24")),
                    (Tag.NET_ROUTE, ("edera0", "0.0.0.0/0", "10.9.0.1"))))
    out = res["stdout"].decode()
    assert res["status"] == 0, (out, z.log())
    link = out.splitlines()[0]
    assert "edera0" in link and "mtu 1400" in link and "UP" in link, link
    assert "02:00:00:00:00:01" in link
    assert "10.9.0.2/24" in out
    assert "default via 10.9.0.1 dev edera0" in out


NAMESPACES = [(Tag.NAMESPACE, t) for t in ("mount", "pid", "ipc", "uts", "cgroup")]


def _container_root(tmp_path: Path) -> Path:
    """A root that runs the host's own binaries through a read-only bind of /usr."""
    root = tmp_path / "root"
    root.mkdir()
    for name in ("bin", "lib", "lib64", "sbin"):
        (root / name).symlink_to(f"usr/{name}")
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/home/r00t:/bin/sh\n"
                                         "user:x:1000:1000::/home/user:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nextra:x:2000:user\n")
    (root / "marker").write_text("inside\n")
    return root


def _boundary_records() -> list:
    MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_RDONLY = 2, 4, 8, 4096, 16384, 1
    mounts = [
        ("/usr", "bind", "/usr", MS_BIND | MS_REC | MS_RDONLY, ""),
        ("/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""),
        ("/dev", "tmpfs", "tmpfs", MS_NOSUID, "mode=755,size=65536k"),
        ("/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
         "newinstance,ptmxmode=0666,mode=0620"),
        ("/dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""),
    ]
    return [*NAMESPACES, (Tag.HOSTNAME, "ctr-host"),
            *[(Tag.MOUNT, (d, t, s, str(f), o)) for d, t, s, f, o in mounts]]


NS_SCRIPT = "for n in mnt pid ipc uts cgroup; do echo ns-$n=$(readlink /proc/self/ns/$n); done; "


def _stdout_until(z: Zone, text: bytes, timeout: float = 10.0) -> bytes:
    """Like Zone.wait_output, but returns the STDOUT it read."""
    seen = b""
    deadline = time.monotonic() + timeout
    while text not in seen:
        frames = z.read_until(Msg.STDOUT, timeout=max(0.1, deadline - time.monotonic()))
        seen += b"".join(f.payload for f in frames if f.type == Msg.STDOUT)
        z.pending[:0] = [f for f in frames if f.type != Msg.STDOUT]
    return seen


def _lines(out: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.decode().splitlines() if "=" in line)


def test_namespaces_pivot_root_and_exec_joins_them(zone, tmp_path: Path) -> None:
    """NAMESPACE records: the workload is PID 1 of its own PID namespace, with its own mount
    (pivot_root: nothing of the old root left), IPC, UTS and cgroup namespaces; the init stays
    outside; an exec'd process joins exactly those namespaces and that root."""
    root = _container_root(tmp_path)
    script = (NS_SCRIPT + "echo pid=$$; echo cmdline=$(tr '\\0' ' ' < /proc/1/cmdline); "
              "echo hostname=$(hostname); echo marker=$(cat /marker); echo home=$HOME; "
              "echo procs=$(ls /proc | grep -c '^[0-9]'); "
              "echo mounts=$(cut -d' ' -f2 /proc/mounts | tr '\\n' ' '); "
              "echo dotdot=$(cat /../../marker); echo fds=$(ls /proc/self/fd | tr '\\n' ' '); "
              "echo ready; while :; do sleep 0.1; done")
    z = zone(env={"EDERA_INIT_ROOT": str(root)},
             wrapper=_unshare("--user", "--map-root-user", "--mount", "--pid", "--fork",
                              "--mount-proc"))
    z.create([(Tag.ARG, "/bin/sh"), (Tag.ARG, "-c"), (Tag.ARG, script), (Tag.ENV, PATH_ENV),
              *_boundary_records()])
    init_pid = z.start()
    first = _stdout_until(z, b"ready\n")
    # An exec'd process sees what the container's process sees.
    z.send(Msg.EXEC, exec_payload(2, encode_records(sh(
        NS_SCRIPT + "echo pid=$$; echo cmdline=$(tr '\\0' ' ' < /proc/1/cmdline); "
        "echo hostname=$(hostname); echo marker=$(cat /marker); echo home=$HOME; "
        "echo mounts=$(cut -d' ' -f2 /proc/mounts | tr '\\n' ' ')"))))
    ex = summarize(ExecChannel(z, 2).read_until(Msg.EXIT))
    # A workload that is PID 1 of its namespace ignores SIGTERM it has no handler for, as
    # under runc; SIGKILL from outside still ends it.
    z.send(Msg.SIGNAL, signal_payload(signal.SIGTERM))
    time.sleep(0.5)
    z.send(Msg.SIGNAL, signal_payload(signal.SIGKILL))
    res = z.wait_exit()
    assert res["status"] == 137, (res, z.log())
    got = _lines(first)
    assert got["pid"] == "1", got
    assert got["cmdline"].startswith("/bin/sh -c for n in"), got
    assert got["hostname"] == "ctr-host"
    assert got["marker"] == got["dotdot"] == "inside"
    assert got["home"] == "/home/r00t"  # from the container's /etc/passwd
    assert int(got["procs"]) <= 4, got  # sh and its pipeline: no init, nothing of the host
    mounts = got["mounts"].split()
    # In a user namespace (no mknod) the standard nodes are binds of the host's.
    nodes = {f"/dev/{n}" for n in ("null", "zero", "full", "random", "urandom", "tty")}
    assert mounts[0] == "/" and set(mounts) - nodes == {"/", "/usr", "/proc", "/dev",
                                                        "/dev/pts", "/dev/mqueue"}, mounts
    assert got["fds"].split() == ["0", "1", "2", "3"], got  # 3: ls's own directory
    # The zone init's namespaces are not the container's.
    init_side = [p for p, _ in _children(z.proc.pid)]
    assert len(init_side) == 1, init_side
    for n in ("mnt", "pid", "ipc", "uts", "cgroup"):
        assert got[f"ns-{n}"] != os.readlink(f"/proc/{init_side[0]}/ns/{n}"), n
    assert ex["status"] == 0, (ex, z.log())
    seen = _lines(ex["stdout"])
    for key in ("ns-mnt", "ns-pid", "ns-ipc", "ns-uts", "ns-cgroup", "cmdline", "hostname",
                "marker", "home", "mounts"):
        assert seen[key] == got[key], (key, seen[key], got[key])
    assert seen["pid"] != "1"
    assert init_pid != 1  # STARTED carries the pid as the zone sees it


def test_workload_without_namespaces_is_chrooted_and_shares_the_zones(zone, tmp_path) -> None:
    """No NAMESPACE record: as runc without them, the process shares the zone's namespaces
    (and is chrooted, since there is no mount namespace to pivot in)."""
    root = _container_root(tmp_path)
    MS_BIND, MS_REC = 4096, 16384
    z = zone(env={"EDERA_INIT_ROOT": str(root)},
             wrapper=_unshare("--user", "--map-root-user", "--mount", "--pid", "--fork",
                              "--mount-proc"))
    res = run(z, [(Tag.ARG, "/bin/sh"), (Tag.ARG, "-c"),
                  (Tag.ARG, NS_SCRIPT + "echo pid=$$; echo marker=$(cat /marker)"),
                  (Tag.ENV, PATH_ENV), (Tag.ENV, "HOME=/given"),
                  (Tag.MOUNT, ("/usr", "bind", "/usr", str(MS_BIND | MS_REC), "")),
                  (Tag.MOUNT, ("/proc", "proc", "proc", "0", ""))])
    got = _lines(res["stdout"])
    assert res["status"] == 0, (res, z.log())
    assert got["pid"] != "1" and got["marker"] == "inside"
    init_side = [p for p, _ in _children(z.proc.pid)]
    for n in ("mnt", "pid", "ipc", "uts", "cgroup"):
        assert got[f"ns-{n}"] == os.readlink(f"/proc/{init_side[0]}/ns/{n}"), n


def test_dev_is_made_for_the_container(zone, tmp_path: Path) -> None:
    """/dev: a tmpfs even when the config mounts none, with runc's nodes and links,
    linux.devices, /dev/console on the terminal; the zone's own devices (here the host's) and
    the devices of the zone's plumbing (xvd*, hvc*) are not there."""
    root = _container_root(tmp_path)
    (root / "dev").mkdir()
    (root / "dev" / "from-image").write_text("image's own /dev content\n")
    MS_NOSUID, MS_NOEXEC, MS_BIND, MS_REC = 2, 8, 4096, 16384
    script = ("ls -A /dev | tr '\\n' ' '; echo; ls -A /dev/my | tr '\\n' ' '; echo; "
              "grep ' /dev ' /proc/mounts; test -c /dev/console && echo console-ok; "
              "echo hi > /dev/null && echo null-ok; test -d /dev/shm && echo shm-ok")
    records = [*NAMESPACES,
               (Tag.MOUNT, ("/usr", "bind", "/usr", str(MS_BIND | MS_REC), "")),
               (Tag.MOUNT, ("/proc", "proc", "proc", "0", "")),
               (Tag.MOUNT, ("/dev/pts", "devpts", "devpts", str(MS_NOSUID | MS_NOEXEC),
                            "newinstance,ptmxmode=0666,mode=0620")),
               # the host's /dev/zero stands in for a device the config grants
               (Tag.DEVICE, ("/dev/my/zero", "c", "1", "5", str(0o640), "0", "0")),
               (Tag.DEVICE, ("/dev/xvda", "b", "202", "0", str(0o600), "0", "0")),
               (Tag.DEVICE, ("/dev/hvc0", "c", "229", "0", str(0o600), "0", "0"))]
    # As root (no user namespace), so mknod runs as it does in a zone.
    z = zone(env={"EDERA_INIT_ROOT": str(root)},
             wrapper=_unshare("--mount", "--propagation", "private", "--pid", "--fork",
                              "--mount-proc"))
    lines = terminal_lines(z, script, records)
    assert set(lines[0].split()) == {"null", "zero", "full", "random", "urandom", "tty",
                                     "ptmx", "pts", "fd", "stdin", "stdout", "stderr", "core",
                                     "shm", "console", "my"}, lines[0]
    assert lines[1].split() == ["zero"]
    assert " tmpfs " in lines[2]
    for expected in ("console-ok", "null-ok", "shm-ok"):
        assert expected in lines, (expected, lines)
    assert "not created: it is the zone's own" in z.log()
    assert not (root / "dev" / "null").exists(), "a node was made in the image's /dev"


# -- pods: further containers in the sandbox's zone (PROTOCOL.md, "Pods") ---------------------

POD_NS = "for n in mnt ipc uts; do echo ns-$n=$(readlink /proc/self/ns/$n); done; "


def _pod_container(z: Zone, name: str, script: str, *extra: tuple) -> ExecChannel:
    """CONTAINER with port 0 on port 1: the zone answers CONTAINER_PORT, then READY comes on
    the new port once the test has connected."""
    records = [(Tag.POD_NAME, name), (Tag.POD_JOIN, "ipc"), (Tag.POD_JOIN, "uts"),
               (Tag.ROOT_DISK, ["xvdc", "ext4"]), (Tag.NAMESPACE, "mount"), *extra,
               *sh(script)]
    z.send(Msg.CONTAINER, container_payload(encode_records(records)))
    answer = z.read_until(Msg.CONTAINER_PORT)[-1]
    port, why = container_port(answer.payload)
    assert port >= 2, why
    ch = ExecChannel(z, port)
    frames = ch.read_until(Msg.READY)
    assert [f.type for f in frames] == [Msg.READY], (frames, z.log())
    return ch


def _start(ch: ExecChannel) -> int:
    ch.send(Msg.START)
    return started_pid(ch.read_until(Msg.STARTED)[-1].payload)


def _channel_output(ch: ExecChannel, text: bytes, timeout: float = 10.0) -> bytes:
    """STDOUT of a channel until it carried text (other frames stay queued)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while text not in seen:
        while ch.pending:
            f = ch.pending.pop(0)
            assert f.type == Msg.STDOUT, (f, ch.z.log())
            seen += f.payload
        if text in seen:
            break
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([ch.sock], [], [], left)[0]:
            pytest.fail(f"no {text!r} within {timeout} s (saw {seen!r})\n{ch.z.log()}")
        data = ch.sock.recv(1 << 16)
        assert data, ch.z.log()
        ch.pending.extend(ch.reader.feed(data))
    return seen


def test_pod_containers_run_beside_the_sandbox_each_on_its_own_port(zone) -> None:
    """A pod's zone: the sandbox is the SPEC's container; CONTAINER adds two more, each on the
    port CONTAINER_PORT names, each with its own mount namespace and the sandbox's IPC and UTS;
    killing one leaves the other; a replacement of the same name runs; the sandbox's end ends
    them all."""
    z = zone(wrapper=_unshare("--user", "--map-root-user", "--mount", "--pid", "--fork",
                              "--mount-proc"))
    z.create([(Tag.NAMESPACE, t) for t in ("mount", "ipc", "uts")]
             + sh(POD_NS + "echo sandbox-ready; while :; do sleep 0.1; done"))
    z.start()
    sandbox = _lines(_stdout_until(z, b"sandbox-ready\n"))
    a = _pod_container(z, "a", POD_NS + "echo a-ready; while :; do sleep 0.1; done")
    b = _pod_container(z, "b", POD_NS + "while :; do echo b-alive; sleep 0.1; done")
    assert a.port != b.port and 1 not in (a.port, b.port)
    _start(a)
    _start(b)
    got_a = _lines(_channel_output(a, b"a-ready\n"))
    _channel_output(b, b"b-alive\n")
    assert got_a["ns-ipc"] == sandbox["ns-ipc"] and got_a["ns-uts"] == sandbox["ns-uts"]
    assert got_a["ns-mnt"] != sandbox["ns-mnt"]
    # Killing a leaves b (and the sandbox) running.
    a.send(Msg.SIGNAL, signal_payload(signal.SIGKILL))
    assert summarize(a.read_until(Msg.EXIT))["status"] == 137
    a.send(Msg.EXIT_ACK)
    b.pending.clear()
    _channel_output(b, b"b-alive\n")
    # A replacement with the same name (the kubelet's restart) gets a fresh process.
    a2 = _pod_container(z, "a", "echo replaced; exit 4")
    _start(a2)
    res = summarize(a2.read_until(Msg.EXIT))
    assert res["stdout"] == b"replaced\n" and res["status"] == 4
    a2.send(Msg.EXIT_ACK)
    # The sandbox's end is the pod's end: b is killed with it.
    z.send(Msg.SIGNAL, signal_payload(signal.SIGKILL))
    assert z.wait_exit()["status"] == 137
    assert summarize(b.read_until(Msg.EXIT))["status"] == 137
    assert z.finish() == 0


def test_pod_container_kill_all_stays_inside_the_container(zone) -> None:
    """SIGNAL with the all flag on a pod container's port signals that container only."""
    z = zone()
    z.create(sh("echo sandbox-ready; while :; do sleep 0.1; done"))
    z.start()
    _stdout_until(z, b"sandbox-ready\n")
    a = _pod_container(z, "a", "echo a-ready; while :; do sleep 0.1; done")
    _start(a)
    _channel_output(a, b"a-ready\n")
    a.send(Msg.SIGNAL, signal_payload(signal.SIGTERM, all_processes=True))
    assert summarize(a.read_until(Msg.EXIT))["status"] == 143
    a.send(Msg.EXIT_ACK)
    z.send(Msg.EXEC, exec_payload(0, encode_records(sh("echo sandbox-still-here"))))
    port, _ = container_port(z.read_until(Msg.EXEC_PORT)[-1].payload)
    res = summarize(ExecChannel(z, port).read_until(Msg.EXIT))
    assert res["stdout"] == b"sandbox-still-here\n", (res, z.log())


def test_pod_container_errors_come_on_its_port(zone) -> None:
    """A CONTAINER before the sandbox is set up, or without POD_NAME: ERROR + EXIT 1 on the
    container's port; port 1 is unharmed."""
    z = zone()
    z.send(Msg.CONTAINER, container_payload(encode_records(
        [(Tag.POD_NAME, "a"), (Tag.ROOT_DISK, ["xvdc", "ext4"]), *sh("true")])))
    port, _ = container_port(z.read_until(Msg.CONTAINER_PORT)[-1].payload)
    res = summarize(ExecChannel(z, port).read_until(Msg.EXIT))
    assert res["types"] == [Msg.ERROR, Msg.EXIT] and res["status"] == 1
    assert "sandbox is not running" in res["error"]
    z.create(sh("echo sandbox-ready; while :; do sleep 0.1; done"))
    z.start()
    _stdout_until(z, b"sandbox-ready\n")
    for records, why in (([(Tag.ROOT_DISK, ["xvdc", "ext4"])], "no POD_NAME"),
                         ([(Tag.POD_NAME, "../x"), (Tag.ROOT_DISK, ["xvdc", "ext4"])],
                          "is not a name"),
                         ([(Tag.POD_NAME, "a")], "no ROOT_DISK or ROOT_BIND"),
                         ([(Tag.POD_NAME, "a"), (Tag.ROOT_BIND, "/run/edera/binds/../../etc")],
                          'ROOT_BIND: "/run/edera/binds/../../etc" is not a directory under'),
                         ([(Tag.POD_NAME, "a"), (Tag.ROOT_BIND, "/etc")],
                          "is not a directory under /run/edera/binds"),
                         ([(Tag.POD_NAME, "a"), (Tag.ROOT_DISK, ["xvdc", "ext4"]),
                           (Tag.POD_JOIN, "net")], "not ipc, uts or pid")):
        z.send(Msg.CONTAINER, container_payload(encode_records([*records, *sh("true")])))
        port, _ = container_port(z.read_until(Msg.CONTAINER_PORT)[-1].payload)
        res = summarize(ExecChannel(z, port).read_until(Msg.EXIT))
        assert res["status"] == 1 and why in res["error"], res
    z.send(Msg.SIGNAL, signal_payload(signal.SIGKILL))
    assert z.wait_exit()["status"] == 137


def test_exec_on_a_pod_containers_port_joins_that_container(zone) -> None:
    """EXEC (port 0) on a pod container's port is answered there (EXEC_PORT) and runs in that
    container's namespaces, not the sandbox's."""
    z = zone(wrapper=_unshare("--user", "--map-root-user", "--mount", "--pid", "--fork",
                              "--mount-proc"))
    z.create([(Tag.NAMESPACE, t) for t in ("mount", "ipc", "uts")]
             + sh(POD_NS + "echo sandbox-ready; while :; do sleep 0.1; done"))
    z.start()
    sandbox = _lines(_stdout_until(z, b"sandbox-ready\n"))
    a = _pod_container(z, "a", POD_NS + "echo a-ready; while :; do sleep 0.1; done")
    _start(a)
    got_a = _lines(_channel_output(a, b"a-ready\n"))
    a.send(Msg.EXEC, exec_payload(0, encode_records(sh(POD_NS))))
    port, why = container_port(a.read_until(Msg.EXEC_PORT)[-1].payload)
    assert port >= 2, why
    res = summarize(ExecChannel(z, port).read_until(Msg.EXIT))
    assert res["status"] == 0, (res, z.log())
    seen = _lines(res["stdout"])
    assert seen == got_a and seen["ns-mnt"] != sandbox["ns-mnt"], (seen, got_a, sandbox)
    z.send(Msg.SIGNAL, signal_payload(signal.SIGKILL))
    assert z.wait_exit()["status"] == 137
