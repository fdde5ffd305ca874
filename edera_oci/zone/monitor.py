"""The monitor: the one small host process a container leaves behind in dom0.

It is what the engine sees as the container's process: a child of `create` (so the engine's
subreaper inherits it), its pid in the pid file, holding the stdio `create` was given. It boots the
zone once `create` has run its hooks, relays the zone's stdout and stderr to its own fds 1 and 2
separately, forwards stdin and signals, answers `start`/`kill`/`stats` on its control socket, and
exits with the workload's exit status. Started as `python3 -m edera_oci.zone.monitor` so that it
carries none of the CLI's imports.
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
from pathlib import Path

from ..xen import domain
from ..xen.vchan import VchanClient, VchanClosed
from ..xen.xenstore import XenStore
from . import protocol as p
from .control import BOOT_TIMEOUT, EXIT_STATUS_FILE

FORWARDED_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1,
                     signal.SIGUSR2, signal.SIGTERM, signal.SIGALRM, signal.SIGCONT)
INIT_PORT = 1


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


class Monitor:
    def __init__(self, args: argparse.Namespace) -> None:
        self.state_dir = Path(args.state_dir)
        self.domid: int = args.domid  # for create, it comes with create's go
        self.name: str = args.name
        self.spec_file = Path(args.spec_file) if args.spec_file else None
        self.exec_records = Path(args.exec_file).read_bytes() if args.exec_file else None
        self.report_fd: int = args.ready_fd
        self.go_fd: int = args.go_fd
        self.control = socket.socket(fileno=args.control_fd) if args.control_fd >= 0 else None
        self.next_port = INIT_PORT + 1
        self.tty_fd: int | None = args.tty_fd if args.tty_fd >= 0 else None
        self.log = open(self.state_dir / "monitor.log", "a", buffering=1)  # noqa: SIM115
        self.xs = XenStore()
        self.chan: VchanClient | None = None
        self.reader = p.FrameReader()
        self.outbox = bytearray()
        self.started = False
        self.start_waiters: list[socket.socket] = []
        self.stats_waiters: list[socket.socket] = []
        self.clients: dict[int, tuple[socket.socket, bytearray]] = {}
        self.exit_status: int | None = None
        self.input_fd: int | None = None
        self.winsize: bytes | None = None

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
        if len(go) != 2 or go[0] != b"go":
            raise BootFailed("create was abandoned before the zone booted")
        self.domid = int(go[1])
        spec = self.spec_file.read_bytes()
        t0 = time.monotonic()
        domain.unpause(self.domid)
        path = vchan_path(self.domid, INIT_PORT)
        deadline = t0 + BOOT_TIMEOUT
        self.connect(path, deadline)
        self.say(f"zone channel up after {time.monotonic() - t0:.2f} s")
        self.send(p.Msg.SPEC, spec)
        while True:
            frame = self.next_frame(deadline)
            if frame.type == p.Msg.READY:
                self.say(f"zone ready after {time.monotonic() - t0:.2f} s")
                return
            if frame.type == p.Msg.ERROR:
                raise BootFailed("zone setup failed: " + frame.payload.decode(errors="replace"))
            if frame.type == p.Msg.EXIT:
                status = p.exit_status(frame.payload)
                raise BootFailed(f"the zone init exited during setup ({status})")

    def connect(self, path: str, deadline: float) -> None:
        """Wait for the zone's vchan server at path, then connect to it."""
        while self.xs.try_read(f"{path}/event-channel") is None:
            if not domain.is_alive(self.xs, self.domid, self.name):
                raise BootFailed("the zone died (see its console log "
                                 f"/var/log/xen/console/guest-{self.name}.log)")
            if time.monotonic() > deadline:
                raise BootFailed(f"no zone channel at {path} in time")
            with contextlib.suppress(TimeoutError):
                self.xs.wait_for(f"{path}/event-channel", lambda v: v is not None, 1.0)
        self.chan = VchanClient(self.domid, path)

    def boot_exec(self) -> int:
        """exec: have the container's monitor ask the zone for a channel, wait for STARTED."""
        from . import control

        try:
            port = control.request(self.state_dir, "exec",
                                   records=self.exec_records.hex())["port"]
        except control.ControlError as e:
            raise BootFailed(str(e)) from None
        deadline = time.monotonic() + 120
        self.connect(vchan_path(self.domid, port), deadline)
        while True:
            frame = self.next_frame(deadline)
            if frame.type == p.Msg.STARTED:
                self.handle_started(frame, None)
                return p.started_pid(frame.payload)
            if frame.type == p.Msg.ERROR:
                raise BootFailed("exec failed: " + frame.payload.decode(errors="replace"))
            if frame.type == p.Msg.EXIT:
                raise BootFailed(f"exec ended before it started ({p.exit_status(frame.payload)})")

    def next_frame(self, deadline: float) -> p.Frame:
        pending: list[p.Frame] = []
        while not pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BootFailed("the zone did not answer the spec in time")
            self.flush()
            r, _, _ = select.select([self.chan], [], [], min(left, 1.0))
            if r:
                self.chan.ack_event()
            pending = list(self.reader.feed(self.chan.read()))
        for extra in pending[1:]:
            self.reader = _prepend(self.reader, extra)
        return pending[0]

    # -- channel --------------------------------------------------------------------------------
    def send(self, msg: int, payload: bytes = b"") -> None:
        self.outbox += p.encode_frame(msg, payload)
        self.flush()

    def flush(self) -> None:
        while self.outbox and self.chan:
            n = self.chan.write(bytes(self.outbox[:65536]))
            if n <= 0:
                return
            del self.outbox[:n]

    # -- main loop ------------------------------------------------------------------------------
    def run(self) -> int:
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        signal.set_wakeup_fd(wake_w.fileno())
        for s in FORWARDED_SIGNALS:
            signal.signal(s, lambda *_: None)
        if self.tty_fd is not None:
            tty.setraw(self.tty_fd, termios.TCSANOW)
        poller = select.poll()
        poller.register(self.chan.fileno(), select.POLLIN)
        if self.control is not None:
            poller.register(self.control.fileno(), select.POLLIN)
        poller.register(wake_r.fileno(), select.POLLIN)
        if self.input_fd is not None:
            poller.register(self.input_fd, select.POLLIN)
        while self.exit_status is None:
            for fd, _ev in poller.poll(500):
                if fd == self.chan.fileno():
                    self.chan.ack_event()
                elif self.control is not None and fd == self.control.fileno():
                    conn, _ = self.control.accept()
                    self.clients[conn.fileno()] = (conn, bytearray())
                    poller.register(conn.fileno(), select.POLLIN)
                elif fd == wake_r.fileno():
                    for signo in wake_r.recv(64):
                        if self.started:
                            self.send(p.Msg.SIGNAL, p.signal_payload(signo))
                elif fd == self.input_fd:
                    self.pump_input(poller)
                elif fd in self.clients:
                    self.serve_client(fd, poller)
            self.pump_channel(poller)
            self.poll_winsize()
        return self.exit_status

    def pump_channel(self, poller: select.poll) -> None:
        try:
            data = self.chan.read()
            while data:
                for frame in self.reader.feed(data):
                    self.handle(frame, poller)
                data = self.chan.read()
            self.flush()
        except VchanClosed:
            if self.exit_status is None:
                value = self.xs.try_read(f"/local/domain/{self.domid}/edera/exit-status")
                self.exit_status = int(value) if value else 128 + signal.SIGKILL
                self.say(f"zone channel closed without EXIT; status {self.exit_status}")
                self.record_exit()

    def handle(self, frame: p.Frame, poller: select.poll) -> None:
        if frame.type == p.Msg.STDOUT:
            _write_all(self.tty_fd if self.tty_fd is not None else 1, frame.payload)
        elif frame.type == p.Msg.STDERR:
            _write_all(2, frame.payload)
        elif frame.type == p.Msg.STARTED:
            pid = self.handle_started(frame, poller)
            for conn in self.start_waiters:
                self.answer(conn, {"ok": True, "pid": pid}, poller)
            self.start_waiters.clear()
        elif frame.type == p.Msg.ERROR:
            msg = frame.payload.decode(errors="replace")
            self.say(f"zone error: {msg}")
            for conn in self.start_waiters:
                self.answer(conn, {"ok": False, "error": msg}, poller)
            self.start_waiters.clear()
        elif frame.type == p.Msg.STATS:
            stats = dict(line.split(None, 1) for line in frame.payload.decode().splitlines()
                         if " " in line)
            for conn in self.stats_waiters:
                self.answer(conn, {"ok": True, "stats": stats}, poller)
            self.stats_waiters.clear()
        elif frame.type == p.Msg.EXIT:
            self.exit_status = p.exit_status(frame.payload)
            self.say(f"workload exited with status {self.exit_status}")
            self.record_exit()
            self.send(p.Msg.EXIT_ACK)
            for conn in self.start_waiters:
                self.answer(conn, {"ok": True, "pid": 0, "exited": self.exit_status}, poller)

    def handle_started(self, frame: p.Frame, poller: select.poll | None) -> int:
        self.started = True
        pid = p.started_pid(frame.payload)
        self.say(f"process started, zone pid {pid}")
        self.input_fd = self.tty_fd if self.tty_fd is not None else 0
        os.set_blocking(self.input_fd, False)
        if poller is not None:
            poller.register(self.input_fd, select.POLLIN)
        return pid

    def record_exit(self) -> None:
        if self.exec_records is not None:
            return  # an exec's status is its monitor's exit status; the container's is apart
        write_atomic(self.state_dir / EXIT_STATUS_FILE, f"{self.exit_status}\n")

    def pump_input(self, poller: select.poll) -> None:
        try:
            data = os.read(self.input_fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.send(p.Msg.STDIN, data)
        else:
            poller.unregister(self.input_fd)
            if self.tty_fd is None:
                self.send(p.Msg.STDIN_EOF)
            self.input_fd = None

    def poll_winsize(self) -> None:
        if self.tty_fd is None or not self.started:
            return
        size = fcntl.ioctl(self.tty_fd, termios.TIOCGWINSZ, b"\0" * 8)
        if size != self.winsize:
            self.winsize = size
            rows, cols = struct.unpack("HHHH", size)[:2]
            if rows and cols:
                self.send(p.Msg.RESIZE, p.resize_payload(rows, cols))

    # -- control socket -------------------------------------------------------------------------
    def serve_client(self, fd: int, poller: select.poll) -> None:
        conn, buf = self.clients[fd]
        chunk = conn.recv(65536)
        if not chunk:
            self.drop(conn, poller)
            return
        buf += chunk
        if b"\n" not in buf:
            return
        req = json.loads(bytes(buf).split(b"\n", 1)[0])
        op = req.get("op")
        if op == "start":
            if self.started:
                self.answer(conn, {"ok": False, "error": "container already started"}, poller)
            else:
                self.start_waiters.append(conn)
                self.send(p.Msg.START)
        elif op == "signal":
            signo = int(req["signo"])
            if not self.started and signo != 0:
                self.say(f"signal {signo} before start: ending the zone")
                self.exit_status = 128 + signo
                self.record_exit()
                try:
                    domain.destroy(self.domid)
                except domain.DomainError as e:
                    self.say(str(e))
                self.answer(conn, {"ok": True}, poller)
                return
            if signo:
                self.send(p.Msg.SIGNAL, p.signal_payload(signo, bool(req.get("all"))))
            self.answer(conn, {"ok": True}, poller)
        elif op == "exec":
            port = self.next_port
            self.next_port += 1
            self.send(p.Msg.EXEC, p.exec_payload(port, bytes.fromhex(req["records"])))
            self.answer(conn, {"ok": True, "port": port}, poller)
        elif op == "stats":
            self.stats_waiters.append(conn)
            self.send(p.Msg.STATS_REQ)
        elif op == "ping":
            self.answer(conn, {"ok": True, "started": self.started}, poller)
        else:
            self.answer(conn, {"ok": False, "error": f"unknown request {op!r}"}, poller)

    def answer(self, conn: socket.socket, reply: dict, poller: select.poll) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps(reply).encode() + b"\n")
        self.drop(conn, poller)

    def drop(self, conn: socket.socket, poller: select.poll) -> None:
        fd = conn.fileno()
        if fd in self.clients:
            poller.unregister(fd)
            del self.clients[fd]
        conn.close()


