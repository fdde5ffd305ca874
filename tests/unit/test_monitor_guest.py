"""The monitor against a zone that the test speaks for: frames in one read, and every kind of
garbage a hostile zone can send (frames, the exit-status key, stats), stdin backpressure, and
malformed control requests. Guest garbage never crashes the monitor and never yields a wrong
status: the zone is destroyed, the status is 137, and the log says why.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from edera_oci.zone import control
from edera_oci.zone import protocol as p
from edera_oci.zone.control import EXIT_STATUS_FILE
from edera_oci.zone.monitor import STDIN_BUFFER, VIOLATION_STATUS, BootFailed

from .monitor_harness import ScriptedZone, launch, make_monitor, sh, wait_for

u32 = struct.Struct("<I").pack
i32 = struct.Struct("<i").pack


@pytest.fixture
def runs():
    made: list = []
    yield made
    for r in made:
        r.cleanup()


def booted_container(tmp_path: Path, runs: list, zone: ScriptedZone, *, start: bool = True,
                     **kw):
    """A container monitor past create's handshake (and start, with STARTED answered)."""
    zone.send(p.Msg.READY)
    run = make_monitor(tmp_path, zone, records=sh("true"), name=f"c{len(runs)}", **kw)
    runs.append(run)
    launch(run)
    assert run.booted.wait(10) and run.boot_error is None, run.boot_error
    frames = zone.frames()
    assert [f.type for f in frames] == [p.Msg.SPEC]
    if start:
        answer: dict = {}
        t = threading.Thread(target=lambda: answer.update(run.request("start")))
        t.start()
        wait_for(lambda: run.mon.start_sent, what="START sent")
        assert [f.type for f in zone.frames()] == [p.Msg.START]
        zone.send(p.Msg.STARTED, u32(42))
        t.join(10)
        assert answer == {"ok": True, "pid": 42}
    return run


class FakeContainerMonitor:
    """The container's control socket, answering one exec request with a port."""

    def __init__(self, state_dir: Path, answer: dict) -> None:
        self.sock = control.listen(state_dir)
        self.requests: list = []
        self.thread = threading.Thread(target=self.serve, args=(answer,), daemon=True)
        self.thread.start()

    def serve(self, answer: dict) -> None:
        conn, _ = self.sock.accept()
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                data += conn.recv(65536)
            self.requests.append(json.loads(data))
            conn.sendall(json.dumps(answer).encode() + b"\n")
        self.sock.close()


def exec_monitor(tmp_path: Path, runs: list, zone: ScriptedZone, answer: dict | None = None):
    state_dir = tmp_path / f"ctr{len(runs)}"
    state_dir.mkdir(exist_ok=True)
    FakeContainerMonitor(state_dir, answer or {"ok": True, "port": 2})
    run = make_monitor(tmp_path, zone, exec_records=sh("true"), state_dir=state_dir,
                       name=f"e{len(runs)}")
    runs.append(run)
    return run


# -- frames are never lost or reordered --------------------------------------------------------
def test_frame_reader_keeps_frames_of_one_read_queued_in_order() -> None:
    reader = p.FrameReader()
    reader.push(b"".join([p.encode_frame(p.Msg.STARTED, u32(9)),
                          p.encode_frame(p.Msg.STDOUT, b"line1\n"),
                          p.encode_frame(p.Msg.STDOUT, b"line2\n"),
                          p.encode_frame(p.Msg.EXIT, i32(3))]))
    first = reader.pop()
    assert first == p.Frame(p.Msg.STARTED, u32(9))
    rest = [reader.pop(), reader.pop(), reader.pop()]  # no new bytes needed
    assert rest == [p.Frame(p.Msg.STDOUT, b"line1\n"), p.Frame(p.Msg.STDOUT, b"line2\n"),
                    p.Frame(p.Msg.EXIT, i32(3))]
    assert reader.pop() is None and len(reader) == 0


