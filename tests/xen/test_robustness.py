"""The host side under faults, against real Xen: a zone that ignores signals or never reads,
a create killed at every phase, orphans, a restart in the same network namespace, a failing
`xl destroy`, an unreachable xenstored and concurrent creates. Each test ends with nothing of
edera-oci's left in dom0 (the conftest's sweep), checked here too, with tc and console logs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from edera_oci.lifecycle.backend import CREATE_PHASES, TEST_DIE_AT_PHASE

from .bundles import make_bundle
from .dom0 import domains, leftovers
from .test_zone_runtime import create, oci

pytestmark = pytest.mark.xen

SMALL = {"linux.resources": {"memory": {"limit": 64 << 20}}}  # 128 MiB zones


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def engine_netns():
    """A namespace as an engine leaves it: eth0 at 10.251.0.2/24, default route via dom0's
    end of the veth (10.251.0.1)."""
    tag = uuid.uuid4().hex[:6]
    name, host_end = f"rb-{tag}", f"vr{tag}"
    ip("netns", "add", name)
    try:
        ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", name)
        ip("addr", "add", "10.251.0.1/24", "dev", host_end)
        ip("link", "set", host_end, "up")
        ip("-n", name, "addr", "add", "10.251.0.2/24", "dev", "eth0")
        ip("-n", name, "link", "set", "eth0", "up")
        ip("-n", name, "link", "set", "lo", "up")
        ip("-n", name, "route", "add", "default", "via", "10.251.0.1")
        yield name
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def ingress_on_eth0(netns: str) -> bool:
    out = subprocess.run(["ip", "netns", "exec", netns, "tc", "qdisc", "show", "dev", "eth0"],
                         capture_output=True, text=True).stdout
    return "ingress" in out


def zone_of(root: Path, cid: str) -> dict:
    return json.loads((root / cid / "state.json").read_text())["zone"]


def status(root: Path, cid: str, **kw) -> str:
    res = oci(root, "state", cid, **kw)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["status"]


def wait_status(root: Path, cid: str, want: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (now := status(root, cid)) != want:
        assert time.monotonic() < deadline, f"{cid} is {now}, not {want}"
        time.sleep(0.3)


def create_quiet(root: Path, bundle: Path, cid: str, env: dict | None = None,
                 tag: str = "") -> subprocess.CompletedProcess:
    """create as an engine runs it: the container (its monitor) keeps create's stdout and
    stderr, so they are files, not pipes this test would wait on until the container ends."""
    err_path = root.parent / f"{cid}{tag}.{uuid.uuid4().hex[:6]}.create-stderr"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(err_path, "w+") as err:
        res = subprocess.run(["edera-oci", "--root", str(root), "create", "--bundle",
                              str(bundle), cid], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err, text=True, timeout=400)
        err.seek(0)
        res.stderr = err.read()
    return res


def no_console_logs(names: list[str]) -> list[str]:
    return [n for n in names if Path(f"/var/log/xen/console/guest-{n}.log").exists()]


def test_sigkill_is_enforced_by_dom0_and_cannot_tell_is_not_stopped(root, bundle_dir, tmp_path):
    """A workload that traps TERM/INT/HUP and never reads stdin, in a zone paused with
    `xl pause` (a zone that never reads its channel): kill KILL returns within seconds with
    the domain gone and 137 recorded (kill --all KILL takes the same path: the host test
    test_sigkill_is_enforced_when_the_zone_does_not_report_it drives it). Before, with
    xenstored unreachable (XENSTORED_PATH at a dead socket), state is an error and delete
    refuses: never "stopped"."""
    make_bundle(bundle_dir, ["sh", "-c", "trap '' TERM INT HUP; while :; do sleep 1; done"],
                **SMALL)
    cid = "kill-" + uuid.uuid4().hex[:6]
    res = create(root, bundle_dir, cid)
    assert res.returncode == 0, res.stderr
    assert oci(root, "start", cid).returncode == 0
    name = zone_of(root, cid)["name"]
    dead = tmp_path / "dead.sock"
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(dead))  # bound, not listening: connections are refused
        env = {**os.environ, "XENSTORED_PATH": str(dead)}
        cannot = oci(root, "state", cid, env=env)
        assert cannot.returncode != 0 and "cannot tell" in cannot.stderr, cannot
        refused = oci(root, "delete", cid, env=env)
        assert refused.returncode != 0 and "cannot tell" in refused.stderr, refused
    assert status(root, cid) == "running"
    assert oci(root, "kill", cid, "TERM").returncode == 0
    time.sleep(2)
    assert status(root, cid) == "running"  # the trap ignored it
    subprocess.run(["xl", "pause", name], check=True)
    t0 = time.monotonic()
    killed = oci(root, "kill", cid, "KILL", timeout=60)
    took = time.monotonic() - t0
    assert killed.returncode == 0, killed.stderr
    assert took < 20, f"kill KILL took {took:.1f} s"
    assert name not in domains()  # gone when kill returned
    assert status(root, cid) == "stopped"
    assert (root / cid / "exit-status").read_text().strip() == "137"
    print(f"kill KILL of a paused zone: {took:.1f} s")
    assert oci(root, "delete", cid).returncode == 0
    assert leftovers(root) == [] and no_console_logs([name]) == []


def test_create_killed_at_every_phase_leaves_nothing_after_delete_force(
        root, bundle_dir, engine_netns):
    """SIGKILL create at each phase (the test knob), then delete --force: no domain, disk,
    loop device, vif, tc rule or state is left, and the id can be created again. SIGTERM at
    the domain phase tears down by itself, as an error does."""
    make_bundle(bundle_dir, ["sleep", "600"], **SMALL,
                **{"linux.namespaces": [{"type": "network",
                                         "path": f"/run/netns/{engine_netns}"}]})
    cid = "phase"
    timings = {}
    for n, phase in enumerate(CREATE_PHASES, 1):
        t0 = time.monotonic()
        env = {**os.environ, TEST_DIE_AT_PHASE: str(n)}
        res = create_quiet(root, bundle_dir, cid, env)
        print(f"phase {n} {phase}: create ended {res.returncode}", flush=True)
        assert res.returncode == -9, (phase, res.returncode, res.stderr)
        recorded = zone_of(root, cid)
        assert recorded.get("state_dir"), (phase, recorded)
        if n >= 2:
            assert recorded["name"] and recorded["disk_dir"], (phase, recorded)
        gone = oci(root, "delete", "--force", cid, timeout=120)
        left = leftovers(root)
        print(f"  delete --force: {gone.returncode} {gone.stderr.strip()[-400:]} left={left}",
              flush=True)
        assert gone.returncode == 0, (phase, gone.stderr)
        assert left == [], phase
        assert not ingress_on_eth0(engine_netns), phase
        timings[phase] = round(time.monotonic() - t0, 1)
    print(f"kill at phase, then delete --force (s): {timings}")
    term = create_quiet(root, bundle_dir, cid, {**os.environ, TEST_DIE_AT_PHASE: "domain:TERM"})
    print(f"SIGTERM at domain: {term.returncode} {term.stderr.strip()!r} "
          f"left={leftovers(root)}", flush=True)
    assert term.returncode == 1 and "interrupted by SIGTERM" in term.stderr, term.stderr
    assert leftovers(root) == [] and not ingress_on_eth0(engine_netns)
    res = create(root, bundle_dir, cid)  # the id is free again
    assert res.returncode == 0, res.stderr
    name = zone_of(root, cid)["name"]
    assert oci(root, "delete", cid).returncode == 0  # created: killed and deleted, as runc
    assert leftovers(root) == [] and not ingress_on_eth0(engine_netns)
    assert no_console_logs([name]) == []


def test_orphans_of_a_lost_state_are_swept_by_delete_force(root, bundle_dir, engine_netns):
    """A create killed once its network was up and a state directory removed by hand:
    nothing under --root owns the domain, its 9pfs QEMU (the root's share), disk directory
    and the tc redirect on the engine's eth0 any more; `list --orphans` shows them by id,
    and delete --force of the id finds them by the names (and the redirect mark) it derives
    from --root and the id, and exits 0."""
    make_bundle(bundle_dir, ["sleep", "600"], **SMALL, **{"linux.namespaces": [
        {"type": "network", "path": f"/run/netns/{engine_netns}"}]})
    cid = "orphan"
    env = {**os.environ, TEST_DIE_AT_PHASE: "network"}
    res = create_quiet(root, bundle_dir, cid, env)
    print(f"create killed at network: {res.returncode} {res.stderr[-400:]!r}", flush=True)
    assert res.returncode == -9, res.stderr
    name = zone_of(root, cid)["name"]
    deadline = time.monotonic() + 30
    while name in domains():  # the monitor destroys the domain create left it
        assert time.monotonic() < deadline, "the monitor left its domain when create died"
        time.sleep(0.3)
    # a domain nobody destroyed (a monitor that died too): built again from its config
    rebuilt = subprocess.run(["xl", "create", "-p", "-q", str(root / cid / "zone.cfg")],
                             capture_output=True, text=True, timeout=180)
    print(f"xl create of the orphan: {rebuilt.returncode} {rebuilt.stderr[-400:]!r}", flush=True)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert ingress_on_eth0(engine_netns)  # the dead create's redirect, leading nowhere now
    shutil.rmtree(root / cid)
    found = leftovers(root)
    print(f"orphaned: {found}", flush=True)
    assert f"domain {name}" in found and any(f.startswith("qemu ") for f in found), found
    assert oci(root, "state", cid).returncode != 0
    listed = oci(root, "list", "--orphans")
    print(f"list --orphans: {listed.returncode} {listed.stdout!r} {listed.stderr!r}", flush=True)
    assert listed.stdout.startswith(f"{cid}: domain {name}") and "disk dir" in listed.stdout
    assert f"tc redirect on eth0 in netns /run/netns/{engine_netns} to a missing interface" \
        in listed.stdout
    swept = oci(root, "delete", "--force", cid, timeout=120)
    print(f"delete --force: {swept.returncode} {swept.stderr!r} left={leftovers(root)}",
          flush=True)
    assert swept.returncode == 0, swept.stderr
    assert leftovers(root) == []
    assert not ingress_on_eth0(engine_netns)
    assert oci(root, "list", "--orphans").stdout == ""
    # and a second root never takes this root's names
    other = root.parent / "other-root"
    assert oci(other, "delete", "--force", cid).returncode == 0


