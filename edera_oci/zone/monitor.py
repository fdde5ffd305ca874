"""The monitor: the one small host process a container leaves behind in dom0.

It is what the engine sees as the container's process: a child of `create` (so the engine's
subreaper inherits it), its pid in the pid file, holding the stdio `create` was given. It boots the
zone once `create` has run its hooks, relays the zone's stdout and stderr to its own fds 1 and 2
separately, forwards stdin and signals, answers `start`/`kill`/`stats`/`exec`/`update` on its
control socket, and exits with the workload's exit status. Started as
`python3 -m edera_oci.zone.monitor` so that it carries none of the CLI's imports.

Everything that comes from the zone is untrusted (after `start` the workload may own the zone's
kernel): a frame or value the zone init would never send is a protocol violation, and the
monitor then destroys the zone and exits with VIOLATION_STATUS, saying why in its log. Xen is
reached only through ZoneOps and Channel, so that host tests drive the monitor against the zone
init built for the host, over sockets.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import fcntl
import json
import os
import select
import signal
import socket
import struct
import termios
import time
import traceback
import tty
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..xen import domain
from ..xen.vchan import VchanClient, VchanClosed
from ..xen.xenstore import XenStore
from . import protocol as p
from .control import BOOT_TIMEOUT, EXIT_STATUS_FILE, OOM_KILLS_FILE

FORWARDED_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1,
                     signal.SIGUSR2, signal.SIGTERM, signal.SIGALRM, signal.SIGCONT)
INIT_PORT = 1
EXEC_CONNECT_TIMEOUT = 120.0
# The status a container or exec gets when the monitor ends its zone for breaking the protocol
# (or the channel closes without an exit status): the zone was killed.
VIOLATION_STATUS = 128 + signal.SIGKILL
# stdin read ahead of the zone: at most this much is queued; then fd 0 is not read until the
# zone takes some (it stops taking STDIN while its process does not read).
STDIN_BUFFER = 64 * 1024
# After EXIT, how long the monitor waits for the zone to take EXIT_ACK (the zone waits 5 s).
EXIT_ACK_TIMEOUT = 2.0
# A control request is one JSON line; an exec's records travel hex-encoded in it.
MAX_REQUEST = 2 * p.MAX_EXEC_RECORDS + 4096
HIGHEST_SIGNAL = 64


def vchan_path(domid: int, port: int) -> str:
    return f"/local/domain/{domid}/data/vchan/0/{port}"


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


class BootFailed(Exception):
    pass


class RequestError(Exception):
    """A control request the monitor cannot take; answered as an error, the monitor goes on."""


class Channel(Protocol):
    """One channel to the zone: a libxenvchan client in production, a socket in host tests.

    read() and write() never block; both raise VchanClosed once the zone end is gone."""

    def fileno(self) -> int: ...
    def ack_event(self) -> None: ...
    def read(self) -> bytes: ...
    def write(self, data: bytes) -> int: ...
    def close(self) -> None: ...


class ZoneOps(Protocol):
    """What the monitor does to its zone beyond the channel (Xen in production)."""

    def unpause(self) -> None: ...
    def destroy(self) -> None: ...
    def connect(self, port: int, deadline: float) -> Channel: ...
    def exit_status_text(self) -> str | None: ...


class XenZoneOps:
    """ZoneOps on Xen: xl for the domain, XenStore for the rendezvous and the exit-status key."""

    def __init__(self, domid: int, name: str) -> None:
        self.domid = domid
        self.name = name
        self._xs: XenStore | None = None

    @property
    def xs(self) -> XenStore:
        if self._xs is None:
            self._xs = XenStore()
        return self._xs

    def unpause(self) -> None:
        domain.unpause(self.domid)

    def destroy(self) -> None:
        from .shares import destroy_domain  # only here: the monitor starts without it

        destroy_domain(self.xs, self.domid, self.name)

    def connect(self, port: int, deadline: float) -> Channel:
        """Wait for the zone's vchan server on port, then connect to it."""
        path = vchan_path(self.domid, port)
        while self.xs.try_read(f"{path}/event-channel") is None:
            if not domain.is_alive(self.xs, self.domid, self.name):
                raise BootFailed("the zone died (see its console log "
                                 f"/var/log/xen/console/guest-{self.name}.log)")
            if time.monotonic() > deadline:
                raise BootFailed(f"no zone channel at {path} in time")
            with contextlib.suppress(TimeoutError):
                self.xs.wait_for(f"{path}/event-channel", lambda v: v is not None, 1.0)
        return VchanClient(self.domid, path)

    def exit_status_text(self) -> str | None:
        """The zone's durable copy of its exit status; guest-written, so parsed by the caller."""
        try:
            return self.xs.try_read(f"/local/domain/{self.domid}/edera/exit-status")
        except (OSError, UnicodeDecodeError):
            return None


