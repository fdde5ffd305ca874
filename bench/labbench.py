"""What the lab benchmarks share.

Run from the host, each benchmark boots the lab once and runs itself there with --inside (the
measuring part), passing its arguments on; the host's CPU model, load and commit go in with
it, as environment variables, so the lab side can print and save them. Every figure is
summarized the same way (n, median, p90, min, max), printed next to the product's claim it
bears on, and the raw values are saved as JSON under bench/results/.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TOOLS_SRC = REPO / "bench" / "tools"
TOOLS_OUT = REPO / "build" / "bench"  # built on the host; dom0 sees the checkout at this path

# The product's claims, as the issue states them; each table prints the one it bears on.
CLAIMS = {
    "boot": "boot under 1 s on hardware",
    "memory": "about 10 MB of dom0 memory per zone",
    "cpu": "about 5% CPU overhead",
    "disk": "disk I/O at 90% of the host's",
}

LAB_LABEL = "lab: Xen 4.17 in QEMU TCG (software emulation), 2 vCPU; ratios only, not hardware"


# -- host side -------------------------------------------------------------------------------

def host_env() -> dict[str, str]:
    """What the lab cannot see of the host: its CPU, load and the commit under test."""
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                            "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
    return {
        "EDERA_BENCH_HOST_CPU": cpu_model(),
        "EDERA_BENCH_HOST_CPUS": str(os.cpu_count()),
        "EDERA_BENCH_HOST_LOAD": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "EDERA_BENCH_HOST_MEM_GIB": f"{meminfo()['MemTotal'] / 1024 / 1024:.1f}",
        "EDERA_BENCH_COMMIT": commit + ("+dirty" if dirty else ""),
    }


def build_static(name: str) -> Path:
    """bench/tools/NAME.c built static with the host's gcc (dom0 has no compiler)."""
    if shutil.which("gcc") is None:
        raise SystemExit("bench: the host needs gcc to build bench/tools (apt-get install gcc)")
    TOOLS_OUT.mkdir(parents=True, exist_ok=True)
    out = TOOLS_OUT / name
    subprocess.run(["gcc", "-static", "-O2", "-Wall", "-o", str(out), str(TOOLS_SRC / f"{name}.c")],
                   check=True)
    return out


def rerun_inside_lab(script: str, runs: int, timeout: int | None = None,
                     extra: list[str] | None = None, lab_args: list[str] | None = None) -> int:
    """`lab/run [LAB_ARGS] python3 bench/SCRIPT --inside --runs N [EXTRA]`, with the host's
    details in the environment; returns its exit status."""
    argv = [str(REPO / "lab/run"), *(lab_args or [])]
    if timeout is not None:
        argv += ["--timeout", str(timeout)]
    for key, value in host_env().items():
        argv += ["-e", f"{key}={value}"]
    rel = Path(script).resolve().relative_to(REPO)
    return subprocess.run([*argv, "python3", str(rel), "--inside", "--runs", str(runs),
                           *(extra or [])]).returncode


# -- lab side ------------------------------------------------------------------------------

LOCAL_IMAGE = Path("/var/lib/edera-bench/zone-image")


def local_zone_image() -> Path:
    """A copy of the zone image on dom0's own disk, used by the runtime (EDERA_OCI_ZONE_IMAGE)
    and by the floors. The lab links /usr/lib/edera-oci/zone-image to the checkout's 9p share,
    mounted cache=none, so there every `xl create` reads the 65 MB kernel through 9p; an
    installed runtime reads it from a local disk, and so does the benchmark."""
    source = Path("/usr/lib/edera-oci/zone-image")
    LOCAL_IMAGE.mkdir(parents=True, exist_ok=True)
    for f in source.iterdir():
        shutil.copyfile(f, LOCAL_IMAGE / f.name)
    os.environ["EDERA_OCI_ZONE_IMAGE"] = str(LOCAL_IMAGE)
    return LOCAL_IMAGE


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def meminfo() -> dict[str, int]:
    """/proc/meminfo in KiB."""
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        out[key] = int(rest.split()[0])
    return out


def xl_info() -> dict[str, str]:
    out = subprocess.run(["xl", "info"], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in out.splitlines())}


def xen_free_mib() -> int:
    return int(xl_info()["free_memory"])


def machine() -> dict[str, object]:
    """The date and the machine, as every table prints them."""
    info = xl_info()
    dom0_mib = None
    listing = subprocess.run(["xl", "list", "0"], capture_output=True, text=True).stdout.split("\n")
    if len(listing) > 1 and listing[1].split():
        dom0_mib = int(listing[1].split()[2])
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "commit": os.environ.get("EDERA_BENCH_COMMIT", "unknown"),
        "host_cpu": os.environ.get("EDERA_BENCH_HOST_CPU", "unknown"),
        "host_cpus": os.environ.get("EDERA_BENCH_HOST_CPUS", "unknown"),
        "host_mem_gib": os.environ.get("EDERA_BENCH_HOST_MEM_GIB", "unknown"),
        "host_load_at_start": os.environ.get("EDERA_BENCH_HOST_LOAD", "unknown"),
        "lab_cpu": cpu_model(),
        "xen_version": f"{info.get('xen_major')}.{info.get('xen_minor')}{info.get('xen_extra')}",
        "xen_total_mib": int(info["total_memory"]),
        "xen_free_mib_at_start": int(info["free_memory"]),
        "dom0_mib": dom0_mib,
        "dom0_memtotal_mib": meminfo()["MemTotal"] // 1024,
        "dom0_kernel": platform.release(),
        "dom0_vcpus": os.cpu_count(),
    }


