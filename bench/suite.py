#!/usr/bin/env python3
"""Several lab benchmarks in one boot of the lab, one after the other.

`python3 bench/suite.py` builds what the benchmarks need on the host (the floor's initramfs,
bench/tools/cpuwork), boots the lab once with a dom0 of 4 GiB (rootfs_size needs it for its
tmpfs) and runs run_vs_runc, cpu_overhead, dom0_memory, rootfs_size, density, storage and
pod_vs_single (or those named by --only, in its order), each with the --runs given here. Each
benchmark prints its own table and writes its own bench/results/NAME-DATE.json (as it goes, for
the long ones), so a suite stopped early keeps what finished. Each benchmark is also runnable
alone: `python3 bench/NAME.py` boots its own lab.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys

from labbench import REPO, build_static, host_env
from rootfs_size import BIG_DOM0
from run_vs_runc import build_floor_initramfs
from storage import prepare_on_host as prepare_storage

ORDER = ["run_vs_runc", "cpu_overhead", "dom0_memory", "rootfs_size", "density",
         "storage", "pod_vs_single"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default=",".join(ORDER),
                    help="comma-separated benchmarks, run in the order given")
    ap.add_argument("--timeout", type=int, default=7200)
    ap.add_argument("--density-max", type=int, default=24)
    ap.add_argument("--rootfs-runs", type=int, default=2, help="1 GB creates are slow")
    ap.add_argument("--storage-size", type=int, default=64, help="storage: MiB written and read")
    ap.add_argument("--storage-files", type=int, default=2000,
                    help="storage: files in the metadata tree (9p costs tens of ms per request "
                         "under TCG: 300 fits a suite)")
    ap.add_argument("--storage-slow-files", type=int, default=0,
                    help="storage: files in the tree on 9p and NFS (default: --storage-files)")
    args = ap.parse_args()
    chosen = [b for b in args.only.split(",") if b]
    unknown = [b for b in chosen if b not in ORDER]
    if unknown:
        ap.error(f"--only: unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(ORDER)}")
    build_floor_initramfs()
    build_static("cpuwork")
    if "storage" in chosen:
        prepare_storage()
    extra = {"density": ["--max", str(args.density_max)],
             "storage": ["--size", str(args.storage_size), "--files", str(args.storage_files),
                         "--slow-files", str(args.storage_slow_files)]}
    script = "; ".join(
        shlex.join(["python3", f"bench/{name}.py", "--inside", "--runs",
                    str(args.rootfs_runs if name == "rootfs_size" else args.runs),
                    *extra.get(name, [])])
        for name in chosen)
    argv = [str(REPO / "lab/run"), *BIG_DOM0, "--timeout", str(args.timeout)]
    for key, value in host_env().items():
        argv += ["-e", f"{key}={value}"]
    return subprocess.run([*argv, "sh", "-c", script]).returncode


if __name__ == "__main__":
    sys.exit(main())