class Monitor:
    def __init__(self, args: argparse.Namespace,
                 zone_ops: Callable[[int, str], ZoneOps] = XenZoneOps,
                 stdio: tuple[int, int, int] = (0, 1, 2)) -> None:
        self.state_dir = Path(args.state_dir)
        self.domid: int = args.domid  # for create, it comes with create's go
        self.name: str = args.name
        self.spec_file = Path(args.spec_file) if args.spec_file else None
        self.exec_records = Path(args.exec_file).read_bytes() if args.exec_file else None
        # A pod's further container: its channel comes from the sandbox's monitor (CONTAINER).
        sandbox_dir = getattr(args, "pod_sandbox_dir", None)
        self.pod_sandbox_dir = Path(sandbox_dir) if sandbox_dir else None
        self.report_fd: int = args.ready_fd
        self.go_fd: int = args.go_fd
        self.control = socket.socket(fileno=args.control_fd) if args.control_fd >= 0 else None
        self.tty_fd: int | None = args.tty_fd if args.tty_fd >= 0 else None
        self.stdin_fd, self.stdout_fd, self.stderr_fd = stdio
        self.log = open(self.state_dir / "monitor.log", "a", buffering=1)  # noqa: SIM115
        self.zone_ops = zone_ops
        self.ops: ZoneOps | None = zone_ops(self.domid, self.name) if self.domid >= 0 else None
        self.chan: Channel | None = None
        self.chan_closed = False
        self.reader = p.FrameReader()
        # Outgoing frames: the one being written goes out whole; control frames overtake stdin.
        self.wire = bytearray()
        self.control_q: deque[bytes] = deque()
        self.stdin_q: deque[bytes] = deque()
        self.stdin_queued = 0
        self.ack_due = False  # EXIT_ACK queued: run() waits (bounded) until it is out
        self.start_sent = False
        self.started = False
        self.start_waiters: list[socket.socket] = []
        self.stats_waiters: list[socket.socket] = []
        self.exec_waiters: deque[socket.socket] = deque()
        # the zone answers UPDATEs in order, one answer each
        self.update_waiters: deque[socket.socket] = deque()
        self.container_waiters: deque[socket.socket] = deque()
        self.clients: dict[int, tuple[socket.socket, bytearray]] = {}
        self.exit_status: int | None = None
        self.input_fd: int | None = None
        self.input_polled = False
        self.winsize: bytes | None = None
        self.poller = select.poll()

    @property
    def is_exec(self) -> bool:
        return self.exec_records is not None

    @property
    def is_pod_container(self) -> bool:
        return self.pod_sandbox_dir is not None

    def say(self, msg: str) -> None:
        self.log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {msg}\n")

    # -- boot -----------------------------------------------------------------------------------
    def report(self, line: str) -> None:
        if self.report_fd >= 0:
            os.write(self.report_fd, line.encode() + b"\n")
            os.close(self.report_fd)
            self.report_fd = -1

    def boot(self) -> None:
        """Wait for create's go (hooks done), unpause, connect, send the spec, wait for READY."""
        go = os.read(self.go_fd, 64).split()
        os.close(self.go_fd)
        if len(go) != 2 or go[0] != b"go" or not go[1].isdigit():
            raise BootFailed("create was abandoned before the zone booted")
        self.domid = int(go[1])
        self.ops = self.zone_ops(self.domid, self.name)
        spec = self.spec_file.read_bytes()
        t0 = time.monotonic()
        deadline = t0 + BOOT_TIMEOUT
        if self.is_pod_container:
            self.chan = self.ops.connect(self.pod_port(spec), deadline)
        else:
            self.ops.unpause()
            self.chan = self.ops.connect(INIT_PORT, deadline)
            self.say(f"zone channel up after {time.monotonic() - t0:.2f} s")
            try:
                self.send(p.Msg.SPEC, spec)
            except p.ProtocolError as e:  # the host's own spec: not the zone's fault
                raise BootFailed(
                    f"the container's spec does not fit the zone channel: {e}") from None
        while True:
            frame = self.next_frame(deadline)
            if frame.type == p.Msg.READY:
                self.say(f"zone ready after {time.monotonic() - t0:.2f} s")
                return
            if frame.type == p.Msg.ERROR:
                raise BootFailed("zone setup failed: " + p.zone_text(frame.payload))
            if frame.type == p.Msg.EXIT:
                status = p.exit_status(frame.payload)
                raise BootFailed(f"the zone init exited during setup ({status})")
            if frame.type in ZONE_FRAMES:
                raise p.ProtocolError(f"{p.Msg(frame.type).name} before READY")

    def pod_port(self, records: bytes) -> int:
        """A pod's further container: the sandbox's monitor asks the zone (CONTAINER) for the
        port of this container's channel."""
        from . import control

        try:
            answer = control.request(self.pod_sandbox_dir, "container", records=records.hex())
        except control.ControlError as e:
            raise BootFailed(f"the pod's sandbox: {e}") from None
        port = answer.get("port")
        if not isinstance(port, int) or not 2 <= port <= 65535:
            raise BootFailed(f"the sandbox's monitor answered container with port {port!r}")
        self.say(f"pod container channel on port {port}")
        return port

    def boot_exec(self) -> int:
        """exec: have the container's monitor ask the zone for a channel, wait for STARTED."""
        from . import control

        try:
            answer = control.request(self.state_dir, "exec", records=self.exec_records.hex())
        except control.ControlError as e:
            raise BootFailed(str(e)) from None
        port = answer.get("port")
        if not isinstance(port, int) or not 2 <= port <= 65535:
            raise BootFailed(f"the container's monitor answered exec with port {port!r}")
        deadline = time.monotonic() + EXEC_CONNECT_TIMEOUT
        self.chan = self.ops.connect(port, deadline)
        while True:
            frame = self.next_frame(deadline)
            if frame.type == p.Msg.STARTED:
                self.start_sent = True
                return self.handle_started(frame)
            if frame.type == p.Msg.ERROR:
                raise BootFailed("exec failed: " + p.zone_text(frame.payload))
            if frame.type == p.Msg.EXIT:
                raise BootFailed(f"exec ended before it started ({p.exit_status(frame.payload)})")
            if frame.type in ZONE_FRAMES:
                raise p.ProtocolError(f"{p.Msg(frame.type).name} before STARTED")

    def next_frame(self, deadline: float) -> p.Frame:
        """The next frame during a handshake; later ones stay queued in order for run()."""
        while True:
            frame = self.reader.pop()
            if frame is not None:
                return frame
            left = deadline - time.monotonic()
            if left <= 0:
                raise BootFailed("the zone did not answer in time")
            self.flush()
            r, _, _ = select.select([self.chan], [], [], min(left, 1.0))
            if r:
                self.chan.ack_event()
            try:
                self.reader.push(self.chan.read())
            except VchanClosed:
                raise BootFailed("the zone closed the channel") from None

    # -- channel --------------------------------------------------------------------------------
    def send(self, msg: int, payload: bytes = b"") -> None:
        """Queue a control frame (ahead of any queued stdin) and push what the ring takes."""
        self.control_q.append(p.encode_frame(msg, payload))
        self.flush()

    def send_stdin(self, msg: int, payload: bytes = b"") -> None:
        frame = p.encode_frame(msg, payload)
        self.stdin_q.append(frame)
        self.stdin_queued += len(frame)
        self.flush()

    def flush(self) -> None:
        while self.chan is not None and not self.chan_closed:
            if not self.wire:
                if self.control_q:
                    self.wire = bytearray(self.control_q.popleft())
                elif self.stdin_q:
                    frame = self.stdin_q.popleft()
                    self.stdin_queued -= len(frame)
                    self.wire = bytearray(frame)
                else:
                    return
            try:
                n = self.chan.write(bytes(self.wire[:65536]))
            except VchanClosed:
                self.chan_closed = True  # seen by pump_channel
                return
            if n <= 0:
                return
            del self.wire[:n]

    # -- main loop ------------------------------------------------------------------------------
    def run(self, wake_fd: int | None = None) -> int:
        """Relay until the workload's exit; wake_fd carries forwarded signal numbers (bytes)."""
        saved_tty = None
        if self.tty_fd is not None and os.isatty(self.tty_fd):
            saved_tty = termios.tcgetattr(self.tty_fd)
            tty.setraw(self.tty_fd, termios.TCSANOW)
        try:
            self.poller.register(self.chan.fileno(), select.POLLIN)
            if self.control is not None:
                self.poller.register(self.control.fileno(), select.POLLIN)
            if wake_fd is not None:
                self.poller.register(wake_fd, select.POLLIN)
            while True:
                self.pump_channel()
                if self.exit_status is not None:
                    break
                self.update_input_polling()
                for fd, _ev in self.poller.poll(500):
                    if fd == self.chan.fileno():
                        self.chan.ack_event()
                    elif self.control is not None and fd == self.control.fileno():
                        self.accept_client()
                    elif fd == wake_fd:
                        self.forward_signals(os.read(wake_fd, 64))
                    elif fd == self.input_fd:
                        self.pump_input()
                    elif fd in self.clients:
                        self.serve_client(fd)
                self.poll_winsize()
            self.deliver_exit_ack()
            self.fail_waiters(f"the container exited ({self.exit_status})")
            if self.control is not None:
                self.control.close()  # later requests: "the container's monitor is not running"
            return self.exit_status
        finally:
            if saved_tty is not None:
                with contextlib.suppress(termios.error, OSError):
                    termios.tcsetattr(self.tty_fd, termios.TCSADRAIN, saved_tty)

    def deliver_exit_ack(self) -> None:
        """After EXIT: wait until EXIT_ACK is out, behind at most the frame on the wire (queued
        stdin was dropped). The zone reads on until it has it; a zone that does not is given up
        on after EXIT_ACK_TIMEOUT (it powers off by itself)."""
        if not self.ack_due:
            return
        deadline = time.monotonic() + EXIT_ACK_TIMEOUT
        self.flush()
        while (self.wire or self.control_q) and not self.chan_closed:
            left = deadline - time.monotonic()
            if left <= 0:
                self.say("the zone did not take EXIT_ACK")
                return
            r, _, _ = select.select([self.chan], [], [], min(left, 0.05))
            if r:
                self.chan.ack_event()
                try:
                    self.chan.read()  # after EXIT the zone has nothing more to say
                except VchanClosed:
                    return
            self.flush()

    def forward_signals(self, signos: bytes) -> None:
        for signo in signos:
            if self.started:
                self.send(p.Msg.SIGNAL, p.signal_payload(signo))

    def pump_channel(self) -> None:
        """Handle every queued frame, then whatever the ring holds, in order."""
        try:
            while self.exit_status is None:
                frame = self.reader.pop()
                if frame is None:
                    if self.chan_closed:
                        raise VchanClosed("the zone closed the channel")
                    data = self.chan.read()
                    if not data:
                        break
                    self.reader.push(data)
                    continue
                self.handle(frame)
            self.flush()
        except p.ProtocolError as e:
            self.violation(str(e))
        except VchanClosed:
            if self.exit_status is None:
                self.channel_lost()

    def channel_lost(self) -> None:
        """The channel closed without EXIT: the container's status from its durable key."""
        status = None
        # that key is the zone's first container's, never an exec's or a pod container's
        if not self.is_exec and not self.is_pod_container:
            value = self.ops.exit_status_text()
            status = p.exit_status_text(value)
            if status is None and value is not None:
                self.say(f"ignoring a malformed edera/exit-status {p.zone_text(value.encode())!r}")
        self.exit_status = VIOLATION_STATUS if status is None else status
        self.say(f"zone channel closed without EXIT; status {self.exit_status}")
        self.record_exit()

    def violation(self, reason: str) -> None:
        """The zone broke the protocol: it is no longer trusted to run, or to report a status."""
        self.say(f"protocol violation by the zone: {reason}; destroying the zone, "
                 f"status {VIOLATION_STATUS}")
        try:
            self.ops.destroy()
        except Exception as e:  # the status stands; the log says what else went wrong
            self.say(f"destroying the zone failed: {e}")
        self.exit_status = VIOLATION_STATUS
        self.record_exit()
        self.fail_waiters(f"the zone broke the protocol ({reason}) and was destroyed")

    def handle(self, frame: p.Frame) -> None:
        kind = frame.type
        if kind in (p.Msg.STDOUT, p.Msg.STDERR):
            if not self.started:
                raise p.ProtocolError(f"{p.Msg(kind).name} before STARTED")
            out = self.stderr_fd if kind == p.Msg.STDERR else (
                self.tty_fd if self.tty_fd is not None else self.stdout_fd)
            self.write_out(out, frame.payload)
        elif kind == p.Msg.STARTED:
            if not self.start_sent or self.started:
                raise p.ProtocolError("STARTED that was not asked for")
            pid = self.handle_started(frame)
            for conn in self.start_waiters:
                self.answer(conn, {"ok": True, "pid": pid})
            self.start_waiters.clear()
        elif kind == p.Msg.ERROR:
            if not self.start_sent or self.started:
                raise p.ProtocolError("ERROR outside a start")
            msg = p.zone_text(frame.payload)
            self.say(f"zone error: {msg}")
            for conn in self.start_waiters:
                self.answer(conn, {"ok": False, "error": msg})
            self.start_waiters.clear()
        elif kind == p.Msg.STATS:
            stats = p.parse_stats(frame.payload)
            for conn in self.stats_waiters:
                self.answer(conn, {"ok": True, "stats": stats})
            self.stats_waiters.clear()
        elif kind == p.Msg.EXEC_PORT:
            if self.is_exec or not self.exec_waiters:
                raise p.ProtocolError("EXEC_PORT that was not asked for")
            port, why = p.exec_port(frame.payload)
            conn = self.exec_waiters.popleft()
            if port:
                self.answer(conn, {"ok": True, "port": port})
            else:
                self.say(f"the zone refused an exec: {why}")
                self.answer(conn, {"ok": False, "error": f"exec refused by the zone: {why}"})
        elif kind == p.Msg.UPDATE:
            if self.is_exec or not self.update_waiters:
                raise p.ProtocolError("UPDATE answer that was not asked for")
            why = p.update_answer(frame.payload)
            conn = self.update_waiters.popleft()
            if why:
                self.say(f"the zone refused an update: {why}")
                self.answer(conn, {"ok": False, "error": f"the zone refused the update: {why}"})
            else:
                self.answer(conn, {"ok": True})
        elif kind == p.Msg.CONTAINER_PORT:
            if self.is_exec or not self.container_waiters:
                raise p.ProtocolError("CONTAINER_PORT that was not asked for")
            port, why = p.container_port(frame.payload)
            conn = self.container_waiters.popleft()
            if port:
                self.answer(conn, {"ok": True, "port": port})
            else:
                self.say(f"the zone refused a pod container: {why}")
                self.answer(conn, {"ok": False, "error": f"refused by the pod's zone: {why}"})
        elif kind == p.Msg.EXIT:
            report = p.exit_report(frame.payload)
            self.exit_status = report.status
            self.say(f"workload exited with status {self.exit_status}")
            if report.oom_kills and not self.is_exec:
                self.say(f"the OOM killer ended {report.oom_kills} of the container's processes")
                write_atomic(self.state_dir / OOM_KILLS_FILE, f"{report.oom_kills}\n")
            self.record_exit()
            # the workload is gone: its queued stdin is moot, and EXIT_ACK overtakes it
            self.stdin_q.clear()
            self.stdin_queued = 0
            self.send(p.Msg.EXIT_ACK)
            self.ack_due = True
            for conn in self.start_waiters:
                self.answer(conn, {"ok": True, "pid": 0, "exited": self.exit_status})
            self.start_waiters.clear()
        elif kind == p.Msg.READY:
            raise p.ProtocolError("READY after setup")
        # anything else: a type this monitor does not know, ignored (PROTOCOL.md)

    def handle_started(self, frame: p.Frame) -> int:
        pid = p.started_pid(frame.payload)
        self.started = True
        self.say(f"process started, zone pid {pid}")
        self.input_fd = self.tty_fd if self.tty_fd is not None else self.stdin_fd
        return pid

    def record_exit(self) -> None:
        if self.is_exec:
            return  # an exec's status is its monitor's exit status; the container's is apart
        write_atomic(self.state_dir / EXIT_STATUS_FILE, f"{self.exit_status}\n")

    def write_out(self, fd: int, data: bytes) -> None:
        try:
            _write_all(fd, data)
        except OSError as e:  # a full disk or a closed terminal loses output, not the container
            self.say(f"writing the workload's output to fd {fd} failed: {e}")

    # -- stdin ----------------------------------------------------------------------------------
    def update_input_polling(self) -> None:
        """Read stdin only while the queue toward the zone has room (backpressure)."""
        want = self.input_fd is not None and self.stdin_queued < STDIN_BUFFER
        if want and not self.input_polled:
            self.poller.register(self.input_fd, select.POLLIN)
        elif not want and self.input_polled and self.input_fd is not None:
            self.poller.unregister(self.input_fd)
        self.input_polled = want

    def pump_input(self) -> None:
        """One read after poll said readable (fd 0's flags are the caller's: never changed)."""
        room = STDIN_BUFFER - self.stdin_queued
        if room <= 0:
            return
        try:
            data = os.read(self.input_fd, min(room, 65536))
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.send_stdin(p.Msg.STDIN, data)
            return
        self.poller.unregister(self.input_fd)
        self.input_polled = False
        if self.tty_fd is None:
            self.send_stdin(p.Msg.STDIN_EOF)
        self.input_fd = None

    def poll_winsize(self) -> None:
        if self.tty_fd is None or not self.started:
            return
        try:
            size = fcntl.ioctl(self.tty_fd, termios.TIOCGWINSZ, b"\0" * 8)
        except OSError:
            return
        if size != self.winsize:
            self.winsize = size
            rows, cols = struct.unpack("HHHH", size)[:2]
            if rows and cols:
                self.send(p.Msg.RESIZE, p.resize_payload(rows, cols))

    # -- control socket -------------------------------------------------------------------------
    def accept_client(self) -> None:
        try:
            conn, _ = self.control.accept()
        except OSError:
            return
        self.clients[conn.fileno()] = (conn, bytearray())
        self.poller.register(conn.fileno(), select.POLLIN)

    def serve_client(self, fd: int) -> None:
        conn, buf = self.clients[fd]
        try:
            chunk = conn.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            self.drop(conn)
            return
        buf += chunk
        if b"\n" not in buf:
            if len(buf) > MAX_REQUEST:
                self.answer(conn, {"ok": False, "error": f"request over {MAX_REQUEST} bytes"})
            return
        self.poller.unregister(fd)  # one request per connection: the rest is not read
        line = bytes(buf).split(b"\n", 1)[0]
        try:
            self.serve_request(conn, line)
        except RequestError as e:
            self.answer(conn, {"ok": False, "error": str(e)})
        except Exception as e:  # a bug must not take the container down with it
            self.say("control request failed: " + "".join(traceback.format_exception(e)))
            self.answer(conn, {"ok": False, "error": f"the monitor could not serve it: {e}"})

    def serve_request(self, conn: socket.socket, line: bytes) -> None:
        try:
            req = json.loads(line)
        except (ValueError, RecursionError) as e:
            raise RequestError(f"request is not JSON: {e}") from None
        if not isinstance(req, dict):
            raise RequestError("request is not a JSON object")
        op = req.get("op")
        if self.exit_status is not None:
            raise RequestError(f"the container has exited ({self.exit_status})")
        if op == "start":
            if self.started or self.start_sent:
                raise RequestError("container already started")
            self.start_waiters.append(conn)
            self.start_sent = True
            self.send(p.Msg.START)
        elif op == "signal":
            signo = req.get("signo")
            if type(signo) is not int or not 0 <= signo <= HIGHEST_SIGNAL:
                raise RequestError(f"signo must be a signal number 0..{HIGHEST_SIGNAL}, "
                                   f"not {signo!r}")
            if not self.started and signo != 0 and self.is_pod_container:
                # the zone is the pod's: the zone init ends this container alone (EXIT)
                self.send(p.Msg.SIGNAL, p.signal_payload(signo, req.get("all") is True))
                self.answer(conn, {"ok": True})
                return
            if not self.started and signo != 0:
                self.say(f"signal {signo} before start: ending the zone")
                self.exit_status = 128 + signo
                self.record_exit()
                try:
                    self.ops.destroy()
                except Exception as e:
                    self.say(f"destroying the zone failed: {e}")
                self.answer(conn, {"ok": True})
                return
            if signo:
                self.send(p.Msg.SIGNAL, p.signal_payload(signo, req.get("all") is True))
            self.answer(conn, {"ok": True})
        elif op == "exec":
            records = req.get("records")
            if not isinstance(records, str):  # its size is bounded by MAX_REQUEST
                raise RequestError("exec records must be hex text")
            try:
                payload = p.exec_payload(0, bytes.fromhex(records))
            except ValueError as e:
                raise RequestError(f"exec records are not hex: {e}") from None
            except p.ProtocolError as e:
                raise RequestError(str(e)) from None
            self.exec_waiters.append(conn)
            self.send(p.Msg.EXEC, payload)
        elif op == "container":
            records = req.get("records")
            if not isinstance(records, str):
                raise RequestError("container records must be hex text")
            try:
                payload = p.container_payload(bytes.fromhex(records))
            except ValueError as e:
                raise RequestError(f"container records are not hex: {e}") from None
            except p.ProtocolError as e:
                raise RequestError(str(e)) from None
            self.container_waiters.append(conn)
            self.send(p.Msg.CONTAINER, payload)
        elif op == "stats":
            self.stats_waiters.append(conn)
            self.send(p.Msg.STATS_REQ)
        elif op == "update":
            records = req.get("records")
            if not isinstance(records, str):  # its size is bounded by MAX_REQUEST
                raise RequestError("update records must be hex text")
            try:
                payload = bytes.fromhex(records)
                p.decode_records(payload)
            except ValueError as e:
                raise RequestError(f"update records are not hex: {e}") from None
            except p.ProtocolError as e:
                raise RequestError(f"update records: {e}") from None
            self.update_waiters.append(conn)
            self.send(p.Msg.UPDATE, payload)
        elif op == "ping":
            self.answer(conn, {"ok": True, "started": self.started})
        else:
            raise RequestError(f"unknown request {str(op)[:64]!r}")

    def fail_waiters(self, why: str) -> None:
        for conn in [*self.start_waiters, *self.stats_waiters, *self.exec_waiters,
                     *self.update_waiters, *self.container_waiters]:
            self.answer(conn, {"ok": False, "error": why})
        self.start_waiters.clear()
        self.stats_waiters.clear()
        self.exec_waiters.clear()
        self.update_waiters.clear()
        self.container_waiters.clear()

    def answer(self, conn: socket.socket, reply: dict) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps(reply).encode() + b"\n")
        self.drop(conn)

    def drop(self, conn: socket.socket) -> None:
        fd = conn.fileno()
        if fd in self.clients:
            with contextlib.suppress(KeyError, ValueError):
                self.poller.unregister(fd)
            del self.clients[fd]
        conn.close()


