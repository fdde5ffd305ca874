"""The container's cgroup in the zone, on the host: the zone init (edera-init-host) pointed at a
fake cgroup directory (EDERA_INIT_CGROUP: plain files, as a test cannot write a real cgroup
here) writes the SPEC's CGROUP settings and UPDATE's there, reads STATS from it and reports
OOM kills in EXIT; the monitor carries `update` to it; the host maps resources the way runc
does on cgroup v2 and refuses by name what a zone cannot do."""

from __future__ import annotations

import json
import signal
import struct
from pathlib import Path

import pytest

from edera_oci.errors import ConfigError, WrongState, ZoneError
from edera_oci.lifecycle.container_events import stream_events
from edera_oci.lifecycle.container_update import update
from edera_oci.state import ContainerState
from edera_oci.zone import backend as zone_backend
from edera_oci.zone import control
from edera_oci.zone import protocol as p
from edera_oci.zone.control import OOM_KILLS_FILE
from edera_oci.zone.protocol import Msg, Tag, encode_records
from edera_oci.zone.records import (
    MappingError,
    cgroup_settings,
    check_cpuset,
    device_rule_records,
    update_settings,
)

from .monitor_harness import HostInitZone, launch, make_monitor
from .test_zone_init import (  # noqa: F401  (the built edera-init-host and its fixtures)
    _pod_container,
    host_init,
    sh,
    unit_run,
    zone,
)

CGROUP_FILES = ("memory.max", "memory.swap.max", "memory.low", "pids.max", "cpu.max",
                "cpu.weight", "cpuset.cpus", "cpuset.mems")