def test_frame_reader_hands_out_good_frames_before_an_oversized_one() -> None:
    reader = p.FrameReader()
    reader.push(p.encode_frame(p.Msg.STDOUT, b"ok") + struct.pack("<II", 35, p.MAX_PAYLOAD + 1))
    assert reader.pop() == p.Frame(p.Msg.STDOUT, b"ok")
    with pytest.raises(p.ProtocolError, match="exceeds"):
        reader.pop()
    reader.push(b"more")  # ignored: the stream is broken
    with pytest.raises(p.ProtocolError):
        reader.feed(b"")


def test_exec_started_output_and_exit_in_one_read(tmp_path, runs) -> None:
    zone = ScriptedZone()
    run = exec_monitor(tmp_path, runs, zone)
    zone.peer(2).sendall(b"".join([p.encode_frame(p.Msg.STARTED, u32(9)),
                                   p.encode_frame(p.Msg.STDOUT, b"line1\n"),
                                   p.encode_frame(p.Msg.STDOUT, b"line2\n"),
                                   p.encode_frame(p.Msg.EXIT, i32(3))]))
    launch(run)
    assert run.wait(5) == 3
    assert run.stdout() == b"line1\nline2\n"
    assert [f.type for f in zone.frames(2)] == [p.Msg.EXIT_ACK]
    assert zone.exit_status_reads == 0 and not zone.destroyed


def test_exec_channel_closed_without_exit_never_reads_the_containers_key(tmp_path,
                                                                          runs) -> None:
    zone = ScriptedZone()
    zone.exit_status_value = "3"  # the container's status, not the exec's
    run = exec_monitor(tmp_path, runs, zone)
    zone.send(p.Msg.STARTED, u32(9), port=2)
    launch(run)
    assert run.booted.wait(5) and run.boot_error is None
    zone.peer(2).close()
    assert run.wait(5) == VIOLATION_STATUS
    assert zone.exit_status_reads == 0
    assert "closed without EXIT" in run.log()


def test_exec_refused_by_the_container_monitor(tmp_path, runs) -> None:
    zone = ScriptedZone()
    run = exec_monitor(tmp_path, runs, zone, {"ok": False, "error": "too many execs at once"})
    with pytest.raises(BootFailed, match="too many execs"):
        run.mon.boot_exec()
    zone2 = ScriptedZone()
    run2 = exec_monitor(tmp_path, runs, zone2, {"ok": True, "port": 70000})
    with pytest.raises(BootFailed, match="port 70000"):
        run2.mon.boot_exec()


# -- guest garbage: the zone is destroyed, the status is 137, the log says why -----------------
def assert_violation(run, zone: ScriptedZone, reason: str) -> None:
    assert run.wait(5) == VIOLATION_STATUS
    assert zone.destroyed
    assert (run.state_dir / EXIT_STATUS_FILE).read_text() == f"{VIOLATION_STATUS}\n"
    assert "protocol violation by the zone: " in run.log()
    assert reason in run.log(), run.log()


RUNNING_GARBAGE = {
    "oversized frame": (struct.pack("<II", p.Msg.STDOUT, p.MAX_PAYLOAD + 1), "exceeds"),
    "short EXIT": (p.encode_frame(p.Msg.EXIT, b"\0\0\0"), "EXIT payload of 3 bytes"),
    "EXIT 256": (p.encode_frame(p.Msg.EXIT, i32(256)), "EXIT status 256"),
    "EXIT -1": (p.encode_frame(p.Msg.EXIT, i32(-1)), "EXIT status -1"),
    "second STARTED": (p.encode_frame(p.Msg.STARTED, u32(5)), "STARTED that was not asked"),
    "READY again": (p.encode_frame(p.Msg.READY), "READY after setup"),
    "ERROR after start": (p.encode_frame(p.Msg.ERROR, b"x"), "ERROR outside a start"),
    "unasked EXEC_PORT": (p.encode_frame(p.Msg.EXEC_PORT, u32(2)), "EXEC_PORT that was not"),
    "STATS not ASCII": (p.encode_frame(p.Msg.STATS, b"pids \xff"), "not ASCII"),
    "STATS not a number": (p.encode_frame(p.Msg.STATS, b"pids abc"), "STATS line 1"),
    "STATS negative": (p.encode_frame(p.Msg.STATS, b"pids 1\npids -1"), "STATS line 2"),
    "STATS over uint64": (p.encode_frame(p.Msg.STATS, b"pids 99999999999999999999"),
                          "STATS line 1"),
    "STATS no value": (p.encode_frame(p.Msg.STATS, b"pids "), "STATS line 1"),
    "STATS oversized": (p.encode_frame(p.Msg.STATS, b"a 1\n" * 2000), "exceeds 4096"),
}