def print_machine(m: dict[str, object]) -> None:
    print(f"date {m['date']}, commit {m['commit']}")
    print(f"host: {m['host_cpu']}, {m['host_cpus']} CPUs, {m['host_mem_gib']} GiB, "
          f"load at start {m['host_load_at_start']} "
          "(other labs share this host: figures are noisy)")
    print(f"lab:  {m['lab_cpu']} (QEMU TCG), Xen {m['xen_version']}, Xen memory "
          f"{m['xen_total_mib']} MiB ({m['xen_free_mib_at_start']} free), "
          f"dom0 {m['dom0_mib']} MiB "
          f"(MemTotal {m['dom0_memtotal_mib']} MiB), {m['dom0_vcpus']} vCPUs, kernel "
          f"{m['dom0_kernel']}")
    print(LAB_LABEL, flush=True)


def summarize(values: list[float]) -> dict[str, float]:
    """n, median, p90 (nearest rank), min, max."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
    return {"n": len(ordered), "median": statistics.median(ordered), "p90": p90,
            "min": ordered[0], "max": ordered[-1]}


def table(title: str, rows: list[tuple[str, list[float], str]], unit: str = "s",
          digits: int = 2) -> list[dict]:
    """Print one row per figure: name, n, median, p90, min, max, and a note (a claim, a ratio).
    Returns the rows as dicts for the JSON."""
    print(f"\n{title}")
    head = (f"| {'figure':<40} | {'n':>2} | {'median':>9} | {'p90':>9} | {'min':>9} | "
            f"{'max':>9} | note")
    print(head)
    print("|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|------|")
    out = []
    for name, values, note in rows:
        s = summarize(values)
        out.append({"figure": name, "unit": unit, **s, "note": note})
        if not s["n"]:
            print(f"| {name:<40} |  0 | {'':>9} | {'':>9} | {'':>9} | {'':>9} | {note}")
            continue
        cells = " | ".join(f"{s[k]:>9.{digits}f}" for k in ("median", "p90", "min", "max"))
        print(f"| {name:<40} | {s['n']:>2} | {cells} | {note}")
    sys.stdout.flush()
    return out


STARTED = time.strftime("%Y-%m-%dT%H%M", time.gmtime())


def save(name: str, payload: dict, quiet: bool = False) -> Path:
    """bench/results/NAME-DATE.json: the raw values behind the tables (DATE: when the
    benchmark started, so that saving again as it goes rewrites the same file)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{STARTED}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    tmp.rename(path)
    if not quiet:
        print(f"\nraw values: {path.relative_to(REPO)}")
    return path


def smaps_rollup(pid: int) -> dict[str, int]:
    """Pss, Rss and USS (private clean + dirty) of a process in KiB; {} if it is gone or a
    kernel thread."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return {}
    vals = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+):\s+(\d+) kB", text, re.M)}
    if not vals:
        return {}
    return {"rss_kb": vals.get("Rss", 0), "pss_kb": vals.get("Pss", 0),
            "uss_kb": vals.get("Private_Clean", 0) + vals.get("Private_Dirty", 0)}


def processes() -> dict[int, str]:
    """Every process in dom0: pid -> its command line (or [comm] for a kernel thread)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not cmd.strip():
                cmd = "[" + (entry / "comm").read_text().strip() + "]"
        except OSError:
            continue
        out[int(entry.name)] = cmd.strip()
    return out


def drop_caches() -> None:
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def process_kind(cmd: str) -> str:
    """What a dom0 process a zone added is: its monitor, its `xl` daemon, its 9pfs QEMU, a
    kernel thread, or other."""
    if cmd.startswith("["):
        return "kernel thread"
    if "edera_oci.zone.monitor" in cmd:
        return "monitor"
    if "qemu" in cmd.split()[0]:
        return "9pfs qemu"
    if cmd.split()[0].endswith("xl"):
        return "xl daemon"
    return "other"


def dom0_snapshot() -> dict:
    """dom0's processes, /proc/meminfo and Xen's free memory, caches dropped first."""
    drop_caches()
    time.sleep(1)
    return {"procs": processes(), "mem": meminfo(), "xen_free_mib": xen_free_mib()}


class StepFailed(RuntimeError):
    """A measured command failed: the benchmark records why and goes on."""


def run_quiet(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """cmd with no stdin, stdout discarded and stderr read back from a file, not a pipe: a
    created container keeps the stdio its create was given (an engine's fifos), so a pipe
    would not reach its end until the container's does, and `create` would seem to hang."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=err, text=True, **kw)
        err.seek(0)
        proc.stderr = err.read()
    return proc


def timed(cmd: list[str], **kw) -> float:
    """Wall time of cmd; StepFailed with its error output if it fails."""
    t0 = time.monotonic()
    proc = run_quiet(cmd, **kw)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise StepFailed(f"{' '.join(cmd[:6])} ... exit {proc.returncode} after "
                         f"{elapsed:.0f} s: {proc.stderr.strip()[-600:]}")
    return elapsed