def fake_cgroup(tmp_path: Path) -> Path:
    """A directory of the files a container's cgroup has (io.weight left out: as a zone
    without the io controller)."""
    cg = tmp_path / "cgroup"
    cg.mkdir()
    for name in CGROUP_FILES:
        (cg / name).write_text("max\n")
    (cg / "memory.current").write_text("5242880\n")
    (cg / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    (cg / "memory.stat").write_text("anon 4096\nfile 8192\nkernel_stack 16384\n")
    (cg / "pids.current").write_text("2\n")
    (cg / "cpu.stat").write_text("usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n"
                                 "nr_periods 10\nnr_throttled 4\nthrottled_usec 700\n")
    return cg


def cgroup_records(*pairs: tuple[str, str]) -> list:
    return [(Tag.CGROUP, [name, value]) for name, value in pairs]


def update_frame(z, *pairs: tuple[str, str]) -> str:
    z.send(Msg.UPDATE, encode_records(cgroup_records(*pairs)))
    return p.update_answer(z.read_until(Msg.UPDATE)[-1].payload)


# -- the zone init ---------------------------------------------------------------------------
def test_spec_settings_are_written_and_update_changes_them_live(zone, tmp_path) -> None:  # noqa: F811
    cg = fake_cgroup(tmp_path)
    z = zone(env={"EDERA_INIT_CGROUP": str(cg)})
    z.create(sh("echo up; sleep 100") + cgroup_records(
        ("pids.max", "24"), ("memory.max", "100663296"), ("cpu.max", "50000 100000"),
        ("cpuset.cpus", "0"), ("io.weight", "default 500")))
    assert (cg / "pids.max").read_text() == "24"
    assert (cg / "cpu.max").read_text() == "50000 100000"
    assert (cg / "cpuset.cpus").read_text() == "0"
    # no io controller (no io.weight file): accepted and ignored, and the log says why
    assert not (cg / "io.weight").exists()
    assert "blockIO.weight accepted and ignored" in z.log()
    # UPDATE works before start (created) and after
    assert update_frame(z, ("pids.max", "30")) == ""
    assert (cg / "pids.max").read_text() == "30"
    z.start()
    z.wait_output(b"up\n")
    assert update_frame(z, ("pids.max", "40"), ("memory.max", "83886080"),
                        ("cpu.max", "25000")) == ""
    assert (cg / "pids.max").read_text() == "40"
    assert (cg / "memory.max").read_text() == "83886080"
    assert (cg / "cpu.max").read_text() == "25000"
    # refusals name what is wrong, and nothing of a refused UPDATE is written
    why = update_frame(z, ("pids.max", "50"), ("cpuset.cpus", "1023"))
    assert "cpuset.cpus" in why and "1023" in why
    assert update_frame(z, ("pids.max", "50"), ("cgroup.procs", "1")).count("cgroup.procs")
    assert "not a list" in update_frame(z, ("cpuset.mems", "x"))
    assert (cg / "pids.max").read_text() == "40"
    z.send(Msg.UPDATE, encode_records([(Tag.ARG, "x")]))
    assert "not CGROUP" in p.update_answer(z.read_until(Msg.UPDATE)[-1].payload)
    z.send(Msg.SIGNAL, p.signal_payload(signal.SIGKILL))
    assert z.wait_exit()["status"] == 137


def test_update_before_spec_is_refused(zone, tmp_path) -> None:  # noqa: F811
    z = zone(env={"EDERA_INIT_CGROUP": str(fake_cgroup(tmp_path))})
    assert "not running" in update_frame(z, ("pids.max", "10"))


def test_a_cpuset_the_zone_lacks_fails_the_spec_by_name(zone, tmp_path) -> None:  # noqa: F811
    z = zone(env={"EDERA_INIT_CGROUP": str(fake_cgroup(tmp_path))})
    z.send(Msg.SPEC, encode_records(sh("true") + cgroup_records(("cpuset.cpus", "0,1023"))))
    out = z.wait_exit()
    assert out["status"] == 1
    assert "cpuset.cpus" in out["error"] and "no CPU 1023" in out["error"], out


def test_stats_read_the_containers_cgroup(zone, tmp_path) -> None:  # noqa: F811
    cg = fake_cgroup(tmp_path)
    (cg / "memory.max").write_text("83886080\n")
    (cg / "pids.max").write_text("40\n")
    z = zone(env={"EDERA_INIT_CGROUP": str(cg)})
    z.create(sh("echo up; sleep 100"))
    z.start()
    z.wait_output(b"up\n")
    z.send(Msg.STATS_REQ)
    stats = p.parse_stats(z.read_until(Msg.STATS)[-1].payload)
    assert stats["mem_usage_bytes"] == 5242880 and stats["mem_limit_bytes"] == 83886080
    assert stats["pids"] == 2 and stats["pids_limit"] == 40
    assert stats["cpu_usage_ns"] == 2500000 and stats["cpu_throttled_ns"] == 700000
    assert stats["oom"] == 1 and stats["oom_kill"] == 0
    assert stats["memstat_anon"] == 4096 and stats["memstat_kernel_stack"] == 16384
    assert stats["mem_total_kb"] > 0  # the zone's memory, the most any limit can be
    z.send(Msg.SIGNAL, p.signal_payload(signal.SIGKILL))
    assert z.wait_exit()["status"] == 137


def pod_with_container(zone, tmp_path: Path, *settings: tuple[str, str]):  # noqa: F811
    """A running sandbox on a fake cgroup, and its pod container "a" created with settings:
    (the fake cgroup, the zone, a's channel)."""
    cg = fake_cgroup(tmp_path)
    z = zone(env={"EDERA_INIT_CGROUP": str(cg)})
    z.create(sh("echo sandbox-up; while :; do sleep 0.1; done"))
    z.start()
    z.wait_output(b"sandbox-up\n")
    a = _pod_container(z, "a", "echo a-up; while :; do sleep 0.1; done",
                       *cgroup_records(*settings))
    return cg, z, a


def test_a_pod_containers_stats_are_its_own_cgroups(zone, tmp_path) -> None:  # noqa: F811
    """STATS on a pod container's port reads that container's cgroup (made beside the
    sandbox's, with its own settings), not the sandbox's: stats are per container."""
    cg, z, a = pod_with_container(zone, tmp_path, ("pids.max", "7"))
    own = cg / "pod-a"
    assert (own / "pids.max").read_text() == "7" and (cg / "pids.max").read_text() == "max\n"
    (own / "memory.current").write_text("777\n")
    (own / "pids.current").write_text("1\n")
    a.send(Msg.STATS_REQ)
    mine = p.parse_stats(a.read_until(Msg.STATS)[-1].payload)
    assert mine["mem_usage_bytes"] == 777 and mine["pids"] == 1 and mine["pids_limit"] == 7
    z.send(Msg.STATS_REQ)
    sandbox = p.parse_stats(z.read_until(Msg.STATS)[-1].payload)
    assert sandbox["mem_usage_bytes"] == 5242880 and sandbox["pids"] == 2
    z.send(Msg.SIGNAL, p.signal_payload(signal.SIGKILL))
    assert z.wait_exit()["status"] == 137


def test_update_on_a_pod_containers_port_changes_its_own_cgroup(zone, tmp_path) -> None:  # noqa: F811
    """UPDATE on a pod container's port is written into that container's cgroup, not the
    sandbox's; its refusals come on that port (runc's `update` of one container, which the
    CRI's UpdateContainerResources sends for a container of a pod)."""
    cg, z, a = pod_with_container(zone, tmp_path, ("pids.max", "7"), ("cpu.max", "max 100000"))
    own = cg / "pod-a"
    assert update_frame(a, ("pids.max", "9"), ("cpu.max", "20000 100000")) == ""
    assert (own / "pids.max").read_text() == "9"
    assert (own / "cpu.max").read_text() == "20000 100000"
    assert (cg / "pids.max").read_text() == "max\n"  # the sandbox's is untouched
    assert "cgroup.procs" in update_frame(a, ("pids.max", "11"), ("cgroup.procs", "1"))
    assert (own / "pids.max").read_text() == "9"
    assert update_frame(z, ("pids.max", "30")) == ""  # port 1 is the sandbox's, as before
    assert (cg / "pids.max").read_text() == "30" and (own / "pids.max").read_text() == "9"
    z.send(Msg.SIGNAL, p.signal_payload(signal.SIGKILL))
    assert z.wait_exit()["status"] == 137


def test_an_oom_kill_is_reported_in_exit(zone, tmp_path) -> None:  # noqa: F811
    cg = fake_cgroup(tmp_path)
    z = zone(env={"EDERA_INIT_CGROUP": str(cg)})
    z.create(sh("echo up; sleep 100"))
    z.start()
    z.wait_output(b"up\n")
    (cg / "memory.events").write_text("oom 1\noom_kill 1\n")  # as the kernel counts it
    z.send(Msg.SIGNAL, p.signal_payload(signal.SIGKILL))
    frames = z.read_until(Msg.EXIT)
    report = p.exit_report(frames[-1].payload)
    assert report == p.ExitReport(137, 1)
    assert "the OOM killer ended 1" in z.log()


def test_no_oom_no_record(zone, tmp_path) -> None:  # noqa: F811
    z = zone(env={"EDERA_INIT_CGROUP": str(fake_cgroup(tmp_path))})
    z.create(sh("exit 3"))
    z.start()
    assert z.read_until(Msg.EXIT)[-1].payload == struct.pack("<i", 3)


def test_device_rules_reach_the_init_at_spec_and_update(zone, tmp_path) -> None:  # noqa: F811
    """The init parses linux.resources.devices as the host maps it (the rules, then runc's),
    builds their program (a host test attaches none: it says so), and refuses a bad rule by
    name, at SPEC and in an UPDATE, before writing anything."""
    cg = fake_cgroup(tmp_path)
    z = zone(env={"EDERA_INIT_CGROUP": str(cg)})
    rules = device_rule_records([{"allow": False, "access": "rwm"},
                                 {"allow": True, "type": "c", "major": 1, "minor": 5,
                                  "access": "r"}])
    assert len(rules) == 13
    z.create(sh("echo up; sleep 100") + cgroup_records(("pids.max", "24")) + rules)
    assert "host test: device program of 13 rules" in z.log()
    assert update_frame(z, ("pids.max", "30")) == ""
    z.send(Msg.UPDATE, encode_records(cgroup_records(("pids.max", "31")) + rules[:3]))
    assert p.update_answer(z.read_until(Msg.UPDATE)[-1].payload) == ""
    assert (cg / "pids.max").read_text() == "31"
    assert "host test: device program of 3 rules" in z.log()
    bad = (Tag.DEVICE_RULE, ["1", "c", "1", "5", "rx"])
    z.send(Msg.UPDATE, encode_records(cgroup_records(("pids.max", "32")) + [bad]))
    assert "DEVICE_RULE" in p.update_answer(z.read_until(Msg.UPDATE)[-1].payload)
    assert (cg / "pids.max").read_text() == "31"
    z.send(Msg.SIGNAL, p.signal_payload(signal.SIGKILL))
    assert z.wait_exit()["status"] == 137


def test_a_bad_device_rule_fails_the_spec_by_name(zone, tmp_path) -> None:  # noqa: F811
    z = zone(env={"EDERA_INIT_CGROUP": str(fake_cgroup(tmp_path))})
    z.send(Msg.SPEC, encode_records(sh("true") + [(Tag.DEVICE_RULE, ["1", "u", "-1", "-1",
                                                                     "rwm"])]))
    out = z.wait_exit()
    assert out["status"] == 1
    assert "record DEVICE_RULE: bad value" in out["error"], out


# -- the monitor -----------------------------------------------------------------------------
@pytest.fixture
def cgroup_container(host_init: Path, tmp_path: Path):  # noqa: F811
    cg = fake_cgroup(tmp_path)
    z = HostInitZone(host_init, tmp_path / "zone")
    z.env["EDERA_INIT_CGROUP"] = str(cg)
    run = make_monitor(tmp_path, z, records=encode_records(sh("echo up; sleep 100")), name="c")
    launch(run)
    assert run.booted.wait(15) and run.boot_error is None, run.log()
    yield z, run, cg
    z.close()
    run.cleanup()


def test_the_monitor_carries_update_and_the_zones_refusal(cgroup_container) -> None:
    z, run, cg = cgroup_container
    hexed = encode_records(cgroup_records(("pids.max", "12"))).hex()
    assert run.request("update", records=hexed) == {"ok": True}
    assert (cg / "pids.max").read_text() == "12"
    run.request("start")
    bad = encode_records(cgroup_records(("cpuset.cpus", "1023"))).hex()
    with pytest.raises(control.ControlError, match="the zone refused the update: .*1023"):
        run.request("update", records=bad)
    with pytest.raises(control.ControlError, match="hex"):
        run.request("update", records="zz")
    with pytest.raises(control.ControlError, match="hex text"):
        run.request("update", records=5)
    (cg / "memory.events").write_text("oom 2\noom_kill 2\n")
    run.request("signal", signo=signal.SIGKILL)
    assert run.wait() == 137
    assert (run.state_dir / OOM_KILLS_FILE).read_text() == "2\n"
    with pytest.raises(control.ControlError, match="not running|exited"):
        run.request("update", records=hexed)


# -- the protocol ----------------------------------------------------------------------------
def test_exit_report() -> None:
    assert p.exit_report(struct.pack("<i", 0)) == p.ExitReport(0, 0)
    oom = struct.pack("<i", 137) + encode_records([(Tag.OOM_KILLS, "3"), (99, "x")])
    assert p.exit_report(oom) == p.ExitReport(137, 3)
    assert p.exit_status(oom) == 137
    for bad in (b"\0\0\0", struct.pack("<i", 256),
                struct.pack("<i", 1) + encode_records([(Tag.OOM_KILLS, "-1")]),
                struct.pack("<i", 1) + encode_records([(Tag.OOM_KILLS, "9" * 21)]),
                struct.pack("<i", 1) + b"\x32\0\xff\0\0\0x"):
        with pytest.raises(p.ProtocolError):
            p.exit_report(bad)
    assert p.update_answer(b"") == "" and p.update_answer(b"no\x1b") == "no\\x1b"


# -- the host's mapping ----------------------------------------------------------------------
def test_settings_follow_runcs_cgroup_v2_conversions() -> None:
    assert cgroup_settings({
        "memory": {"limit": 100 << 20, "reservation": 50 << 20, "swap": 150 << 20},
        "pids": {"limit": 0},
        "cpu": {"quota": 50000, "period": 100000, "shares": 1024, "cpus": "0-1", "mems": "0"},
        "blockIO": {"weight": 500},
    }) == [("memory.max", str(100 << 20)), ("memory.low", str(50 << 20)),
           ("memory.swap.max", str(50 << 20)), ("pids.max", "max"),
           ("cpu.max", "50000 100000"), ("cpu.weight", "39"), ("cpuset.cpus", "0-1"),
           ("cpuset.mems", "0"), ("io.weight", "default 4950")]
    # docker's "not set": zeros and empty strings write nothing
    assert cgroup_settings({"cpu": {"quota": 0, "period": 0, "cpus": "", "mems": "",
                                    "shares": 0}, "memory": {"swap": 0}}) == []
    # -1 is unlimited; a quota alone keeps the period; swap -1 is max
    assert cgroup_settings({"memory": {"limit": -1, "swap": -1}, "cpu": {"quota": -1},
                            "pids": {"limit": 30}}) == [
        ("memory.max", "max"), ("memory.swap.max", "max"), ("pids.max", "30"),
        ("cpu.max", "max")]
    assert cgroup_settings({"cpu": {"quota": 25000}}) == [("cpu.max", "25000")]
    assert cgroup_settings({"memory": {"limit": -1, "swap": 0}}) == [
        ("memory.max", "max"), ("memory.swap.max", "max")]
    with pytest.raises(MappingError, match=r"memory.swap: .* less than"):
        cgroup_settings({"memory": {"limit": 100, "swap": 50}})
    with pytest.raises(MappingError, match=r"memory.swap: .*needs a memory limit"):
        cgroup_settings({"memory": {"swap": 50}})


def test_update_refuses_by_name_what_a_zone_cannot_change() -> None:
    for resources, field in (
        ({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}, "hugepageLimits"),
        ({"cpu": {"realtimeRuntime": 5}}, "cpu.realtimeRuntime"),
        ({"memory": {"swappiness": 10}}, "memory.swappiness"),
        ({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}]}},
         "blockIO.throttleReadBpsDevice"),
        ({"unified": {"memory.high": "1"}}, "unified"),
        ({"cpu": {"period": 50000}}, "cpu.period"),
    ):
        with pytest.raises(MappingError, match=f"linux.resources.{field}"):
            update_settings(resources)
    settings, notes = update_settings({"memory": {"limit": 1 << 20, "kernel": 5},
                                       "devices": [{"allow": False, "access": "rwm"}]})
    assert settings == [("memory.max", str(1 << 20))]
    # device rules are not a note: update sends them (test_backend_update_...)
    assert len(notes) == 1 and "memory.kernel accepted and ignored" in notes[0]


