#!/usr/bin/env python3
"""dom0 memory per zone, for 1, 4 and 8 zones, in one lab boot.

`python3 bench/dom0_memory.py` boots the lab. For each N: caches dropped, a snapshot of dom0
(every process, /proc/meminfo, `xl info` free_memory); N zones created and started (a busybox
bundle running `sleep 3600`, memory limit 64 MiB, so a 128 MiB zone); a settle time; caches
dropped and a second snapshot. Then:
  * every dom0 process that appeared, by kind (monitor, `xl` daemon, other), with its PSS and
    USS (private clean + dirty) from /proc/PID/smaps_rollup; kernel threads that appeared
    (blkback and the like) are counted, their memory is in the kernel's delta;
  * the dom0 kernel's delta: MemAvailable, MemFree, Slab, PageTables, KernelStack, Shmem;
  * Xen's free-memory delta against the zones' configured memory.
Then the N zones are deleted and the next N begins. Prints per-zone figures with n, median,
p90, min, max next to the claim (about 10 MB of dom0 memory per zone) and saves the raw values
in bench/results/dom0_memory-DATE.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labbench import (
    CLAIMS,
    dom0_snapshot,
    local_zone_image,
    machine,
    print_machine,
    process_kind,
    rerun_inside_lab,
    run_quiet,
    save,
    smaps_rollup,
    table,
)

REPO = Path(__file__).resolve().parents[1]
COUNTS = (1, 4, 8)
LIMIT = 64 << 20
SETTLE_S = 20
KERNEL_KEYS = ("MemAvailable", "MemFree", "Slab", "SUnreclaim", "PageTables", "KernelStack",
               "Shmem", "Cached", "Buffers")


def measure(n: int, root: Path, bundle: Path) -> dict:
    before = dom0_snapshot()
    ids = []
    error = None
    for cid in [f"m{n}-{i}" for i in range(n)]:
        made = run_quiet(["edera-oci", "--root", str(root), "create", "--bundle", str(bundle),
                          cid])
        if made.returncode != 0:
            error = f"create of zone {len(ids) + 1} of {n} failed: {made.stderr.strip()}"
            print(error, flush=True)
            subprocess.run(["edera-oci", "--root", str(root), "delete", "--force", cid],
                           capture_output=True)
            break
        ids.append(cid)
        subprocess.run(["edera-oci", "--root", str(root), "start", cid], check=True)
    if error:
        for cid in ids:
            subprocess.run(["edera-oci", "--root", str(root), "delete", "--force", cid])
        return {"n": n, "error": error}
    time.sleep(SETTLE_S)
    after = dom0_snapshot()
    new = {pid: cmd for pid, cmd in after["procs"].items()
           if before["procs"].get(pid) != cmd}
    procs = []
    for pid, cmd in sorted(new.items()):
        mem = smaps_rollup(pid)
        procs.append({"pid": pid, "cmd": cmd[:160], "kind": process_kind(cmd), **mem})
    kernel = {k: (before["mem"][k] - after["mem"][k]) / 1024 for k in KERNEL_KEYS
              if k in before["mem"]}
    # MemAvailable and MemFree fall as zones are added; the others rise
    for k in KERNEL_KEYS[2:]:
        kernel[k] = -kernel[k]
    for cid in ids:
        subprocess.run(["edera-oci", "--root", str(root), "delete", "--force", cid], check=True)
    return {"n": n, "processes": procs, "kernel_delta_mib": kernel,
            "xen_free_delta_mib": before["xen_free_mib"] - after["xen_free_mib"]}


def inside(counts: list[int]) -> int:
    sys.path.insert(0, str(REPO))
    from tests.xen.bundles import make_bundle

    m = machine()
    print_machine(m)
    local_zone_image()
    tmp = Path(tempfile.mkdtemp())
    bundle = make_bundle(tmp / "bundle", ["sleep", "3600"],
                         **{"linux.resources.memory.limit": LIMIT})
    results = []
    rows = []
    for n in counts:
        r = measure(n, tmp / "state", bundle)
        results.append(r)
        if "error" in r:
            continue
        save("dom0_memory", {"machine": m, "limit_bytes": LIMIT, "settle_s": SETTLE_S,
                             "results": results, "partial": True}, quiet=True)
        by_kind: dict[str, list[dict]] = {}
        for p in r["processes"]:
            by_kind.setdefault(p["kind"], []).append(p)
        print(f"\n{n} zone(s): new dom0 processes: "
              + ", ".join(f"{k} x{len(v)}" for k, v in sorted(by_kind.items())), flush=True)
        for p in r["processes"]:
            if p["kind"] == "other":
                print(f"  other: pid {p['pid']} {p['cmd']} PSS {p.get('pss_kb')} kB "
                      f"USS {p.get('uss_kb')} kB")
        for k in ("monitor", "xl daemon"):
            procs = [p for p in by_kind.get(k, []) if "pss_kb" in p]
            rows.append((f"N={n}: {k} PSS (MiB)", [p["pss_kb"] / 1024 for p in procs],
                         f"{len(procs)} processes"))
            rows.append((f"N={n}: {k} USS (MiB)", [p["uss_kb"] / 1024 for p in procs], ""))
        user = [p for p in r["processes"] if "pss_kb" in p]
        pss_per_zone = sum(p["pss_kb"] for p in user) / 1024 / n
        uss_per_zone = sum(p["uss_kb"] for p in user) / 1024 / n
        kd = r["kernel_delta_mib"]
        r["per_zone_mib"] = {
            "processes_pss": pss_per_zone, "processes_uss": uss_per_zone,
            "memavailable": kd["MemAvailable"] / n, "memfree": kd["MemFree"] / n,
            "slab": kd["Slab"] / n, "pagetables": kd["PageTables"] / n,
            "kernel_other": (kd["MemAvailable"] / n) - uss_per_zone,
            "xen_free": r["xen_free_delta_mib"] / n,
        }
        pz = r["per_zone_mib"]
        gap = pz["memavailable"] - 10
        rows += [
            (f"N={n}: all new processes, PSS per zone", [pss_per_zone], ""),
            (f"N={n}: all new processes, USS per zone", [uss_per_zone], ""),
            (f"N={n}: dom0 MemAvailable drop per zone", [pz["memavailable"]],
             f"claim: {CLAIMS['memory']}; gap {gap:+.1f} MiB"),
            (f"N={n}:   of which not in process USS", [pz["kernel_other"]],
             "kernel: slab, page tables, loop, blkback"),
            (f"N={n}: Slab increase per zone", [pz["slab"]], ""),
            (f"N={n}: PageTables increase per zone", [pz["pagetables"]], ""),
            (f"N={n}: Xen free-memory drop per zone", [pz["xen_free"]],
             "configured zone memory: 128 MiB"),
        ]
    out = table("dom0 memory per zone, MiB (lab dom0; caches dropped before each snapshot; "
                "zones of 128 MiB running sleep)", rows)
    done = [r for r in results if "per_zone_mib" in r]
    if not done:
        print("no zone count succeeded: no table")
        save("dom0_memory", {"machine": m, "results": results})
        return 1
    headline = statistics.median(r["per_zone_mib"]["memavailable"] for r in done)
    counts_done = ",".join(str(r["n"]) for r in done)
    print(f"\nclaim ({CLAIMS['memory']}): dom0 MemAvailable falls by {headline:.1f} MiB per "
          f"zone (median over N={counts_done}); gap {headline - 10:+.1f} MiB. The "
          "per-process figures are the same code as on hardware; the kernel's share depends "
          "on the dom0 kernel, not on emulation.")
    save("dom0_memory", {"machine": m, "limit_bytes": LIMIT, "settle_s": SETTLE_S,
                         "results": results, "table": out})
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, help="unused: one pass over the counts")
    ap.add_argument("--counts", default=",".join(map(str, COUNTS)),
                    help="zone counts, comma-separated (default 1,4,8)")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        return inside([int(c) for c in args.counts.split(",")])
    return rerun_inside_lab(__file__, args.runs, timeout=3600, extra=["--counts", args.counts])


if __name__ == "__main__":
    sys.exit(main())