@pytest.mark.parametrize("garbage", list(RUNNING_GARBAGE))
def test_garbage_from_a_running_zone(tmp_path, runs, garbage) -> None:
    zone = ScriptedZone()
    run = booted_container(tmp_path, runs, zone)
    data, reason = RUNNING_GARBAGE[garbage]
    zone.peer().sendall(p.encode_frame(p.Msg.STDOUT, b"before\n") + data +
                        p.encode_frame(p.Msg.EXIT, i32(0)))
    assert_violation(run, zone, reason)
    assert run.stdout() == b"before\n"  # what came before the garbage was handled


@pytest.mark.parametrize("frame,reason", [
    (p.encode_frame(p.Msg.STDOUT, b"x"), "STDOUT before STARTED"),
    (p.encode_frame(p.Msg.STDERR, b"x"), "STDERR before STARTED"),
    (p.encode_frame(p.Msg.STARTED, u32(5)), "STARTED that was not asked"),
    (p.encode_frame(p.Msg.ERROR, b"x"), "ERROR outside a start"),
])
def test_garbage_before_start(tmp_path, runs, frame, reason) -> None:
    zone = ScriptedZone()
    run = booted_container(tmp_path, runs, zone, start=False)
    zone.peer().sendall(frame)
    assert_violation(run, zone, reason)


def test_a_bad_pid_in_started_is_a_violation(tmp_path, runs) -> None:
    zone = ScriptedZone()
    run = booted_container(tmp_path, runs, zone, start=False)
    answer: dict = {}
    t = threading.Thread(target=lambda: answer.update(
        {"error": pytest.raises(control.ControlError, run.request, "start").value}))
    t.start()
    wait_for(lambda: run.mon.start_sent, what="START sent")
    zone.send(p.Msg.STARTED, u32(0))
    assert_violation(run, zone, "STARTED pid 0")
    t.join(5)
    assert "broke the protocol" in str(answer["error"])


def test_an_unknown_frame_type_is_ignored(tmp_path, runs) -> None:
    zone = ScriptedZone()
    run = booted_container(tmp_path, runs, zone)
    zone.send(200, b"from a newer zone")
    zone.send(p.Msg.SPEC, b"a host->zone type")
    zone.send(p.Msg.EXIT, i32(5))
    assert run.wait(5) == 5
    assert not zone.destroyed
    assert [f.type for f in zone.frames()] == [p.Msg.EXIT_ACK]


def test_a_zone_error_at_start_is_answered_to_start(tmp_path, runs) -> None:
    zone = ScriptedZone()
    run = booted_container(tmp_path, runs, zone, start=False)
    errors: list = []

    def start() -> None:
        with pytest.raises(control.ControlError) as e:
            run.request("start")
        errors.append(str(e.value))

    t = threading.Thread(target=start)
    t.start()
    wait_for(lambda: run.mon.start_sent, what="START sent")
    zone.send(p.Msg.ERROR, b"cannot fork\x1b[31m\n")
    zone.send(p.Msg.EXIT, i32(1))
    t.join(5)
    assert errors == ["cannot fork\\x1b[31m\\n"]  # guest text escaped
    assert run.wait(5) == 1
    assert not zone.destroyed