def test_cpusets_name_the_zones_cpus() -> None:
    check_cpuset({"cpu": {"cpus": "0-1"}}, 2)
    check_cpuset({"cpu": {"cpus": ""}}, 1)
    with pytest.raises(MappingError, match=r"linux.resources.cpu.cpus: CPU 2 .* 2 vCPUs"):
        check_cpuset({"cpu": {"cpus": "0,2"}}, 2)
    with pytest.raises(MappingError, match="not a CPU list"):
        check_cpuset({"cpu": {"cpus": "a-b"}}, 2)
    with pytest.raises(MappingError, match="backwards"):
        check_cpuset({"cpu": {"cpus": "3-1"}}, 4)


class _Spec:
    """Just what zone_size reads."""

    def __init__(self, quota=None, period=None, limit=None) -> None:
        cpu = type("Cpu", (), {"quota": quota, "period": period})()
        mem = type("Mem", (), {"limit": limit})()
        res = type("Res", (), {"cpu": cpu, "memory": mem})()
        self.linux = type("Linux", (), {"resources": res})()


def test_vcpus_never_exceed_the_hosts_pcpus_and_say_so(capsys) -> None:
    asked = []

    def pcpus() -> int:
        asked.append(1)
        return 4

    # --cpus 0.5: one vCPU (cpu.max in the zone enforces the half); the host is not asked
    assert zone_backend.zone_size(_Spec(50000, 100000), pcpus) == (256, 1)
    assert asked == []
    assert zone_backend.zone_size(_Spec(300000, 100000), pcpus) == (256, 3)
    assert zone_backend.zone_size(_Spec(800000, 100000), pcpus) == (256, 4)
    assert "the host has 4 physical CPUs" in capsys.readouterr().err
    # memory: the limit plus the zone's own headroom (memory.max in the zone is the limit)
    assert zone_backend.zone_size(_Spec(limit=96 << 20), pcpus)[0] == 96 + 64