# The frames a zone sends; others are unknown types (ignored, for forward compatibility).
ZONE_FRAMES = frozenset({p.Msg.READY, p.Msg.ERROR, p.Msg.STARTED, p.Msg.STDOUT, p.Msg.STDERR,
                         p.Msg.EXIT, p.Msg.STATS, p.Msg.EXEC_PORT, p.Msg.UPDATE,
                         p.Msg.CONTAINER_PORT})


def abandon_domain(mon: Monitor) -> None:
    """Destroy the zone's domain, found by its name (unique per --root and id)."""
    try:
        with XenStore() as xs:
            for entry in xs.ls("/local/domain"):
                if xs.try_read(f"/local/domain/{entry}/name") == mon.name:
                    from .shares import destroy_domain  # only here, as in XenZoneOps.destroy

                    destroy_domain(xs, int(entry), mon.name)
                    mon.say(f"destroyed domain {entry} ({mon.name}): create did not take it")
    except (OSError, domain.DomainError) as e:
        mon.say(f"could not destroy {mon.name}: {e}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
            continue
        except BrokenPipeError:
            return
        view = view[n:]


def forward_signals() -> tuple[socket.socket, socket.socket]:
    """Catch the signals the workload gets; their numbers arrive on the first socket. The
    caller keeps both open (the second is the interpreter's wakeup fd)."""
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    for s in FORWARDED_SIGNALS:
        signal.signal(s, lambda *_: None)
    return wake_r, wake_w


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="edera-oci-monitor")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--domid", type=int, default=-1)
    ap.add_argument("--name", required=True)
    ap.add_argument("--spec-file")
    ap.add_argument("--exec-file", help="an exec: the process records to run in the zone")
    ap.add_argument("--pod-sandbox-dir",
                    help="a pod's further container: the state directory of its sandbox")
    ap.add_argument("--ready-fd", type=int, required=True)
    ap.add_argument("--go-fd", type=int, default=-1)
    ap.add_argument("--control-fd", type=int, default=-1)
    ap.add_argument("--tty-fd", type=int, default=-1)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None, zone_ops: Callable[[int, str], ZoneOps] = XenZoneOps,
         stdio: tuple[int, int, int] = (0, 1, 2)) -> int:
    # Its own, not only the CLI's: its log and exit status may hold what the container said.
    os.umask(0o077)
    args = parse_args(argv)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    mon = Monitor(args, zone_ops, stdio)
    faulthandler.enable(mon.log)  # a crash leaves its Python stack in monitor.log
    try:
        if args.exec_file:
            pid = mon.boot_exec()
            mon.report(f"ready {pid}")
        else:
            mon.boot()
            mon.report("ready")
    except p.ProtocolError as e:
        mon.violation(str(e))
        mon.report(f"error the zone broke the protocol: {e}")
        return 1
    except Exception as e:  # report any boot failure to the caller, which cleans up
        mon.say("boot failed: " + "".join(traceback.format_exception(e)))
        if not args.exec_file and not args.pod_sandbox_dir:
            # create may be gone (killed before the handover): the domain is not left behind
            # (a pod container's domain is the pod's: the zone frees its container itself)
            abandon_domain(mon)
        with contextlib.suppress(OSError):
            mon.report(f"error {e}")
        return 1
    wake_r, _wake_w = forward_signals()
    try:
        status = mon.run(wake_r.fileno())
    except Exception as e:
        mon.say("monitor failed: " + "".join(traceback.format_exception(e)))
        return 255
    mon.say(f"exiting with {status}")
    return status


if __name__ == "__main__":
    from edera_oci.process_exit import call_and_exit

    call_and_exit(main)
