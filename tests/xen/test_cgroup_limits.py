"""cgroup v2 limits inside a zone, against real Xen: enforced, changed live, reported.

One zone (module scope, one boot) runs a shell under a pids limit, a memory limit and
``--cpus 0.5`` (quota 50000 of a 100000 period). While it waits on a FIFO, execs read its
cgroup files (the fork bomb against pids.max is test_container_boundary's),
``update`` changes the limits live (read back through exec), bad updates fail by name, and
``events --stats`` reads the container's cgroup. Then the workload turns into a memory hog:
the OOM killer ends it (status 137, as the engine sees it by waiting on the container's
process) and a running ``events`` stream reports runc's ``oom`` event. Everything is
collected once; the tests read the results.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from .bundles import make_bundle
from .dom0 import dump_diagnostics, leftovers

pytestmark = pytest.mark.xen

MIB = 1 << 20
# The hog is one read of /dev/zero into one 84 MiB buffer: it passes memory.max (80 MiB after
# the update) inside a single read(2), in the kernel, so the OOM killer ends it once the
# cgroup's file pages are reclaimed. A hog that grows in user space (awk's strings, as before)
# refaults its own text each time reclaim takes it, and the cgroup can thrash for minutes
# without an OOM kill (the kernel retries a charge while reclaim frees anything): the likely
# cause of the hangs of 2026-12-07 (2 in 11 runs; none caught with the zone view below). One
# buffer larger than the zone's RAM (120 MiB) is refused by the zone's overcommit check. It
# is the workload itself (exec), so its end is the container's.
WORKLOAD = r"""
mkfifo /dev/shm/go
echo ready
read x < /dev/shm/go
exec dd if=/dev/zero of=/dev/null bs=84M count=1
"""
# Builtins only: one process per read, whatever the pids limit.
READ_LIMITS = ("for f in pids.max pids.current memory.max cpu.max cpuset.cpus "
               "cpuset.cpus.effective io.weight; do "
               "v=; read v < /sys/fs/cgroup/$f; echo $f=$v; done")
PR_SET_CHILD_SUBREAPER = 36


def oci(root: Path, *args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["edera-oci", "--root", str(root), *args], capture_output=True,
                          text=True, timeout=timeout, **kw)


def keyvals(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def limits(root: Path, cid: str) -> dict[str, str]:
    r = oci(root, "exec", cid, "sh", "-c", READ_LIMITS)
    assert r.returncode == 0, r.stderr
    return keyvals(r.stdout)


def subreaper(on: bool) -> None:
    """Adopt the container's process (the monitor) as an engine does, to wait for it."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0


# What the container looks like from inside when the hog is not ended: its FIFO, its cgroup's
# memory accounting and each of its processes' state and kernel stack.
ZONE_VIEW = ("ls -l /dev/shm; cd /sys/fs/cgroup; for f in memory.events memory.current "
             "memory.stat cgroup.procs cpu.stat pids.current; do echo \"== $f\"; cat $f; done; "
             "for p in $(cat cgroup.procs); do echo \"== $p\"; grep -E 'Name|State|VmRSS' "
             "/proc/$p/status; cat /proc/$p/wchan; echo; cat /proc/$p/stack; done; "
             "grep -E 'MemTotal|MemFree|MemAvailable' /proc/meminfo")


def dump_zone_view(root: Path, cid: str) -> None:
    try:
        r = oci(root, "exec", cid, "sh", "-c", ZONE_VIEW, timeout=60)
        print(f"--- zone view (exit {r.returncode})\n{r.stdout}\n{r.stderr}")
    except subprocess.TimeoutExpired:
        print("--- zone view: exec timed out")