def test_host_pcpus_prefers_xen_cpu_devices(tmp_path, monkeypatch) -> None:
    for n in range(6):
        (tmp_path / f"xen_cpu{n}").mkdir()
    monkeypatch.setattr(zone_backend, "PCPU_DIR", tmp_path)
    assert zone_backend.host_pcpus() == 6
    monkeypatch.setattr(zone_backend, "PCPU_DIR", tmp_path / "missing")
    monkeypatch.setattr(zone_backend.domain, "info", lambda: {"nr_cpus": "8"})
    assert zone_backend.host_pcpus() == 8


def _state(tmp_path: Path) -> ContainerState:
    return ContainerState(id="c", bundle=str(tmp_path), rootfs=str(tmp_path), created="",
                          status="running", pid=1,
                          zone={"state_dir": str(tmp_path), "vcpus": 1, "memory_mb": 160})


def test_backend_update_sends_the_settings_or_refuses(tmp_path, monkeypatch) -> None:
    sent = []
    monkeypatch.setattr(zone_backend.XenZoneBackend, "_request",
                        lambda self, state, op, **kw: sent.append((op, kw)) or {"ok": True})
    b = zone_backend.XenZoneBackend()
    b.update(_state(tmp_path), {"pids": {"limit": 10}, "memory": {"limit": 80 << 20}})
    op, kw = sent[-1]
    assert op == "update"
    assert p.decode_records(bytes.fromhex(kw["records"])) == [
        (Tag.CGROUP, b"memory.max\0" + str(80 << 20).encode()), (Tag.CGROUP, b"pids.max\x0010")]
    with pytest.raises(ConfigError, match=r"memory.limit: .*96 MiB"):
        b.update(_state(tmp_path), {"memory": {"limit": 97 << 20}})
    with pytest.raises(ConfigError, match="linux.resources.cpu.cpus: CPU 1"):
        b.update(_state(tmp_path), {"cpu": {"cpus": "1"}})
    with pytest.raises(ConfigError, match="linux.resources.rdma"):
        b.update(_state(tmp_path), {"rdma": {"mlx": {"hcaHandles": 1}}})
    n = len(sent)
    b.update(_state(tmp_path), {"devices": [], "memory": {"kernel": 5}})
    assert len(sent) == n  # nothing to write: the zone is not asked
    # device rules replace the container's: the list and runc's always-allowed rules, less
    # the one for a node linux.devices makes
    b.update(_state(tmp_path), {"devices": [{"allow": False, "access": "rwm"}]},
             linux_devices=[{"path": "/dev/null", "type": "c", "major": 1, "minor": 3}])
    rules = [v.split(b"\0") for t, v in p.decode_records(bytes.fromhex(sent[-1][1]["records"]))
             if t == Tag.DEVICE_RULE]
    assert rules[0] == [b"0", b"a", b"-1", b"-1", b"rwm"]
    assert [b"1", b"c", b"1", b"5", b"rwm"] in rules and [b"1", b"c", b"1", b"3", b"rwm"] \
        not in rules
    with pytest.raises(ConfigError, match=r"linux.resources.devices\[0\].access"):
        b.update(_state(tmp_path), {"devices": [{"allow": True, "access": "rwx"}]})


