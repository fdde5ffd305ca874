#!/usr/bin/env python3
"""Run latency: edera-oci against runc and against a bare-Xen floor, in the same lab boot.

In the lab's dom0 (`python3 bench/run_vs_runc.py` boots the lab), interleaved in rotating order,
one warm-up round discarded, then N rounds of:
  * `edera-oci run` of a /bin/true busybox bundle (with its --debug phases);
  * `runc run` of the same bundle;
  * the floor: `xl create -F` of the zone image's kernel with its initramfs whose /init is a
    static program that powers off at once (built on the host, bench/tools/poweroff_init.c):
    domain build + kernel boot + destroy, none of the runtime; once without a disk, once with
    the same busybox ext4 image as a vbd through the runtime's block hotplug script;
  * the floor's domain build alone (`xl create -p`) and `xl destroy`.
Prints n, median, p90, min, max of each, the claim it bears on, and saves the raw values in
bench/results/run_latency-DATE.json. On the host (--host): `state` of an unknown id for both
runtimes (start-up cost: each verb imports only what it needs).
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

from labbench import (
    CLAIMS,
    LOCAL_IMAGE,
    REPO,
    TOOLS_OUT,
    StepFailed,
    build_static,
    local_zone_image,
    machine,
    print_machine,
    rerun_inside_lab,
    save,
    timed,
)
from labbench import table as stats_table


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


FLOOR_DIR = TOOLS_OUT / "floor"


def build_floor_initramfs() -> Path:
    """On the host: the zone image's own initramfs (its modules and all) with /init replaced by
    a static program that powers the domain off at once (bench/tools/poweroff_init.c)."""
    sys.path.insert(0, str(REPO / "lab"))
    import lablib

    init = build_static("poweroff_init")
    source = REPO / "build" / "zone-image" / "initramfs.img"
    if not source.exists():
        raise SystemExit(f"no {source}: build the zone image first (python3 zone_image/build)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        unpack = subprocess.run(f"gzip -dc {source} | cpio --quiet -idm", shell=True, cwd=root)
        if unpack.returncode:
            raise SystemExit(f"cannot unpack {source}")
        shutil.copy2(init, root / "init")
        FLOOR_DIR.mkdir(parents=True, exist_ok=True)
        lablib.write_initramfs(root, FLOOR_DIR / "initramfs.img")
    return FLOOR_DIR / "initramfs.img"


def floor_config(name: str, disk: Path | None) -> Path:
    """An xl config as the runtime's for a /bin/true bundle (PV, same kernel and command line,
    256 MiB, 1 vCPU), with the poweroff init; with disk, the same busybox ext4 image through
    the runtime's block hotplug script, so the disk's own cost is measured without Python."""
    disks = ""
    if disk is not None:
        disks = (f"'format=raw, vdev=xvda, access=rw, backendtype=phy, "
                 f"script=/var/lib/edera-oci/block-hotplug, target={disk}'")
    cfg = FLOOR_DIR / f"{name}.cfg"
    cfg.write_text("\n".join([
        f'name = "{name}"', 'type = "pv"', f'kernel = "{LOCAL_IMAGE / "vmlinux"}"',
        f'ramdisk = "{LOCAL_IMAGE / "floor-initramfs.img"}"', 'extra = "console=hvc0 quiet"',
        "memory = 256", "maxmem = 256", "vcpus = 1", "maxvcpus = 1", f"disk = [ {disks} ]",
        "vif = [ ]", 'on_poweroff = "destroy"', 'on_reboot = "destroy"',
        'on_crash = "destroy"', ""]))
    return cfg


def free_loops(image: Path) -> None:
    """The runtime's hotplug script leaves the loop device to the runtime's teardown; here the
    bench frees it (not timed)."""
    out = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True).stdout
    for line in out.splitlines():
        subprocess.run(["losetup", "-d", line.split(":", 1)[0]], check=False)


def inside(runs: int, full: bool) -> int:
    sys.path.insert(0, str(REPO))
    from tests.xen.bundles import make_bundle

    m = machine()
    print_machine(m)
    tmp = Path(tempfile.mkdtemp())
    bundle = make_bundle(tmp / "bundle", ["/bin/true"])
    image = tmp / "floor-root.ext4"
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-d",
                    str(bundle / "rootfs"), str(image), "64M"], check=True)
    if not (FLOOR_DIR / "initramfs.img").exists():
        raise SystemExit(f"no {FLOOR_DIR / 'initramfs.img'}: run this script from the host")
    local_zone_image()
    shutil.copyfile(FLOOR_DIR / "initramfs.img", LOCAL_IMAGE / "floor-initramfs.img")
    plain, with_disk = floor_config("floor", None), floor_config("floor-disk", image)
    log = tmp / "edera.log"
    samples: dict[str, list[float]] = {k: [] for k in (
        "edera", "runc", "floor", "floor_disk", "floor_build", "floor_destroy")}
    warmup: dict[str, float] = {}
    phases = []
    failures: list[dict] = []

    def edera(i: int) -> dict[str, float]:
        log.write_text("")
        t = timed(["edera-oci", "--debug", "--log", str(log), "--root", str(tmp / "edera"),
                   "run", "--bundle", str(bundle), f"e{i}"])
        phases.append(logged_phases(log.read_text()))
        return {"edera": t}

    def runc(i: int) -> dict[str, float]:
        return {"runc": timed(["runc", "--root", str(tmp / "runc"), "run", "--bundle",
                               str(bundle), f"r{i}"])}

    def floor(i: int) -> dict[str, float]:
        return {"floor": timed(["xl", "create", "-F", "-q", str(plain)],
                               stderr=subprocess.DEVNULL)}

    def floor_disk(i: int) -> dict[str, float]:
        t = timed(["xl", "create", "-F", "-q", str(with_disk)], stderr=subprocess.DEVNULL)
        free_loops(image)
        return {"floor_disk": t}

    def floor_split(i: int) -> dict[str, float]:
        build = timed(["xl", "create", "-p", "-q", str(plain)])
        destroy = timed(["xl", "destroy", "floor"])
        return {"floor_build": build, "floor_destroy": destroy}

    order = [edera, runc, floor] + ([floor_disk, floor_split] if full else [])
    for i in range(runs + 1):  # run 0 is the warm-up, discarded
        k = i % len(order)
        got: dict[str, float] = {}
        phases_before = len(phases)
        try:
            for step in order[k:] + order[:k]:  # interleaved, the order rotating each round
                step_got = step(i)
                print(f"  round {i}: " + ", ".join(f"{k} {v:.2f} s" for k, v in step_got.items()),
                      file=sys.stderr, flush=True)
                got.update(step_got)
        except StepFailed as e:
            # the whole round goes: its figures would not be paired
            failures.append({"round": i, "error": str(e)})
            print(f"round {i} FAILED, discarded: {e}", flush=True)
            for cleanup in (["xl", "destroy", "floor"], ["xl", "destroy", f"edera-e{i}"],
                            ["edera-oci", "--root", str(tmp / "edera"), "delete", "--force",
                             f"e{i}"]):
                subprocess.run(cleanup, capture_output=True)
            del phases[phases_before:]
            continue
        if i == 0:
            warmup = got
            phases.clear()
        else:
            for key, value in got.items():
                samples[key].append(value)
        print(f"round {i}{' (warm-up)' if i == 0 else ''}: "
              + ", ".join(f"{k} {v:.2f} s" for k, v in got.items()), file=sys.stderr, flush=True)

    ours, theirs, bare = samples["edera"], samples["runc"], samples["floor"]
    if failures:
        print(f"\n{len(failures)} round(s) failed and were discarded:")
        for f in failures:
            print(f"  round {f['round']}: {f['error']}")
    if not ours:
        save("run_latency", {"machine": m, "runs": runs, "full": full, "failures": failures,
                             "samples": samples})
        print("no round succeeded: no table")
        return 1
    rows = [
        ("edera-oci run /bin/true (total)", ours,
         f"claim: {CLAIMS['boot']}; lab median {statistics.median(ours):.1f} s "
         f"= {statistics.median(ours):.0f}x the claim (TCG: cannot test it)"),
        ("runc run /bin/true", theirs,
         f"edera/runc {statistics.median(ours) / statistics.median(theirs):.1f}x"),
        ("floor: xl create -F, poweroff init", bare,
         f"edera/floor {statistics.median(ours) / statistics.median(bare):.2f}x"),
    ]
    if full:
        rows += [
            ("floor + 1 vbd (runtime's hotplug)", samples["floor_disk"],
             f"edera/floor+vbd {med(ours) / med(samples['floor_disk']):.2f}x"),
            ("  floor: xl create -p (domain build)", samples["floor_build"], ""),
            ("  floor: xl destroy", samples["floor_destroy"], ""),
            ("  floor: boot + poweroff (by difference)",
             [t - b - d for t, b, d in zip(bare, samples["floor_build"],
                                           samples["floor_destroy"], strict=True)],
             "floor total - build - destroy, per round"),
        ]
    floor_ref = samples["floor_disk"] if full else bare
    own = [o - f for o, f in zip(ours, floor_ref, strict=True)]
    rows.append((f"edera-oci own time (total - floor{'+vbd' if full else ''})", own,
                 "budget: own time <= 30% of the floor"))
    for group, names in phases[0].items():
        for name in names:
            rows.append((f"  phase {group}: {name}", [p[group][name] for p in phases],
                         "runtime's --debug log"))
    out = stats_table(f"run latency of a /bin/true busybox bundle, seconds, {runs} interleaved "
                      "rounds after 1 warm-up (lab dom0)", rows)
    print(f"\nown time / floor: median "
          f"{100 * med(o / f for o, f in zip(own, floor_ref, strict=True)):.0f}% (budget 30%)")
    print(f"claim ({CLAIMS['boot']}): not testable in this lab. runc, which takes ~45 ms on "
          f"hardware, takes {statistics.median(theirs):.2f} s here; scaled by that factor "
          f"({statistics.median(theirs) / 0.045:.0f}x) edera-oci's run would be "
          f"{statistics.median(ours) * 0.045 / statistics.median(theirs):.2f} s and the floor "
          f"{statistics.median(bare) * 0.045 / statistics.median(theirs):.2f} s on hardware. "
          "One factor for all work is wrong (Python runs ~5x slower under TCG, syscall-heavy "
          "work 15-20x: reviews/performance.md 3.2), so this is an order of magnitude only.")
    save("run_latency", {"machine": m, "runs": runs, "full": full, "warmup": warmup,
                         "failures": failures, "samples": samples,
                         "phases": phases, "table": out})
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
    ap.add_argument("--full", action="store_true",
                    help="also the floor with a vbd, and its domain build and destroy apart")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.host:
        return host(40)
    if args.inside:
        return inside(args.runs, args.full)
    build_floor_initramfs()
    return rerun_inside_lab(__file__, args.runs, extra=["--full"] if args.full else [])


if __name__ == "__main__":
    sys.exit(main())
