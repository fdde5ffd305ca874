#!/usr/bin/env python3
"""Density: zones of 128 MiB created and started until one fails, and the cause.

`python3 bench/density.py` boots the lab and, in its dom0, creates and starts zones of a busybox
bundle running `sleep 3600` with a 64 MiB memory limit (a 128 MiB zone: the limit plus the
runtime's 64 MiB for the zone's kernel and init) one after another until `edera-oci create`
fails (or --max zones), recording for each zone the create time, Xen's free memory and dom0's
MemAvailable after it. Prints the failing command's error, how many zones were reached, what
limited them, the create latency of the first, middle and last zones (n, median, p90, min,
max), the time to delete them all, and saves the raw values in bench/results/density-DATE.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labbench import (
    CLAIMS,
    local_zone_image,
    machine,
    meminfo,
    print_machine,
    rerun_inside_lab,
    run_quiet,
    save,
    table,
    xen_free_mib,
)

REPO = Path(__file__).resolve().parents[1]
LIMIT = 64 << 20
ZONE_MIB = 128


def limiting(failure: dict | None) -> str:
    """What stopped the zones, read from the failure, not assumed."""
    if failure is None:
        return "none reached (--max)"
    free = failure.get("xen_free_mib")
    if free is not None and free < ZONE_MIB:
        return f"Xen's free memory ({free} MiB left, a zone needs {ZONE_MIB} MiB)"
    if failure.get("dom0_memavailable_mib", 1e9) < 64:
        return "dom0 memory"
    return "not memory: see the error above"


def inside(max_zones: int) -> int:
    sys.path.insert(0, str(REPO))
    from tests.xen.bundles import make_bundle

    m = machine()
    print_machine(m)
    local_zone_image()
    tmp = Path(tempfile.mkdtemp())
    root = tmp / "state"
    bundle = make_bundle(tmp / "bundle", ["sleep", "3600"],
                         **{"linux.resources.memory.limit": LIMIT})
    zones = []
    failure = None
    start_free = xen_free_mib()
    for i in range(max_zones):
        cid = f"d{i}"
        t0 = time.monotonic()
        proc = run_quiet(["edera-oci", "--root", str(root), "create", "--bundle", str(bundle),
                          cid])
        create_s = time.monotonic() - t0
        if proc.returncode != 0:
            failure = {"zone": i + 1, "exit": proc.returncode, "stderr": proc.stderr.strip(),
                       "create_s": create_s, "xen_free_mib": xen_free_mib(),
                       "dom0_memavailable_mib": meminfo()["MemAvailable"] / 1024}
            break
        start = subprocess.run(["edera-oci", "--root", str(root), "start", cid],
                               capture_output=True, text=True)
        if start.returncode != 0:
            failure = {"zone": i + 1, "exit": start.returncode, "stderr": start.stderr.strip(),
                       "create_s": create_s, "step": "start"}
            break
        row = {"zone": i + 1, "create_s": create_s, "xen_free_mib": xen_free_mib(),
               "dom0_memavailable_mib": meminfo()["MemAvailable"] / 1024}
        zones.append(row)
        save("density", {"machine": m, "zone_mib": ZONE_MIB, "max": max_zones, "zones": zones,
                         "partial": True}, quiet=True)
        print(f"zone {i + 1}: create {create_s:.1f} s, Xen free {row['xen_free_mib']} MiB, "
              f"dom0 MemAvailable {row['dom0_memavailable_mib']:.0f} MiB",
              file=sys.stderr, flush=True)
    t0 = time.monotonic()
    for z in zones:
        cid = f"d{z['zone'] - 1}"
        subprocess.run(["edera-oci", "--root", str(root), "delete", "--force", cid], check=False)
    delete_all_s = time.monotonic() - t0
    reached = len(zones)
    print(f"\nzones of {ZONE_MIB} MiB reached: {reached}"
          + (f" (stopped at --max {max_zones})" if failure is None else ""))
    if failure:
        print(f"zone {failure['zone']} failed (exit {failure['exit']}) after "
              f"{failure['create_s']:.1f} s: {failure['stderr']}")
        print(f"at the failure: Xen free {failure.get('xen_free_mib')} MiB, dom0 MemAvailable "
              f"{failure.get('dom0_memavailable_mib', 0):.0f} MiB")
    used = start_free - (zones[-1]["xen_free_mib"] if zones else start_free)
    if zones:
        dom0_fall = zones[0]["dom0_memavailable_mib"] - zones[-1]["dom0_memavailable_mib"]
        print(f"Xen free memory: {start_free} MiB at start, {zones[-1]['xen_free_mib']} MiB "
              f"with {reached} zones: {used / reached:.1f} MiB per zone of {ZONE_MIB} MiB "
              f"configured; dom0 MemAvailable fell {dom0_fall:.0f} MiB from zone 1 to zone "
              f"{reached}")
    creates = [z["create_s"] for z in zones]
    third = max(1, len(creates) // 3)
    rows = [
        ("create, all zones", creates, ""),
        (f"create, first {third} zones", creates[:third], ""),
        (f"create, last {third} zones", creates[-third:],
         "a rise says per-zone costs grow with the count"),
        ("delete --force, all zones (total)", [delete_all_s], f"{reached} zones"),
    ]
    out = table(f"density: zones of {ZONE_MIB} MiB until one fails, seconds (lab dom0, Xen "
                f"{m['xen_total_mib']} MiB, {start_free} MiB free at start)", rows)
    limit = limiting(failure)
    print(f"limiting resource: {limit}")
    print(f"claim ({CLAIMS['memory']}): in this lab, {reached} zones; on a host with hundreds "
          "of zones the per-zone dom0 cost (bench/dom0_memory.py) decides how many fit.")
    save("density", {"machine": m, "zone_mib": ZONE_MIB, "max": max_zones, "zones": zones,
                     "failure": failure, "limiting": limit, "delete_all_s": delete_all_s,
                     "table": out})
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, help="unused: one pass")
    ap.add_argument("--max", type=int, default=40, help="stop after this many zones")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        return inside(args.max)
    return rerun_inside_lab(__file__, args.runs, timeout=3600, extra=["--max", str(args.max)])


if __name__ == "__main__":
    sys.exit(main())