def test_backend_stats_have_runcs_shape(tmp_path, monkeypatch) -> None:
    raw = {"mem_total_kb": 163840, "mem_available_kb": 100000, "mem_usage_bytes": 5 << 20,
           "mem_limit_bytes": 80 << 20, "pids": 2, "pids_limit": 40, "cpu_usage_ns": 9,
           "cpu_user_ns": 6, "cpu_system_ns": 3, "cpu_periods": 10, "cpu_throttled_periods": 4,
           "cpu_throttled_ns": 7, "memstat_anon": 4096, "memstat_file": 8192, "oom_kill": 1}
    monkeypatch.setattr(zone_backend.XenZoneBackend, "_request",
                        lambda self, state, op, **kw: {"ok": True, "stats": raw})
    data = zone_backend.XenZoneBackend().stats(_state(tmp_path))
    assert data["memory"]["usage"] == {"usage": 5 << 20, "limit": 80 << 20}
    assert data["memory"]["raw"] == {"anon": 4096, "file": 8192}
    assert data["pids"] == {"current": 2, "limit": 40}
    assert data["cpu"] == {"usage": {"total": 9, "user": 6, "kernel": 3},
                           "throttling": {"periods": 10, "throttledPeriods": 4,
                                          "throttledTime": 7}}
    assert zone_backend.XenZoneBackend().oom_kills(_state(tmp_path)) == 1
    (tmp_path / OOM_KILLS_FILE).write_text("2\n")  # recorded at exit: that is the answer
    assert zone_backend.XenZoneBackend().oom_kills(_state(tmp_path)) == 2


