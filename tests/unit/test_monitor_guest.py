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