@pytest.mark.parametrize("value,status", [
    (None, VIOLATION_STATUS), ("abc", VIOLATION_STATUS), ("9" * 5000, VIOLATION_STATUS),
    ("256", VIOLATION_STATUS), (" 0 ", VIOLATION_STATUS), ("1_0", VIOLATION_STATUS),
    ("-1", VIOLATION_STATUS), ("3", 3), ("0", 0),
])
def test_the_exit_status_key_is_parsed_strictly(tmp_path, runs, value, status) -> None:
    zone = ScriptedZone()
    zone.exit_status_value = value
    run = booted_container(tmp_path, runs, zone)
    zone.peer().close()  # the channel closes without EXIT
    assert run.wait(5) == status
    assert zone.exit_status_reads == 1
    assert (run.state_dir / EXIT_STATUS_FILE).read_text() == f"{status}\n"
    if value is not None and status == VIOLATION_STATUS:
        assert "malformed edera/exit-status" in run.log()


def test_the_xen_exit_status_key_survives_bad_bytes() -> None:
    from edera_oci.zone.monitor import XenZoneOps

    class BadStore:
        def try_read(self, path: str) -> str:
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    ops = XenZoneOps(5, "edera-x")
    ops._xs = BadStore()  # type: ignore[assignment]
    assert ops.exit_status_text() is None


def test_garbage_during_create_fails_it_and_destroys_the_zone(tmp_path, runs) -> None:
    from edera_oci.zone import monitor

    zone = ScriptedZone()
    zone.send(p.Msg.STARTED, u32(3))
    run = make_monitor(tmp_path, zone, records=sh("true"))
    runs.append(run)
    report_r, report_w = os.pipe()
    args = ["--state-dir", str(run.state_dir), "--name", "edera-test",
            "--spec-file", run.mon.spec_file, "--ready-fd", str(report_w),
            "--go-fd", str(run.mon.go_fd)]
    assert monitor.main([str(a) for a in args], zone_ops=lambda d, n: zone) == 1
    assert os.read(report_r, 4096).startswith(b"error the zone broke the protocol: STARTED")
    os.close(report_r)
    assert zone.destroyed


def test_garbage_during_exec_boot_destroys_the_zone(tmp_path, runs) -> None:
    zone = ScriptedZone()
    zone.send(p.Msg.STDOUT, b"x", port=2)
    run = exec_monitor(tmp_path, runs, zone)
    with pytest.raises(p.ProtocolError, match="STDOUT before STARTED"):
        run.mon.boot_exec()


def test_the_zone_closing_during_boot_fails_it(tmp_path, runs) -> None:
    zone = ScriptedZone()
    zone.send(p.Msg.ERROR, b"mount failed")
    zone.send(p.Msg.EXIT, i32(1))
    run = make_monitor(tmp_path, zone, records=sh("true"), name="a")
    runs.append(run)
    with pytest.raises(BootFailed, match="zone setup failed: mount failed"):
        run.mon.boot()
    zone2 = ScriptedZone()
    zone2.send(p.Msg.EXIT, i32(1))
    run2 = make_monitor(tmp_path, zone2, records=sh("true"), name="b")
    runs.append(run2)
    with pytest.raises(BootFailed, match="exited during setup"):
        run2.mon.boot()
    zone3 = ScriptedZone()
    zone3.peer().close()
    run3 = make_monitor(tmp_path, zone3, records=sh("true"), name="d")
    runs.append(run3)
    with pytest.raises(BootFailed, match="closed the channel"):
        run3.mon.boot()


# -- the control socket: bad requests get an error, the monitor keeps serving ------------------
def raw_request(state_dir: Path, data: bytes) -> dict:
    with control.short_path(state_dir) as path, socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(data)
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    return json.loads(answer)


