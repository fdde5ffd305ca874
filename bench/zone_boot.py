#!/usr/bin/env python3
"""Zone boot and footprint benchmark, in the lab.

For N zones, one after the other (busybox bundle, `echo first`):
  create      wall time of `edera-oci create` (disk image, domain build, boot to READY)
  boot        the domain's unpause -> the zone init's READY (from the monitor's log)
  start->byte `edera-oci start` -> the workload's first stdout byte at the engine's pipe
  guest mem   MemTotal - MemAvailable inside the zone, after boot (the zone init's STATS)
  monitor     the monitor's USS and PSS (smaps_rollup); its VmRSS, which counts shared libpython
              and libc, overstates what a zone adds (bench/dom0_memory.py has the whole footprint)
Prints a table with the medians. Run from the host: `python3 bench/zone_boot.py` (it boots the
lab); inside dom0 it runs with --inside.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labbench import rerun_inside_lab, smaps_rollup

REPO = Path(__file__).resolve().parents[1]


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def one(root: Path, bundle: Path, cid: str) -> dict:
    r, w = os.pipe()
    t0 = time.monotonic()
    subprocess.run(["edera-oci", "--root", str(root), "create", "--bundle", str(bundle),
                    "--pid-file", str(root.parent / f"{cid}.pid"), cid],
                   stdin=subprocess.DEVNULL, stdout=w, check=True)
    create_s = time.monotonic() - t0
    os.close(w)
    log = (root / cid / "monitor.log").read_text()
    boot_s = float(re.search(r"zone ready after ([\d.]+) s", log).group(1))
    state = json.loads(subprocess.run(["edera-oci", "--root", str(root), "state", cid],
                                      capture_output=True, text=True, check=True).stdout)
    monitor_kb = rss_kb(state["pid"])
    monitor_mem = smaps_rollup(state["pid"])
    t1 = time.monotonic()
    subprocess.run(["edera-oci", "--root", str(root), "start", cid], check=True)
    select.select([r], [], [], 120)
    first_byte_s = time.monotonic() - t1
    os.read(r, 4096)
    stats = json.loads(subprocess.run(
        ["edera-oci", "--root", str(root), "events", "--stats", cid],
        capture_output=True, text=True).stdout or "{}")
    guest_kb = (stats.get("data", {}).get("memory", {}).get("usage", {}).get("usage", 0)) // 1024
    subprocess.run(["edera-oci", "--root", str(root), "delete", "--force", cid], check=True)
    os.close(r)
    return {"create": create_s, "boot": boot_s, "first_byte": first_byte_s,
            "guest_kb": guest_kb, "monitor_kb": monitor_kb,
            "monitor_uss_kb": monitor_mem.get("uss_kb", 0),
            "monitor_pss_kb": monitor_mem.get("pss_kb", 0)}


def inside(runs: int) -> int:
    sys.path.insert(0, str(REPO))
    from tests.xen.bundles import make_bundle

    tmp = Path(tempfile.mkdtemp())
    bundle = make_bundle(tmp / "bundle", ["sh", "-c", "echo first; sleep 30"])
    rows = [one(tmp / "state", bundle, f"bench-{i}") for i in range(runs)]
    cols = [("create", "create (s)", "{:.2f}"), ("boot", "unpause->ready (s)", "{:.2f}"),
            ("first_byte", "start->1st byte (s)", "{:.3f}"),
            ("guest_kb", "guest used (KiB)", "{:d}"),
            ("monitor_uss_kb", "monitor USS (KiB)", "{:d}"),
            ("monitor_pss_kb", "monitor PSS (KiB)", "{:d}"),
            ("monitor_kb", "monitor RSS (KiB)", "{:d}")]
    print(" | ".join(["run"] + [c[1] for c in cols]))
    for i, row in enumerate(rows):
        print(" | ".join([str(i + 1)] + [c[2].format(row[c[0]]) for c in cols]))
    med = [c[2].format(type(rows[0][c[0]])(statistics.median(r[c[0]] for r in rows)))
           for c in cols]
    print(" | ".join(["median"] + med))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        return inside(args.runs)
    return rerun_inside_lab(__file__, args.runs)


if __name__ == "__main__":
    sys.exit(main())
