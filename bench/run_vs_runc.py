#!/usr/bin/env python3
"""edera-oci against runc, measured in the same run.

In the lab's dom0 (`python3 bench/run_vs_runc.py` boots the lab): `edera-oci run` and `runc run`
of the same /bin/true busybox bundle, interleaved, N times each; edera-oci's time split into its
phases (from its --debug log): disks from the rootfs, monitor + hooks, network, Xen domain build,
zone boot, teardown, and the rest (CLI start, validation, start, the workload, exit). Then
`state` of a created container, edera-oci against runc. On the host (--host): `state` of an
unknown id for both (start-up cost: each verb imports only what it needs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labbench import rerun_inside_lab

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], **kw) -> float:
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.monotonic() - t0


def med(values) -> float:
    return statistics.median(list(values))


def table(title: str, rows: list[tuple[str, float, float | None]]) -> None:
    print(f"\n{title}")
    print(f"{'measure':<32} | {'edera-oci (s)':>14} | {'runc (s)':>10} | {'ratio':>7}")
    print(f"{'-' * 32}-+-{'-' * 14}-+-{'-' * 10}-+-{'-' * 7}")
    for name, ours, theirs in rows:
        ratio = f"{ours / theirs:7.1f}" if theirs else ""
        theirs_s = f"{theirs:10.3f}" if theirs is not None else ""
        print(f"{name:<32} | {ours:14.3f} | {theirs_s:>10} | {ratio:>7}")


def state_times(cmd: list[str], n: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.monotonic() - t0)
    return med(times)


def logged_phases(text: str) -> dict[str, dict[str, float]]:
    """The phases of one `run` from its --debug log: the CLI's own, the zone's, teardown's."""
    def line(label: str) -> dict[str, float]:
        found = re.search(label + r" phases \(s\):(.*)", text)
        if not found:
            raise SystemExit(f"no '{label} phases' line in the --debug log:\n{text}")
        return {k: float(v) for k, v in re.findall(r"(\S+)=([\d.]+)", found.group(1))}

    cli = line("cli")
    del cli["zone"]  # the zone's phases, below
    return {"cli": cli, "zone": line("create"), "run": line("run"),
            "teardown": line("teardown")}


def budget(ours: list[float], runs_phases: list[dict[str, dict[str, float]]]) -> None:
    """Issue 4's budget: our own time against bare Xen domain creation plus zone boot."""
    bare = [p["zone"]["domain"] + p["zone"]["boot"] for p in runs_phases]
    own = [o - b for o, b in zip(ours, bare, strict=True)]
    destroy = [p["teardown"]["domain"] for p in runs_phases]
    print(f"\nbare Xen (domain creation + zone boot): {med(bare):.2f} s; everything else: "
          f"{med(own):.2f} s = {100 * med(o / b for o, b in zip(own, bare, strict=True)):.0f}% "
          "over bare (budget 30%)")
    print("  of which the toolstack's domain destruction (xl destroy): "
          f"{med(destroy):.2f} s; without it "
          f"{100 * med((o - d) / b for o, d, b in zip(own, destroy, bare, strict=True)):.0f}%")


def inside(runs: int) -> int:
    sys.path.insert(0, str(REPO))
    from tests.xen.bundles import make_bundle

    tmp = Path(tempfile.mkdtemp())
    bundle = make_bundle(tmp / "bundle", ["/bin/true"])
    ours, theirs, runs_phases = [], [], []
    log = tmp / "edera.log"
    for i in range(runs):
        log.write_text("")
        ours.append(timed(["edera-oci", "--debug", "--log", str(log), "--root",
                           str(tmp / "edera"), "run", "--bundle", str(bundle), f"e{i}"]))
        runs_phases.append(logged_phases(log.read_text()))
        theirs.append(timed(["runc", "--root", str(tmp / "runc"), "run", "--bundle",
                             str(bundle), f"r{i}"], stdin=subprocess.DEVNULL))
    rows = [("run /bin/true (total)", med(ours), med(theirs))]
    for group, names in runs_phases[0].items():
        for name in names:
            rows.append((f"  {group}: {name}", med(p[group][name] for p in runs_phases), None))
    accounted = [sum(p["zone"].values()) + sum(p["cli"].values()) + p["run"]["start"]
                 + p["run"]["wait"] + p["run"]["delete"] for p in runs_phases]
    rows.append(("  unaccounted (interpreter exit)",
                 med(o - a for o, a in zip(ours, accounted, strict=True)), None))
    table(f"run, median of {runs} (lab dom0, under emulation)", rows)
    budget(ours, runs_phases)
    # state of a live, created container
    subprocess.run(["edera-oci", "--root", str(tmp / "edera"), "create", "--bundle", str(bundle),
                    "s1"], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    subprocess.run(["runc", "--root", str(tmp / "runc"), "create", "--bundle", str(bundle),
                    "s1"], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    table("state of a created container, median of 15 (lab dom0)", [(
        "state", state_times(["edera-oci", "--root", str(tmp / "edera"), "state", "s1"], 15),
        state_times(["runc", "--root", str(tmp / "runc"), "state", "s1"], 15))])
    subprocess.run(["edera-oci", "--root", str(tmp / "edera"), "delete", "--force", "s1"])
    subprocess.run(["runc", "--root", str(tmp / "runc"), "delete", "--force", "s1"])
    return 0


def console_script() -> str:
    """The edera-oci that this interpreter's pip installed (not a shim such as pyenv's, whose
    own start-up would be measured instead)."""
    script = Path(sys.executable).parent / "edera-oci"
    if not script.exists():
        raise SystemExit(f"no {script}: run `{sys.executable} -m pip install .` first")
    return str(script)


def host(n: int) -> int:
    runc = shutil.which("runc")
    if not runc:
        raise SystemExit("runc is not installed on this host (apt-get install runc)")
    root = Path(tempfile.mkdtemp())
    ours_cmd = [console_script(), "--root", str(root), "state", "nosuch"]
    # time the answer, not a crash: the call must fail the way an unknown id fails
    probe = subprocess.run(ours_cmd, capture_output=True, text=True)
    if probe.returncode == 0 or "does not exist" not in probe.stderr:
        raise SystemExit(f"edera-oci state did not answer as expected: {probe.stderr.strip()}")
    ours = state_times(ours_cmd, n)
    theirs = state_times([runc, "--root", str(root), "state", "nosuch"], n)
    bare = state_times([sys.executable, "-S", "-c", "pass"], n)
    site = state_times([sys.executable, "-c", "pass"], n)
    rows = [("state", ours, theirs), ("python3 -S -c pass", bare, None),
            ("python3 -c pass (with site)", site, None)]
    # Debian's own interpreter, as on a fresh Debian 12 machine: what the console script does
    debian = Path("/usr/bin/python3")
    if debian.exists() and Path(sys.executable).resolve() != debian.resolve():
        launcher = "import sys; from edera_oci.cli.main import main; sys.exit(main())"
        cmd = [str(debian), "-c", launcher, "--root", str(root), "state", "nosuch"]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        rows += [("state, Debian's /usr/bin/python3", state_times(cmd, n, env=env), theirs),
                 ("  its python3 -c pass", state_times([str(debian), "-c", "pass"], n), None)]
    table(f"state of an unknown id, median of {n} (host, {sys.executable})", rows)
    print(json.dumps({"state_s": ours, "runc_state_s": theirs}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--host", action="store_true", help="only the host-side state benchmark")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.host:
        return host(40)
    if args.inside:
        return inside(args.runs)
    return rerun_inside_lab(__file__, args.runs)


if __name__ == "__main__":
    sys.exit(main())