@pytest.mark.parametrize("request_bytes,error", [
    (b"not json\n", "not JSON"),
    (b"[1]\n", "not a JSON object"),
    (b"[" * 100000 + b"\n", "not JSON"),
    (b'{"op":"signal","signo":"x"}\n', "signo must be"),
    (b'{"op":"signal","signo":999}\n', "signo must be"),
    (b'{"op":"signal","signo":true}\n', "signo must be"),
    (b'{"op":"signal"}\n', "signo must be"),
    (b'{"op":"exec","records":"zz"}\n', "not hex"),
    (b'{"op":"exec","records":7}\n', "hex text"),
    (b'{"op":"exec","records":"' + b"00" * (p.MAX_EXEC_RECORDS + 1) + b'"}\n',
     "the zone channel takes at most"),
    (b'{"op":"reboot"}\n', "unknown request 'reboot'"),
    (b"x" * (2 * p.MAX_EXEC_RECORDS + 8192), "request over"),
])
def test_malformed_control_requests_answer_an_error(tmp_path, runs, request_bytes,
                                                    error) -> None:
    zone = ScriptedZone()
    run = booted_container(tmp_path, runs, zone)
    answer = raw_request(run.state_dir, request_bytes)
    assert answer["ok"] is False and error in answer["error"], answer
    assert run.request("ping") == {"ok": True, "started": True}
    assert not zone.destroyed and run.thread.is_alive()
    zone.send(p.Msg.EXIT, i32(0))
    assert run.wait(5) == 0


def test_a_client_that_goes_away_does_not_hurt(tmp_path, runs) -> None:
    zone = ScriptedZone()
    run = booted_container(tmp_path, runs, zone)
    with control.short_path(run.state_dir) as path, socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall(b'{"op":"pi')
    assert run.request("ping")["ok"]
    zone.send(p.Msg.EXIT, i32(0))
    assert run.wait(5) == 0


def test_a_monitor_answer_that_is_not_json_is_a_control_error(tmp_path) -> None:
    sock = control.listen(tmp_path)

    def serve() -> None:
        conn, _ = sock.accept()
        conn.recv(100)
        conn.sendall(b"garbage\n")
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    with pytest.raises(control.ControlError, match="malformed answer"):
        control.request(tmp_path, "ping", timeout=5)
    t.join()
    sock.close()
    with pytest.raises(control.ControlError, match="not running"):
        control.request(tmp_path, "ping", timeout=5)


def test_requests_waiting_on_the_zone_fail_when_it_exits(tmp_path, runs) -> None:
    zone = ScriptedZone()
    run = booted_container(tmp_path, runs, zone)
    errors: list = []

    def ask(op: str, **args) -> None:
        with pytest.raises(control.ControlError) as e:
            run.request(op, **args)
        errors.append(str(e.value))

    threads = [threading.Thread(target=ask, args=("stats",)),
               threading.Thread(target=ask, args=("exec",), kwargs={"records": "0100"})]
    for t in threads:
        t.start()
    wait_for(lambda: run.mon.stats_waiters and run.mon.exec_waiters, what="waiters")
    zone.send(p.Msg.EXIT, i32(2))
    for t in threads:
        t.join(5)
    assert errors == ["the container exited (2)"] * 2
    assert run.wait(5) == 2
    with pytest.raises(control.ControlError, match="not running"):
        run.request("ping")


def test_the_zone_refusing_an_exec_is_a_clear_error(tmp_path, runs) -> None:
    zone = ScriptedZone()
    run = booted_container(tmp_path, runs, zone)
    errors: list = []

    def ask() -> None:
        with pytest.raises(control.ControlError) as e:
            run.request("exec", records="0100")
        errors.append(str(e.value))

    t = threading.Thread(target=ask)
    t.start()
    wait_for(lambda: run.mon.exec_waiters, what="exec sent")
    zone.send(p.Msg.EXEC_PORT, u32(0) + b"too many execs at once (at most 63)")
    t.join(5)
    assert errors == ["exec refused by the zone: too many execs at once (at most 63)"]
    assert run.request("ping")["ok"]
    zone.send(p.Msg.EXIT, i32(0))
    assert run.wait(5) == 0


# -- stdin: bounded, and control frames overtake it ---------------------------------------------
def back_up_stdin(run) -> threading.Thread:
    """Feed the monitor's stdin far faster than the zone, which reads nothing, until a frame is
    on the wire (the ring full) and at least half a buffer of stdin is queued behind it."""
    run.mon.chan.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    total = 4 << 20
    os.set_blocking(run.stdin_w, False)

    def feed() -> None:
        sent = 0
        fd = run.stdin_w
        while sent < total:
            try:
                sent += os.write(fd, b"s" * min(65536, total - sent))
            except BlockingIOError:
                if not run.thread.is_alive():
                    return
                threading.Event().wait(0.01)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    wait_for(lambda: run.mon.stdin_queued >= STDIN_BUFFER // 2 and run.mon.wire,
             what="stdin backed up")
    return feeder


