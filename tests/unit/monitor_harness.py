"""The monitor on the host: its Channel and ZoneOps over sockets, for the zone init built for the
host (edera-init-host) or for a scripted zone that the test speaks for.

Monitors run in threads of the test process (signals reach them through their wake socket), so
that their code is measured by coverage and failures show in the test's own traceback.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from edera_oci.xen.vchan import VchanClosed
from edera_oci.zone import control
from edera_oci.zone import protocol as p
from edera_oci.zone.monitor import BootFailed, Channel, Monitor

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SocketChannel:
    """A Channel over a stream socket (the vchan's stand-in)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def ack_event(self) -> None:
        pass

    def read(self) -> bytes:
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return b""
        except OSError as e:
            raise VchanClosed(str(e)) from None
        if not data:
            raise VchanClosed("peer closed")
        return data

    def write(self, data: bytes) -> int:
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0
        except OSError as e:
            raise VchanClosed(str(e)) from None

    def close(self) -> None:
        self.sock.close()


class HostInitZone:
    """ZoneOps for edera-init-host: unpause starts it, destroy kills it; port 1 is a
    socketpair, exec ports the Unix sockets it makes in its exec directory."""

    def __init__(self, binary: Path, tmp: Path) -> None:
        self.binary = binary
        self.exec_dir = tmp / "ports"
        self.exec_dir.mkdir(parents=True)
        self.log_path = tmp / "init.log"
        self.host_end, self.child_end = socket.socketpair()
        self.proc: subprocess.Popen | None = None
        self.destroyed = False
        self.exit_status_value: str | None = None
        self.exit_status_reads = 0
        self.ports: list[int] = []
        self.env: dict[str, str] = {}  # more of the init's environment (EDERA_INIT_CGROUP)

    def unpause(self) -> None:
        env = {"PATH": os.environ["PATH"], "EDERA_INIT_HOST_TEST": "1",
               "EDERA_INIT_FD": str(self.child_end.fileno()),
               "EDERA_INIT_EXEC_DIR": str(self.exec_dir), **self.env}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([str(self.binary)], env=env,
                                         pass_fds=(self.child_end.fileno(),),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.child_end.close()

    def destroy(self) -> None:
        self.destroyed = True
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def connect(self, port: int, deadline: float) -> Channel:
        if port == 1:
            return SocketChannel(self.host_end)
        self.ports.append(port)
        path = self.exec_dir / str(port)
        while not path.exists():
            if time.monotonic() > deadline:
                raise BootFailed(f"no exec port {port} in time")
            time.sleep(0.005)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(path))
        return SocketChannel(sock)

    def exit_status_text(self) -> str | None:
        self.exit_status_reads += 1
        return self.exit_status_value

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        self.host_end.close()
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class ScriptedZone:
    """ZoneOps whose channels' other ends the test holds (`peers[port]`), to speak for a zone."""

    def __init__(self) -> None:
        self.peers: dict[int, socket.socket] = {}
        self.ends: dict[int, socket.socket] = {}
        self.destroyed = False
        self.unpaused = False
        self.exit_status_value: str | None = None
        self.exit_status_reads = 0

    def peer(self, port: int = 1) -> socket.socket:
        if port not in self.peers:
            self.ends[port], self.peers[port] = socket.socketpair()
        return self.peers[port]

    def send(self, msg: int, payload: bytes = b"", port: int = 1) -> None:
        self.peer(port).sendall(p.encode_frame(msg, payload))

    def unpause(self) -> None:
        self.unpaused = True

    def destroy(self) -> None:
        self.destroyed = True

    def connect(self, port: int, deadline: float) -> Channel:
        self.peer(port)
        return SocketChannel(self.ends[port])

    def exit_status_text(self) -> str | None:
        self.exit_status_reads += 1
        return self.exit_status_value

    def frames(self, port: int = 1, timeout: float = 2.0) -> list[p.Frame]:
        """Everything the monitor has sent on port so far (waits up to timeout for the first)."""
        sock = self.peer(port)
        sock.settimeout(timeout)
        reader = p.FrameReader()
        data = b""
        try:
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
                sock.settimeout(0.05)
        except TimeoutError:
            pass
        return reader.feed(data)


@dataclass
class Running:
    """A monitor running in a thread, its stdio in files and a pipe."""

    mon: Monitor
    state_dir: Path
    out_path: Path
    err_path: Path
    stdin_w: int | None
    wake_w: socket.socket
    thread: threading.Thread | None = None
    status: int | None = None
    error: BaseException | None = None
    boot_error: BaseException | None = None
    booted: threading.Event = field(default_factory=threading.Event)
    closers: list = field(default_factory=list)

    def stdout(self) -> bytes:
        return self.out_path.read_bytes()

    def stderr(self) -> bytes:
        return self.err_path.read_bytes()

    def log(self) -> str:
        path = self.state_dir / "monitor.log"
        return path.read_text() if path.exists() else ""

    def request(self, op: str, **args) -> dict:
        return control.request(self.state_dir, op, timeout=10, **args)

    def signal(self, signo: int) -> None:
        self.wake_w.send(bytes([signo]))

    def wait(self, timeout: float = 15.0) -> int:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"monitor still running after {timeout} s\n{self.log()}"
        if self.error:
            raise self.error
        return self.status

    def close_stdin(self) -> None:
        if self.stdin_w is not None:
            os.close(self.stdin_w)
            self.stdin_w = None

    def cleanup(self) -> None:
        self.close_stdin()
        while self.closers:
            self.closers.pop()()


def make_monitor(tmp: Path, zone, *, records: bytes | None = None,
                 exec_records: bytes | None = None, state_dir: Path | None = None,
                 tty_fd: int = -1, stdin: bool = True, name: str = "c") -> Running:
    """A container monitor (records = its SPEC) or an exec monitor (exec_records), not started."""
    work = tmp / f"mon-{name}"
    work.mkdir()
    state_dir = state_dir or work
    closers: list = []
    out_path, err_path = work / "stdout", work / "stderr"
    out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT, 0o600)
    err_fd = os.open(err_path, os.O_WRONLY | os.O_CREAT, 0o600)
    closers += [lambda: os.close(out_fd), lambda: os.close(err_fd)]
    if stdin:
        in_r, in_w = os.pipe()
    else:
        in_r, in_w = os.open(os.devnull, os.O_RDONLY), None
    closers.append(lambda: os.close(in_r))
    report_r, report_w = os.pipe()
    closers.append(lambda: os.close(report_r))
    args = argparse.Namespace(
        state_dir=str(state_dir), domid=-1, name="edera-test", spec_file=None, exec_file=None,
        ready_fd=report_w, go_fd=-1, control_fd=-1, tty_fd=tty_fd)
    if exec_records is not None:
        exec_file = work / "exec.bin"
        exec_file.write_bytes(exec_records)
        args.exec_file = str(exec_file)
        args.domid = 7
    else:
        spec_file = work / "spec.bin"
        spec_file.write_bytes(records or b"")
        args.spec_file = str(spec_file)
        go_r, go_w = os.pipe()
        os.write(go_w, b"go 7\n")
        os.close(go_w)
        args.go_fd = go_r
        listener = control.listen(state_dir)
        args.control_fd = listener.detach()
    mon = Monitor(args, zone_ops=lambda domid, name: zone, stdio=(in_r, out_fd, err_fd))
    wake_r, wake_w = socket.socketpair()
    closers += [wake_r.close, wake_w.close, mon.log.close]
    if mon.control is not None:
        closers.append(mon.control.close)
    run = Running(mon, state_dir, out_path, err_path, in_w, wake_w, closers=closers)
    run.wake_r = wake_r  # type: ignore[attr-defined]
    return run


def launch(run: Running, boot: bool = True) -> Running:
    """Boot (create's or exec's handshake) and run the monitor in a thread."""

    def body() -> None:
        try:
            if boot:
                if run.mon.is_exec:
                    run.mon.boot_exec()
                else:
                    run.mon.boot()
        except BaseException as e:
            run.boot_error = e
            run.booted.set()
            return
        run.booted.set()
        try:
            run.status = run.mon.run(run.wake_r.fileno())  # type: ignore[attr-defined]
        except BaseException as e:
            run.error = e

    run.thread = threading.Thread(target=body, daemon=True)
    run.thread.start()
    return run


def sh(script: str, *extra: tuple) -> bytes:
    return p.encode_records([(p.Tag.ARG, "sh"), (p.Tag.ARG, "-c"), (p.Tag.ARG, script),
                             (p.Tag.ENV, PATH_ENV), *extra])


def wait_for(cond, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.01)