def test_backend_oom_kills_after_exit_without_a_monitor(tmp_path, monkeypatch) -> None:
    def gone(self, state, op, **kw):
        raise ZoneError("the container's monitor is not running")

    monkeypatch.setattr(zone_backend.XenZoneBackend, "_request", gone)
    assert zone_backend.XenZoneBackend().oom_kills(_state(tmp_path)) == 0


# -- the lifecycle -----------------------------------------------------------------------------
def test_update_refuses_a_paused_container(rt, fake, make_bundle) -> None:
    from edera_oci.lifecycle.container_create import create
    from edera_oci.lifecycle.container_pause import pause
    from edera_oci.lifecycle.container_start import start

    create(rt, "u", str(make_bundle()))
    start(rt, "u")
    pause(rt, "u")
    with pytest.raises(WrongState, match="paused"):
        update(rt, "u", {"pids": {"limit": 10}})
    assert not [c for c in fake.calls if c[0] == "update"]


def test_events_report_an_oom_kill_as_runc_does(rt, fake, make_bundle) -> None:
    from edera_oci.lifecycle.container_create import create
    from edera_oci.lifecycle.container_start import start

    create(rt, "o", str(make_bundle()))
    start(rt, "o")
    events: list = []

    def emit(ev):
        events.append(ev)
        if len([e for e in events if e["type"] == "stats"]) == 1:
            fake.oom_kill_count = 1  # the OOM killer ends the workload, and the container
            fake.exit_container("o")

    stream_events(rt, "o", 0.01, emit)
    assert [e["type"] for e in events] == ["stats", "oom"]
    assert events[-1] == {"type": "oom", "id": "o"}
    json.dumps(events)


def test_events_ride_out_a_request_that_fails_as_the_container_exits(rt, fake, make_bundle,
                                                                      monkeypatch) -> None:
    from edera_oci.lifecycle.container_create import create
    from edera_oci.lifecycle.container_start import start

    create(rt, "f", str(make_bundle()))
    start(rt, "f")
    real, calls = fake.stats, []

    def flaky(state):
        calls.append(state.id)
        if len(calls) == 1:  # the monitor answered between the zone's EXIT and its own end
            raise ZoneError("the container has exited (137)")
        return real(state)

    monkeypatch.setattr(fake, "stats", flaky)
    got: list = []
    assert stream_events(rt, "f", 0.01, got.append, max_events=1) == 1
    assert len(calls) == 2 and got[0]["type"] == "stats"
    monkeypatch.setattr(fake, "stats", lambda state: (_ for _ in ()).throw(ZoneError("broken")))
    with pytest.raises(ZoneError, match="broken"):  # a zone that keeps failing: said so
        stream_events(rt, "f", 0.01, got.append)
