#!/usr/bin/env python3
"""Soak: create/start/kill/delete cycles in the lab, with a fault every tenth cycle.

Each cycle creates a small zone (64 MiB limit) in an engine-style network namespace, starts it,
kills it with KILL and deletes it. Every tenth cycle instead kills `create` itself at one of its
phases (EDERA_OCI_TEST_DIE_AT_PHASE, the phases taken in turn) and cleans up with
`delete --force`, as an engine does after its deadline. Then it prints what is left compared
with before: domains, loop devices, vifs, tc ingress qdiscs on the engine's interface, files
under --root and the disk directory, dom0's and Xen's free memory. Not part of CI (100 cycles
take about an hour in the lab). Run from the host: `python3 bench/soak.py --cycles 20`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labbench import rerun_inside_lab, run_quiet

REPO = Path(__file__).resolve().parents[1]
DISKS = Path("/var/lib/edera-oci/disks")
# create's phases (edera_oci.lifecycle.backend.CREATE_PHASES), the costliest to leak first
FAULT_PHASES = ("domain", "booting", "network", "monitor", "disks", "ready", "hooks",
                "disk-dir", "claimed")


def sh(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def files_under(path: Path) -> int:
    return sum(len(dirs) + len(files) for _, dirs, files in os.walk(path)) if path.exists() else 0


def meminfo_kb(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def xen_free_mb() -> int:
    for line in sh("xl", "info").stdout.splitlines():
        if line.startswith("free_memory"):
            return int(line.split(":")[1])
    return 0


def snapshot(root: Path, netns: str) -> dict[str, int]:
    from tests.xen.dom0 import domains, loops, vifs

    tc = sh("ip", "netns", "exec", netns, "tc", "qdisc", "show", "dev", "eth0").stdout
    return {
        "domains": len(domains()),
        "loop devices": len(loops()),
        "vifs": len(vifs()),
        "tc ingress on eth0": tc.count("ingress"),
        "files under --root": files_under(root),
        "files under disk dir": files_under(DISKS),
        "dom0 MemAvailable (MiB)": meminfo_kb("MemAvailable") // 1024,
        "Xen free memory (MiB)": xen_free_mb(),
    }


def make_netns(tag: str) -> str:
    name = f"soak-{tag}"
    for argv in (["netns", "add", name],
                 ["link", "add", f"vs{tag}", "type", "veth", "peer", "name", "eth0", "netns",
                  name],
                 ["addr", "add", "10.252.0.1/24", "dev", f"vs{tag}"],
                 ["link", "set", f"vs{tag}", "up"],
                 ["-n", name, "addr", "add", "10.252.0.2/24", "dev", "eth0"],
                 ["-n", name, "link", "set", "eth0", "up"],
                 ["-n", name, "route", "add", "default", "via", "10.252.0.1"]):
        subprocess.run(["ip", *argv], check=True, capture_output=True)
    return name


def cycle(root: Path, bundle: Path, cid: str, die_at: str | None) -> str:
    """One cycle; returns "" when it went as it should, else what went wrong."""
    oci = ["edera-oci", "--root", str(root)]
    env = dict(os.environ)
    if die_at:
        env["EDERA_OCI_TEST_DIE_AT_PHASE"] = die_at
    created = run_quiet([*oci, "create", "--bundle", str(bundle), cid], env=env, timeout=400)
    if die_at:
        if created.returncode != -9:
            return f"create at phase {die_at} ended {created.returncode}: {created.stderr}"
        gone = sh(*oci, "delete", "--force", cid, timeout=120)
        return "" if gone.returncode == 0 else f"delete --force: {gone.stderr.strip()}"
    if created.returncode != 0:
        return f"create: {created.stderr.strip()}"
    for verb in (["start", cid], ["kill", cid, "KILL"]):
        res = sh(*oci, *verb, timeout=120)
        if res.returncode != 0:
            sh(*oci, "delete", "--force", cid, timeout=120)
            return f"{verb[0]}: {res.stderr.strip()}"
    state = json.loads(sh(*oci, "state", cid).stdout or "{}")
    if state.get("status") != "stopped":
        sh(*oci, "delete", "--force", cid, timeout=120)
        return f"after kill KILL: {state.get('status')}"
    res = sh(*oci, "delete", cid, timeout=120)
    return "" if res.returncode == 0 else f"delete: {res.stderr.strip()}"


def inside(cycles: int) -> int:
    sys.path.insert(0, str(REPO))
    from tests.xen.bundles import make_bundle

    tmp = Path(tempfile.mkdtemp())
    netns = make_netns(str(os.getpid()))
    root = tmp / "state"
    bundle = make_bundle(tmp / "bundle", ["sleep", "600"],
                         **{"linux.resources": {"memory": {"limit": 64 << 20}},
                            "linux.namespaces": [{"type": "network",
                                                  "path": f"/run/netns/{netns}"}]})
    before = snapshot(root, netns)
    problems = []
    t0 = time.monotonic()
    for i in range(cycles):
        die_at = FAULT_PHASES[(i // 10) % len(FAULT_PHASES)] if i % 10 == 9 else None
        t = time.monotonic()
        problem = cycle(root, bundle, f"soak-{i}", die_at)
        took = time.monotonic() - t
        print(f"cycle {i + 1:3d}{' killed at ' + die_at if die_at else '':<19} "
              f"{took:6.1f} s {problem or 'ok'}", flush=True)
        if problem:
            problems.append((i + 1, problem))
    after = snapshot(root, netns)
    print(f"\n{cycles} cycles in {time.monotonic() - t0:.0f} s, {len(problems)} failed")
    print(f"{'what':<26} | {'before':>8} | {'after':>8}")
    print(f"{'-' * 26}-|-{'-' * 8}-|-{'-' * 8}")
    for key in before:
        print(f"{key:<26} | {before[key]:>8} | {after[key]:>8}")
    subprocess.run(["ip", "netns", "del", netns], capture_output=True)
    leaked = [k for k in before if "MiB" not in k and after[k] != before[k]]
    return 1 if problems or leaked else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--runs", type=int, help=argparse.SUPPRESS)  # what labbench passes
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        return inside(args.runs or args.cycles)
    return rerun_inside_lab(__file__, args.cycles, timeout=400 + 60 * args.cycles)


if __name__ == "__main__":
    sys.exit(main())