@pytest.fixture(scope="module")
def limited(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("cgroup")
    root = tmp / "state"
    bundle = make_bundle(tmp / "bundle", ["sh", "-c", WORKLOAD], **{
        "linux.resources": {"pids": {"limit": 24}, "memory": {"limit": 96 * MIB},
                            "cpu": {"quota": 50000, "period": 100000, "cpus": "0"},
                            "blockIO": {"weight": 500}},
    })
    cid = "cgroup-" + uuid.uuid4().hex[:8]
    out_path = tmp / "stdout"
    res: dict = {}
    events: subprocess.Popen | None = None
    subreaper(True)
    try:
        t0 = time.monotonic()
        # The workload's stdio is create's (files: its monitor keeps them open).
        with open(out_path, "w") as out, open(tmp / "stderr", "w") as err:
            create = subprocess.run(["edera-oci", "--root", str(root), "create", "--bundle",
                                     str(bundle), cid], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, timeout=420)
        assert create.returncode == 0, (tmp / "stderr").read_text()
        res["create_s"] = time.monotonic() - t0
        monitor = json.loads(oci(root, "state", cid).stdout)["pid"]
        assert oci(root, "start", cid).returncode == 0
        deadline = time.monotonic() + 60
        while "ready" not in out_path.read_text():
            assert time.monotonic() < deadline, out_path.read_text()
            time.sleep(0.2)
        res["at_create"] = limits(root, cid)
        # update, live: runc's flags, then its --resources form, each read back
        res["update_pids"] = oci(root, "update", "--pids-limit", "40", cid)
        res["update_memory"] = oci(root, "update", "--memory", "80m", "--cpu-quota", "25000",
                                   cid)
        res["after_flags"] = limits(root, cid)
        (tmp / "resources.json").write_text(json.dumps({"pids": {"limit": 50}}))
        res["update_file"] = oci(root, "update", "-r", str(tmp / "resources.json"), cid)
        res["after_file"] = limits(root, cid)
        # refused before the zone is asked: nothing of them is applied (stats show pids 50)
        res["update_cpuset"] = oci(root, "update", "--cpuset-cpus", "7", cid)
        (tmp / "huge.json").write_text(json.dumps(
            {"pids": {"limit": 10}, "hugepageLimits": [{"pageSize": "2MB", "limit": 2 * MIB}]}))
        res["update_huge"] = oci(root, "update", "-r", str(tmp / "huge.json"), cid)
        stats = oci(root, "events", "--stats", cid)
        res["stats"] = json.loads(stats.stdout) if stats.returncode == 0 else stats.stderr
        # The hog: the workload becomes dd with an 84 MiB buffer (WORKLOAD).
        events = subprocess.Popen(["edera-oci", "--root", str(root), "events", "--interval",
                                   "1s", cid], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        time.sleep(1)
        go = oci(root, "exec", cid, "sh", "-c", "echo go > /dev/shm/go")
        # A failed signal or a hog that never ends fails here, saying which (and what the
        # container looks like from inside).
        assert go.returncode == 0, f"exec of the go signal failed: {go.stderr}"
        deadline = time.monotonic() + 300
        while (waited := os.waitpid(monitor, os.WNOHANG))[0] == 0:
            if time.monotonic() >= deadline:
                dump_zone_view(root, cid)
                raise AssertionError("the hog was not ended within 300 s")
            time.sleep(0.5)
        res["status"] = os.waitstatus_to_exitcode(waited[1])
        try:
            ev_out, ev_err = events.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            events.kill()
            ev_out, ev_err = events.communicate()
        res["events"] = [json.loads(line) for line in ev_out.splitlines() if line.strip()]
        res["events_status"] = events.returncode
        res["events_stderr"] = ev_err
        res["update_stopped"] = oci(root, "update", "--pids-limit", "10", cid)
        res["total_s"] = time.monotonic() - t0
    except BaseException:
        dump_diagnostics(root)
        if events is not None and events.poll() is None:
            events.kill()
            events.communicate()
        raise
    finally:
        subreaper(False)
        oci(root, "delete", "--force", cid)
    res["leftovers"] = leftovers(root)
    return res


def test_limits_at_create_and_cpus_half_is_a_quota_not_a_vcpu(limited):
    at = limited["at_create"]
    assert at["pids.max"] == "24"
    assert at["memory.max"] == str(96 * MIB)  # the limit itself; the zone's headroom is apart
    assert at["cpu.max"] == "50000 100000"  # --cpus 0.5: enforced in the zone
    assert at["cpuset.cpus.effective"] == "0"  # one vCPU, not rounded up past the quota
    assert at["cpuset.cpus"] == "0"
    assert at["io.weight"] == "default 4950"  # blockIO.weight 500, runc's conversion


def test_update_changes_the_limits_live(limited):
    for key in ("update_pids", "update_memory", "update_file"):
        assert limited[key].returncode == 0, (key, limited[key].stderr)
    after = limited["after_flags"]
    assert after["pids.max"] == "40"
    assert after["cpu.max"] == "25000 100000"  # the period kept, as runc leaves it
    assert after["memory.max"] == str(80 * MIB)
    assert limited["after_file"]["pids.max"] == "50"


def test_updates_the_zone_cannot_apply_fail_by_name(limited):
    cpuset, huge = limited["update_cpuset"], limited["update_huge"]
    assert cpuset.returncode != 0 and "linux.resources.cpu.cpus" in cpuset.stderr
    assert huge.returncode != 0 and "linux.resources.hugepageLimits" in huge.stderr
    assert "Traceback" not in cpuset.stderr + huge.stderr
    stopped = limited["update_stopped"]
    assert stopped.returncode != 0 and "stopped" in stopped.stderr


def test_stats_are_the_containers_cgroup(limited):
    data = limited["stats"]["data"]
    assert data["memory"]["usage"]["limit"] == 80 * MIB  # memory.max, not the zone's size
    assert 0 < data["memory"]["usage"]["usage"] < 80 * MIB
    assert data["pids"]["limit"] == 50  # the refused update's pids.limit 10 was not applied
    assert 1 <= data["pids"]["current"] <= 25
    assert data["cpu"]["usage"]["total"] > 0 and "throttling" in data["cpu"]
    assert "anon" in data["memory"]["raw"]


def test_memory_hog_is_oom_killed_and_reported(limited):
    assert limited["status"] == 137, limited["events"]
    types = [e["type"] for e in limited["events"]]
    assert "oom" in types, (limited["events"], limited["events_stderr"])
    oom = next(e for e in limited["events"] if e["type"] == "oom")
    assert oom["id"].startswith("cgroup-") and limited["events_status"] == 0
    assert limited["leftovers"] == []

