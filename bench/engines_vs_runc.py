#!/usr/bin/env python3
"""podman and docker with edera-oci against the same engines with runc, in the same run.

In the lab's dom0 (`python3 bench/engines_vs_runc.py` boots the lab): `podman run --rm IMAGE
true` with `--runtime edera` and with runc, interleaved, N times each; then the same for
`docker run --rm`. Prints the median of each and the ratio. Images are imported from a busybox
rootfs, as in the lab tests (no registry is reachable).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labbench import rerun_inside_lab

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> float:
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.monotonic() - t0


def inside(runs: int) -> int:
    sys.path.insert(0, str(REPO))
    from tests.xen.engines import setup_docker, setup_podman

    work = Path(tempfile.mkdtemp())
    engines = {
        "podman": (setup_podman(work / "podman"), ["podman", "--runtime", "edera", "run"],
                   ["podman", "--runtime", "runc", "run"]),
        "docker": (setup_docker(work / "docker"), ["docker", "run", "--runtime", "edera"],
                   ["docker", "run", "--runtime", "runc"]),
    }
    print(f"\n`run --rm IMAGE true`, median of {runs} (lab dom0, under emulation)")
    print(f"{'engine':<8} | {'edera-oci (s)':>14} | {'runc (s)':>10} | {'ratio':>7}")
    print(f"{'-' * 8}-+-{'-' * 14}-+-{'-' * 10}-+-{'-' * 7}")
    for name, (image, edera, runc) in engines.items():
        ours, theirs = [], []
        for _ in range(runs):
            ours.append(timed([*edera, "--rm", image, "true"]))
            theirs.append(timed([*runc, "--rm", image, "true"]))
        o, t = statistics.median(ours), statistics.median(theirs)
        print(f"{name:<8} | {o:14.2f} | {t:10.2f} | {o / t:7.1f}", flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        return inside(args.runs)
    return rerun_inside_lab(__file__, args.runs, timeout=3000)


if __name__ == "__main__":
    sys.exit(main())
