#!/usr/bin/env python3
"""Lab boot benchmark and reliability run.

Boots the lab N times in a row; in each boot dom0 creates a PV zone (PV disk + NIC, pings dom0)
and destroys it (tests/xen/test_lab_host.py). Prints a table: QEMU start -> ready toolstack,
whole run, and whether each boot passed, then the medians. Any lab crash (Xen/dom0 panic, a dom0
process segfault) is reported and makes the exit status non-zero.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST = "tests/xen/test_lab_host.py::test_pv_guest_has_console_disk_and_nic"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    subprocess.run([str(REPO / "lab/build")], check=True)
    rows = []
    failures = 0
    for i in range(args.runs):
        t0 = time.monotonic()
        proc = subprocess.run(
            [str(REPO / "lab/run"), "python3", "-m", "pytest", "-p", "no:cacheprovider", "-q",
             "-m", "xen", TEST],
            capture_output=True, text=True,
        )
        wall = time.monotonic() - t0
        timing = json.loads((REPO / "lab/out/latest/timing.json").read_text())
        crashed = [ln for ln in proc.stderr.splitlines() if "crashed" in ln or "LAB FAILURE" in ln]
        ok = proc.returncode == 0 and not crashed
        failures += not ok
        rows.append((i + 1, timing["ready_s"], wall, ok, crashed))
        print(f"boot {i + 1}: ready {timing['ready_s']:.1f} s, run {wall:.1f} s, "
              f"{'ok' if ok else 'FAILED'} {crashed or ''}", file=sys.stderr, flush=True)
        if not ok:
            print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
    print(f"\n{'boot':>4} | {'QEMU start -> toolstack ready (s)':>34} | "
          f"{'whole run with a zone (s)':>26} | result")
    print(f"{'-' * 4}-+-{'-' * 34}-+-{'-' * 26}-+-------")
    for n, ready, wall, ok, _ in rows:
        print(f"{n:>4} | {ready:>34.1f} | {wall:>26.1f} | {'ok' if ok else 'FAILED'}")
    readies = [r[1] for r in rows if r[1] is not None]
    print(f"{'med':>4} | {statistics.median(readies):>34.1f} | "
          f"{statistics.median(r[2] for r in rows):>26.1f} | "
          f"{len(rows) - failures}/{len(rows)} ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