def test_stdin_is_bounded_and_a_signal_overtakes_it(tmp_path, runs) -> None:
    zone = ScriptedZone()
    run = booted_container(tmp_path, runs, zone)
    feeder = back_up_stdin(run)
    threading.Event().wait(0.3)
    assert run.mon.stdin_queued <= STDIN_BUFFER + 1024  # bounded, not an unbounded outbox
    assert run.request("signal", signo=signal.SIGTERM) == {"ok": True}
    # The zone now reads: the SIGNAL comes before the stdin that was queued behind the ring.
    assert_overtakes_queued_stdin(run, zone, p.Msg.SIGNAL)
    zone.send(p.Msg.EXIT, i32(143))
    assert run.wait(5) == 143
    feeder.join(5)


def assert_overtakes_queued_stdin(run, zone: ScriptedZone, kind: p.Msg) -> None:
    """The zone reads again: the control frame kind comes after at most the frame on the wire
    and what the ring held before it, not after the stdin queued behind the full ring."""
    reader = p.FrameReader()
    before = 0
    zone.peer().settimeout(5)
    while True:
        try:
            data = zone.peer().recv(65536)
        except TimeoutError:
            pytest.fail(f"no {kind.name} after {before} bytes of stdin")
        assert data, f"channel closed without {kind.name} after {before} bytes of stdin"
        frames = reader.feed(data)
        kinds = [f.type for f in frames]
        assert set(kinds) <= {p.Msg.STDIN, kind}, kinds
        if kind in kinds:
            before += sum(len(f.payload) for f in frames[:kinds.index(kind)])
            break
        before += sum(len(f.payload) for f in frames)
    sndbuf = run.mon.chan.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    assert before <= 65536 + 2 * sndbuf, before


def test_exit_ack_overtakes_queued_stdin(tmp_path, runs) -> None:
    """The zone reports EXIT while stdin is backed up behind a full ring, then reads on (as the
    init does, until EXIT_ACK or 5 s): EXIT_ACK reaches it, ahead of the queued stdin."""
    zone = ScriptedZone()
    run = booted_container(tmp_path, runs, zone)
    feeder = back_up_stdin(run)
    zone.send(p.Msg.EXIT, i32(0))
    wait_for(lambda: run.mon.exit_status is not None, what="EXIT handled")
    threading.Event().wait(0.3)  # the monitor is past its loop before the zone reads again
    assert_overtakes_queued_stdin(run, zone, p.Msg.EXIT_ACK)
    assert run.wait(5) == 0
    assert (run.state_dir / EXIT_STATUS_FILE).read_text() == "0\n"
    assert "did not take EXIT_ACK" not in run.log()
    feeder.join(5)


def test_a_zone_that_never_takes_exit_ack_does_not_hold_the_monitor(tmp_path, runs,
                                                                   monkeypatch) -> None:
    from edera_oci.zone import monitor

    monkeypatch.setattr(monitor, "EXIT_ACK_TIMEOUT", 0.5)
    zone = ScriptedZone()
    run = booted_container(tmp_path, runs, zone)
    feeder = back_up_stdin(run)
    t0 = time.monotonic()
    zone.send(p.Msg.EXIT, i32(3))  # and never reads again
    assert run.wait(5) == 3
    assert 0.5 <= time.monotonic() - t0 < 3
    assert (run.state_dir / EXIT_STATUS_FILE).read_text() == "3\n"
    assert "the zone did not take EXIT_ACK" in run.log()
    feeder.join(5)


def test_a_spec_over_the_frame_limit_is_the_hosts_error(tmp_path, runs) -> None:
    zone = ScriptedZone()
    run = make_monitor(tmp_path, zone, records=b"\0" * (p.MAX_PAYLOAD + 1))
    runs.append(run)
    with pytest.raises(BootFailed, match="spec does not fit the zone channel"):
        run.mon.boot()
    assert not zone.destroyed