def abandon_domain(mon: Monitor) -> None:
    """Destroy the zone's domain, found by its name (unique per --root and id)."""
    try:
        with XenStore() as xs:
            for entry in xs.ls("/local/domain"):
                if xs.try_read(f"/local/domain/{entry}/name") == mon.name:
                    domain.destroy(int(entry))
                    mon.say(f"destroyed domain {entry} ({mon.name}): create did not take it")
    except (OSError, domain.DomainError) as e:
        mon.say(f"could not destroy {mon.name}: {e}")


def _prepend(reader: p.FrameReader, frame: p.Frame) -> p.FrameReader:
    """Put a frame back in front of what the reader still holds (boot reads one at a time)."""
    fresh = p.FrameReader()
    fresh._buf = bytearray(p.encode_frame(frame.type, frame.payload)) + reader._buf
    return fresh


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="edera-oci-monitor")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--domid", type=int, default=-1)
    ap.add_argument("--name", required=True)
    ap.add_argument("--spec-file")
    ap.add_argument("--exec-file", help="an exec: the process records to run in the zone")
    ap.add_argument("--ready-fd", type=int, required=True)
    ap.add_argument("--go-fd", type=int, default=-1)
    ap.add_argument("--control-fd", type=int, default=-1)
    ap.add_argument("--tty-fd", type=int, default=-1)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    mon = Monitor(args)
    faulthandler.enable(mon.log)  # a crash leaves its Python stack in monitor.log
    try:
        if args.exec_file:
            pid = mon.boot_exec()
            mon.report(f"ready {pid}")
        else:
            mon.boot()
            mon.report("ready")
    except Exception as e:  # report any boot failure to the caller, which cleans up
        mon.say("boot failed: " + "".join(traceback.format_exception(e)))
        if not args.exec_file:
            # create may be gone (killed before the handover): the domain is not left behind
            abandon_domain(mon)
        with contextlib.suppress(OSError):
            mon.report(f"error {e}")
        return 1
    try:
        status = mon.run()
    except Exception as e:
        mon.say("monitor failed: " + "".join(traceback.format_exception(e)))
        return 255
    mon.say(f"exiting with {status}")
    return status


if __name__ == "__main__":
    from edera_oci.process_exit import call_and_exit

    call_and_exit(main)
