"""The monitor's terminal (a foreground `run` with terminal: true gets the caller's own terminal:
its modes and file flags come back as they were), and the CLI side of the monitor's requests:
an exec too large for the channel, guest stats, a terminal with nowhere to come from.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import termios
from pathlib import Path
from types import SimpleNamespace

import pytest

from edera_oci.errors import ZoneError
from edera_oci.zone import protocol as p
from edera_oci.zone.backend import XenZoneBackend

from .monitor_harness import HostInitZone, launch, make_monitor, sh, wait_for
from .test_zone_init import host_init, unit_run  # noqa: F401  (the built edera-init-host)


def read_until(fd: int, text: bytes, timeout: float = 10.0) -> bytes:
    seen = b""

    def more() -> bool:
        nonlocal seen
        with contextlib.suppress(BlockingIOError):
            seen += os.read(fd, 65536)
        return text in seen

    wait_for(more, timeout, f"{text!r} on the terminal")
    return seen


def test_a_foreground_terminal_is_restored_on_exit(host_init: Path, tmp_path: Path) -> None:  # noqa: F811
    master, slave = os.openpty()  # the caller's terminal: the monitor gets a dup of it
    os.set_blocking(master, False)
    before = termios.tcgetattr(slave)
    flags_before = fcntl.fcntl(slave, fcntl.F_GETFL)
    assert before[3] & termios.ICANON and before[3] & termios.ECHO
    zone = HostInitZone(host_init, tmp_path / "zone")
    records = sh("stty size; read line; echo got:$line; exit 6",
                 (p.Tag.TERMINAL, b""), (p.Tag.TERM_SIZE, ["24", "80"]))
    run = make_monitor(tmp_path, zone, records=records, tty_fd=os.dup(slave))
    try:
        launch(run)
        assert run.booted.wait(10) and run.boot_error is None, run.boot_error
        run.request("start")
        read_until(master, b"24 80")
        raw = termios.tcgetattr(slave)
        assert not raw[3] & termios.ICANON  # raw while the workload runs
        os.write(master, b"hello\r")
        seen = read_until(master, b"got:hello")
        assert b"got:hello" in seen
        assert run.wait() == 6
        after = termios.tcgetattr(slave)
        assert after == before
        assert fcntl.fcntl(slave, fcntl.F_GETFL) == flags_before  # O_NONBLOCK untouched
    finally:
        run.cleanup()
        zone.close()
        os.close(master)
        os.close(slave)


def test_the_terminal_resize_reaches_the_workload(host_init: Path, tmp_path: Path) -> None:  # noqa: F811
    master, slave = os.openpty()
    os.set_blocking(master, False)
    zone = HostInitZone(host_init, tmp_path / "zone")
    records = sh("read a; stty size; read b; exit 0", (p.Tag.TERMINAL, b""))
    run = make_monitor(tmp_path, zone, records=records, tty_fd=slave)
    try:
        launch(run)
        assert run.booted.wait(10) and run.boot_error is None
        run.request("start")
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        wait_for(lambda: run.mon.winsize is not None and
                 run.mon.winsize[:4] == struct.pack("HH", 33, 101), what="resize seen")
        os.write(master, b"\r")
        read_until(master, b"33 101")
        os.write(master, b"\r")
        assert run.wait() == 0
    finally:
        run.cleanup()
        zone.close()
        os.close(master)
        os.close(slave)


def test_terminal_without_console_socket_or_tty_is_a_clear_error(tmp_path: Path,
                                                                  monkeypatch) -> None:
    monkeypatch.setattr(os, "isatty", lambda fd: False)
    fds_before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(ZoneError, match="no --console-socket and stdin is not a terminal"):
        XenZoneBackend()._terminal(True, None)
    assert set(os.listdir("/proc/self/fd")) == fds_before  # the pty is closed again


def test_an_exec_terminal_without_a_source_leaves_nothing_behind(tmp_path: Path,
                                                                  monkeypatch) -> None:
    monkeypatch.setattr(os, "isatty", lambda fd: False)
    state = SimpleNamespace(zone={"state_dir": str(tmp_path), "domid": 5, "name": "edera-x"})
    req = SimpleNamespace(process=SimpleNamespace(raw={"args": ["sh"], "terminal": True},
                                                  terminal=True),
                          detach=False, console_socket=None, preserve_fds=0)
    with pytest.raises(ZoneError, match="stdin is not a terminal"):
        XenZoneBackend().exec(state, req)
    assert list(tmp_path.iterdir()) == []


def test_an_exec_over_the_frame_limit_fails_before_the_monitor_is_asked(tmp_path: Path) -> None:
    process = {"args": ["true"], "cwd": "/", "env": ["X=" + "y" * p.MAX_PAYLOAD],
               "user": {"uid": 0, "gid": 0}}
    state = SimpleNamespace(zone={"state_dir": str(tmp_path), "domid": 5, "name": "edera-x"})
    req = SimpleNamespace(process=SimpleNamespace(raw=process, terminal=False), detach=False,
                          console_socket=None, preserve_fds=0)
    with pytest.raises(ZoneError, match="the zone channel takes at most"):
        XenZoneBackend().exec(state, req)
    assert list(tmp_path.iterdir()) == []  # no exec file, no monitor


@pytest.mark.parametrize("raw,expected", [
    ({"mem_total_kb": 1000, "mem_available_kb": 400, "pids": 3, "cpu_usage_ns": 9},
     (1000 * 1024, 600 * 1024, 3, 9)),
    ({"mem_total_kb": "abc", "mem_available_kb": -5, "pids": 1 << 70, "cpu_usage_ns": 1.5},
     (0, 0, 0, 0)),
    ({"mem_total_kb": 10, "mem_available_kb": 99}, (10 * 1024, 0, 0, 0)),
    ("not a dict", (0, 0, 0, 0)),
])
def test_backend_stats_never_trust_the_numbers(monkeypatch, raw, expected) -> None:
    backend = XenZoneBackend()
    monkeypatch.setattr(backend, "_request", lambda state, op: {"ok": True, "stats": raw})
    state = SimpleNamespace(zone={"state_dir": "/nonexistent"})
    stats = backend.stats(state)
    limit, usage, pids, cpu = expected
    assert stats["memory"]["usage"] == {"usage": usage, "limit": limit}
    assert stats["pids"]["current"] == pids
    assert stats["cpu"]["usage"]["total"] == cpu


def test_signals_reach_the_monitor_through_main(host_init: Path, tmp_path: Path) -> None:  # noqa: F811
    """main(): the boot report, the real signal handlers (forwarded to the zone), the status."""
    import threading

    from edera_oci.zone import monitor

    zone = HostInitZone(host_init, tmp_path / "zone")
    run = make_monitor(tmp_path, zone, records=sh(
        "trap 'echo got-hup; exit 9' HUP; echo up; while :; do sleep 0.05; done"))
    report_r, report_w = os.pipe()
    args = ["--state-dir", str(run.state_dir), "--name", "edera-test",
            "--spec-file", str(run.mon.spec_file), "--ready-fd", str(report_w),
            "--go-fd", str(run.mon.go_fd), "--control-fd", str(run.mon.control.detach())]
    run.mon.log.close()
    saved = {s: signal.getsignal(s) for s in monitor.FORWARDED_SIGNALS}
    out = os.open(tmp_path / "main-out", os.O_WRONLY | os.O_CREAT, 0o600)

    def drive() -> None:
        assert os.read(report_r, 100) == b"ready\n"
        run.request("start")
        wait_for(lambda: b"up" in (tmp_path / "main-out").read_bytes(), what="up")
        os.kill(os.getpid(), signal.SIGHUP)

    t = threading.Thread(target=drive, daemon=True)
    t.start()
    watchdog = threading.Timer(20, zone.destroy)  # a lost signal must not hang the suite
    watchdog.start()
    try:
        status = monitor.main(args, zone_ops=lambda d, n: zone, stdio=(run.mon.stdin_fd, out, 2))
    finally:
        watchdog.cancel()
        signal.set_wakeup_fd(-1)
        for s, h in saved.items():
            signal.signal(s, h)
        import faulthandler
        import sys

        faulthandler.enable(sys.stderr)
        t.join(10)
        os.close(report_r)
        os.close(out)
        run.cleanup()
        zone.close()
    assert status == 9
    assert b"got-hup" in (tmp_path / "main-out").read_bytes()
