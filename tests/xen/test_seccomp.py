"""linux.seccomp in a real zone: docker's default profile (spec-fixtures/valid/docker-20.10.json)
applied by the zone init to the workload and to an exec'd process.

One zone (module scope): the workload is the static syscall-probe (zone_image/init/tests/
syscall_probe.c), which makes a few syscalls, prints ``name=result`` lines (``-errno`` when
refused) and its /proc/self/status Seccomp mode, then waits on stdin; an exec runs the probe
again; closing stdin ends the workload. noNewPrivileges is set (as `edera-oci spec` and
`runc spec` do): the fixture's profile is docker's shortened to 87 names, without the
setgroups/prctl that loading before the user switch needs (docker's full profile has them).
"""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from .bundles import make_bundle
from .dom0 import leftovers
from .test_zone_runtime import oci
from .zone_run import keyvals, running_zone

pytestmark = pytest.mark.xen

REPO = Path(__file__).resolve().parents[2]
PROBE = REPO / "zone_image" / "init" / "build" / "syscall-probe"
WORKLOAD_PROBES = ["status", "getpid", "uname", "personality:0xffffffff", "personality:8",
                   "keyctl", "add_key", "unshare-user", "personality:0x20000", "clone3",
                   "close_range", "wait"]
EXEC_PROBES = ["status", "getpid", "keyctl", "unshare-user", "clone3"]


@pytest.fixture(scope="module")
def zone_run(tmp_path_factory) -> dict:
    if not PROBE.exists():
        pytest.fail(f"{PROBE} is missing: make -C zone_image/init (the zone image build makes "
                    "it)", pytrace=False)
    tmp = tmp_path_factory.mktemp("seccomp")
    root = tmp / "state"
    docker = json.loads((REPO / "spec-fixtures/valid/docker-20.10.json").read_text())
    bundle = make_bundle(tmp / "bundle", ["/bin/syscall-probe", *WORKLOAD_PROBES], **{
        "linux.seccomp": docker["linux"]["seccomp"],
        "process.capabilities": docker["process"]["capabilities"],
        "process.noNewPrivileges": True,
    })
    shutil.copy2(PROBE, bundle / "rootfs/bin/syscall-probe")
    cid = "seccomp-" + uuid.uuid4().hex[:8]
    result: dict = {}
    t0 = time.monotonic()
    with running_zone(root, bundle, cid, tmp, lambda text: "waiting" in text, timeout=300,
                      stdin=subprocess.PIPE) as zone:
        result["workload"] = zone.seen()
        ex = oci(root, "exec", cid, "/bin/syscall-probe", *EXEC_PROBES, timeout=120)
        result["exec"] = keyvals(ex.stdout)
        result["exec_status"] = ex.returncode
        result["exec_stderr"] = ex.stderr
        zone.run.stdin.close()  # STDIN_EOF: the probe's wait ends, it exits 0
        try:
            result["status"] = zone.run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            oci(root, "kill", cid, "KILL")
            result["status"] = f"stdin EOF did not end it; killed: {zone.run.wait(timeout=60)}"
    result["seconds"] = time.monotonic() - t0
    result["stderr"] = (tmp / "stderr").read_text()
    result["leftovers"] = leftovers(root)
    print(f"seccomp zone: {result['seconds']:.1f} s")
    return result


def test_workload_runs_under_dockers_profile(zone_run):
    w = zone_run["workload"]
    assert w["status"] == "2", w  # SECCOMP_MODE_FILTER
    # allowed: plain calls, personality with the listed values
    assert w["getpid"] == "1" and w["uname"] == "0", w
    assert int(w["personality:0xffffffff"]) >= 0 and int(w["personality:8"]) >= 0, w
    # not in the profile: the default action, ERRNO with defaultErrnoRet 1
    for name in ("keyctl", "add_key", "unshare-user", "personality:0x20000"):
        assert w[name] == str(-errno.EPERM), (name, w)
    # the clone3 rule's errnoRet; close_range, newer than any syscall the profile names, gets
    # ENOSYS from the stub in front of the filter (as under runc)
    assert w["clone3"] == w["close_range"] == str(-errno.ENOSYS), w
    assert zone_run["status"] == 0, zone_run["stderr"]
    assert zone_run["leftovers"] == []


def test_exec_gets_the_containers_filter(zone_run):
    e = zone_run["exec"]
    assert zone_run["exec_status"] == 0, zone_run["exec_stderr"]
    assert e["status"] == "2", e
    assert e["getpid"] == "1"
    assert e["keyctl"] == e["unshare-user"] == str(-errno.EPERM), e
    assert e["clone3"] == str(-errno.ENOSYS), e
