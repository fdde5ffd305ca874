"""The monitor end to end on the host, against the real zone init (edera-init-host): create's
handshake, start, stdout and stderr apart, stdin, signals, stats, exec (and its ports being
reused), and the exit status, over sockets instead of vchans.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from edera_oci.zone import control
from edera_oci.zone import protocol as p
from edera_oci.zone.control import EXIT_STATUS_FILE
from edera_oci.zone.monitor import BootFailed

from .monitor_harness import HostInitZone, launch, make_monitor, sh, wait_for
from .test_zone_init import host_init, unit_run  # noqa: F401  (the built edera-init-host)


@pytest.fixture
def init_zone(host_init: Path, tmp_path: Path):  # noqa: F811
    zones: list[HostInitZone] = []
    runs: list = []

    def make() -> HostInitZone:
        z = HostInitZone(host_init, tmp_path / f"zone{len(zones)}")
        zones.append(z)
        return z

    make.runs = runs  # type: ignore[attr-defined]
    yield make
    for z in zones:
        z.close()
    for r in runs:
        r.cleanup()


def container(init_zone, tmp_path: Path, records: bytes, **kw):
    zone = init_zone()
    run = make_monitor(tmp_path, zone, records=records, name=f"c{len(init_zone.runs)}", **kw)
    init_zone.runs.append(run)
    launch(run)
    assert run.booted.wait(15), run.log()
    assert run.boot_error is None, f"{run.boot_error}\n{run.log()}\n{zone.log()}"
    return zone, run


def exec_in(init_zone, tmp_path: Path, zone: HostInitZone, ctr, records: bytes, name: str,
            **kw):
    run = make_monitor(tmp_path, zone, exec_records=records, state_dir=ctr.state_dir,
                       name=name, **kw)
    init_zone.runs.append(run)
    return launch(run)


def test_run_relays_stdout_and_stderr_apart_and_the_exit_status(init_zone, tmp_path) -> None:
    zone, run = container(init_zone, tmp_path, sh("echo out; echo err >&2; exit 3"))
    assert run.request("ping") == {"ok": True, "started": False}
    answer = run.request("start")
    assert answer["ok"] and (answer.get("pid", 0) > 0 or answer.get("exited") == 3)
    assert run.wait() == 3
    assert run.stdout() == b"out\n"
    assert run.stderr() == b"err\n"
    assert (run.state_dir / EXIT_STATUS_FILE).read_text() == "3\n"
    assert "workload exited with status 3" in run.log()
    zone.proc.wait(10)  # EXIT_ACK reached the init: it powered off
    assert zone.proc.returncode == 0


def test_stdin_is_relayed_then_closed(init_zone, tmp_path) -> None:
    zone, run = container(init_zone, tmp_path, sh("cat; echo done"))
    run.request("start")
    import os

    os.write(run.stdin_w, b"hello\n" * 10000)
    run.close_stdin()
    assert run.wait() == 0
    assert run.stdout() == b"hello\n" * 10000 + b"done\n"


def test_signals_reach_the_workload(init_zone, tmp_path) -> None:
    zone, run = container(init_zone, tmp_path, sh(
        "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.05; done"))
    run.request("start")
    wait_for(lambda: b"ready" in run.stdout(), what="ready")
    run.signal(signal.SIGUSR1)  # as the monitor's own SIGUSR1 arrives
    wait_for(lambda: b"got-usr1" in run.stdout(), what="the trap")
    with pytest.raises(control.ControlError, match="signo"):
        run.request("signal", signo=99)
    assert run.request("signal", signo=0) == {"ok": True}
    assert run.request("signal", signo=signal.SIGTERM) == {"ok": True}
    assert run.wait() == 128 + signal.SIGTERM


def test_signal_before_start_ends_the_zone(init_zone, tmp_path) -> None:
    zone, run = container(init_zone, tmp_path, sh("exit 0"))
    assert run.request("signal", signo=signal.SIGKILL) == {"ok": True}
    assert run.wait() == 137
    assert zone.destroyed
    assert (run.state_dir / EXIT_STATUS_FILE).read_text() == "137\n"


def test_start_twice_is_refused_and_requests_after_exit_fail(init_zone, tmp_path) -> None:
    zone, run = container(init_zone, tmp_path, sh("echo up; sleep 100"))
    run.request("start")
    with pytest.raises(control.ControlError, match="already started"):
        run.request("start")
    run.request("signal", signo=signal.SIGKILL, all=True)
    assert run.wait() == 137


def test_stats_come_back_as_numbers(init_zone, tmp_path) -> None:
    zone, run = container(init_zone, tmp_path, sh("echo up; sleep 100"))
    run.request("start")
    stats = run.request("stats")["stats"]
    assert set(stats) >= {"mem_total_kb", "mem_available_kb", "pids", "cpu_usage_ns"}
    assert all(type(v) is int and v >= 0 for v in stats.values())
    assert stats["pids"] >= 1
    run.request("signal", signo=signal.SIGKILL)
    assert run.wait() == 137


def test_setup_failure_fails_the_boot(init_zone, tmp_path) -> None:
    zone = init_zone()
    run = make_monitor(tmp_path, zone, records=p.encode_records([(p.Tag.CWD, "/")]))
    init_zone.runs.append(run)
    with pytest.raises(BootFailed, match="zone setup failed: spec: "):
        run.mon.boot()


def test_exec_runs_beside_the_container(init_zone, tmp_path) -> None:
    zone, ctr = container(init_zone, tmp_path, sh("echo up; while :; do sleep 0.05; done"))
    ctr.request("start")
    ex = exec_in(init_zone, tmp_path, zone, ctr,
                 sh("echo from-exec; echo exec-err >&2; exit 4"), "e1")
    assert ex.wait() == 4
    assert ex.stdout() == b"from-exec\n" and ex.stderr() == b"exec-err\n"
    assert zone.exit_status_reads == 0
    assert not (ex.state_dir / EXIT_STATUS_FILE).exists()  # the container still runs
    assert ctr.request("ping")["started"]
    # An exec that cannot run: its error, and the container goes on.
    bad = exec_in(init_zone, tmp_path, zone, ctr, sh("true", (p.Tag.HOSTNAME, "x")), "e2")
    bad.booted.wait(10)
    assert isinstance(bad.boot_error, BootFailed), bad.boot_error
    assert "exec failed: exec: " in str(bad.boot_error)
    ctr.request("signal", signo=signal.SIGKILL)
    assert ctr.wait() == 137


def test_exec_ports_are_reused(init_zone, tmp_path) -> None:
    """More sequential execs than the zone has channels: each gets a port freed by the last."""
    zone, ctr = container(init_zone, tmp_path, sh("echo up; while :; do sleep 0.05; done"))
    ctr.request("start")
    for n in range(70):
        ex = exec_in(init_zone, tmp_path, zone, ctr, sh(f"exit {n % 7}"), f"x{n}")
        assert ex.wait() == n % 7, ex.log()
        ex.cleanup()
    assert len(zone.ports) == 70
    assert max(zone.ports) <= 3, zone.ports  # never climbing toward 65535
    ctr.request("signal", signo=signal.SIGKILL)
    assert ctr.wait() == 137


def test_too_many_concurrent_execs_is_a_clear_error(init_zone, tmp_path) -> None:
    zone, ctr = container(init_zone, tmp_path, sh("echo up; while :; do sleep 0.05; done"))
    ctr.request("start")
    records = sh("true").hex()
    ports = [ctr.request("exec", records=records)["port"] for _ in range(63)]
    assert sorted(ports) == list(range(2, 65))
    with pytest.raises(control.ControlError, match="too many execs at once"):
        ctr.request("exec", records=records)
    assert ctr.request("ping")["started"]  # the container is untouched
    ctr.request("signal", signo=signal.SIGKILL)
    assert ctr.wait() == 137


def test_a_fast_exec_keeps_its_output_and_status(init_zone, tmp_path) -> None:
    """The process ends before the monitor's first read: STARTED, output and EXIT come in
    one read, and all of them are handled, in order."""
    zone, ctr = container(init_zone, tmp_path, sh("echo up; while :; do sleep 0.05; done"))
    ctr.request("start")
    for n in range(5):
        ex = exec_in(init_zone, tmp_path, zone, ctr,
                     sh("echo one; echo two; echo three; exit 3"), f"f{n}")
        t0 = time.monotonic()
        assert ex.wait() == 3, ex.log()
        assert time.monotonic() - t0 < 4
        assert ex.stdout() == b"one\ntwo\nthree\n"
    ctr.request("signal", signo=signal.SIGKILL)
    assert ctr.wait() == 137


def test_exec_of_a_detached_process_frees_its_port(init_zone, tmp_path) -> None:
    zone, ctr = container(init_zone, tmp_path, sh("echo up; while :; do sleep 0.05; done"))
    ctr.request("start")
    first = exec_in(init_zone, tmp_path, zone, ctr, sh("sleep 100"), "d1")
    first.booted.wait(10)
    first.mon.chan.sock.shutdown(socket.SHUT_RDWR)  # its client goes away; the process stays
    wait_for(lambda: "continues detached" in zone.log(), what="detach")
    second = exec_in(init_zone, tmp_path, zone, ctr, sh("exit 2"), "d2")
    assert second.wait() == 2
    assert zone.ports == [2, 2]
    ctr.request("signal", signo=signal.SIGKILL)
    assert ctr.wait() == 137
    first.thread.join(10)


def test_concurrent_control_requests(init_zone, tmp_path) -> None:
    zone, ctr = container(init_zone, tmp_path, sh("echo up; sleep 100"))
    ctr.request("start")
    answers: list = []
    threads = [threading.Thread(target=lambda: answers.append(ctr.request("stats")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(answers) == 8 and all(a["ok"] for a in answers)
    ctr.request("signal", signo=signal.SIGKILL)
    assert ctr.wait() == 137
