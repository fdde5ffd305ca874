#!/usr/bin/env python3
"""A pod of three containers in one zone against three containers in zones of their own.

`python3 bench/pod_vs_single.py [--runs N]` boots the lab. Each round, in rotating order:
  * pod: a sandbox bundle (CRI annotations, the pod's memory 3 x 64 MiB in
    `io.kubernetes.cri.sandbox-memory`, running `sleep`), then three container bundles of that
    sandbox (`container-type: container`, its network, IPC and UTS namespaces by path, as
    containerd's CRI plugin writes them), each with a 64 MiB memory limit and a bind mount
    of a host directory (through the pod's share);
  * single: three plain bundles, each with the same limit and bind (a 128 MiB zone each).
Each container is created and started; the wall time of every `create` is kept. After a
settle time, with caches dropped before each snapshot: the PSS of every dom0 process the
round added (monitors, `xl` daemons, the 9pfs QEMUs), dom0's MemAvailable drop and Xen's
free-memory drop. Then everything is deleted (`delete --force`, timed). Prints n, median,
p90, min, max per figure and the pod/single ratio, and saves the raw values in
bench/results/pod_vs_single-DATE.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labbench import (
    CLAIMS,
    StepFailed,
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
    timed,
)

REPO = Path(__file__).resolve().parents[1]
CONTAINERS = 3
LIMIT = 64 << 20
SETTLE_S = 10
CRI_TYPE = "io.kubernetes.cri.container-type"
CRI_SANDBOX = "io.kubernetes.cri.sandbox-id"
CRI_MEMORY = "io.kubernetes.cri.sandbox-memory"


class Round:
    """One shape's containers under one --root: created, started, measured, deleted."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ids: list[str] = []
        self.creates: list[float] = []

    def oci(self, *args: str) -> list[str]:
        return ["edera-oci", "--root", str(self.root), *args]

    def run(self, cid: str, bundle: Path) -> None:
        self.ids.append(cid)
        self.creates.append(timed(self.oci("create", "--bundle", str(bundle), cid)))
        timed(self.oci("start", cid))

    def pid(self, cid: str) -> int:
        out = subprocess.run(self.oci("state", cid), capture_output=True, text=True, check=True)
        return json.loads(out.stdout)["pid"]

    def delete(self) -> float:
        t0 = time.monotonic()
        for cid in reversed(self.ids):  # the pod's containers before its sandbox
            run_quiet(self.oci("delete", "--force", cid))
        return time.monotonic() - t0


def measure(shape: str, n_round: int, base: Path, make_bundle) -> dict:
    volume = base / "volume"
    volume.mkdir(exist_ok=True)
    mounts = [{"destination": "/data", "type": "bind", "source": str(volume),
               "options": ["rbind", "rw"]}]
    limit = {"linux.resources.memory.limit": LIMIT, "mounts": mounts}
    r = Round(base / f"state-{shape}-{n_round}")
    before = dom0_snapshot()
    error = None
    try:
        if shape == "pod":
            sandbox = f"sb{n_round}"
            r.run(sandbox, make_bundle(base / "sandbox", ["sleep", "3600"], annotations={
                CRI_TYPE: "sandbox", CRI_SANDBOX: sandbox,
                CRI_MEMORY: str(CONTAINERS * LIMIT)}))
            pid = r.pid(sandbox)
            ns = [{"type": "mount"}, {"type": "pid"},
                  *({"type": t, "path": f"/proc/{pid}/ns/{t}"} for t in ("net", "ipc", "uts"))]
            for t in ns:  # the OCI names the network namespace "network"
                if t["type"] == "net":
                    t["type"] = "network"
            for i in range(CONTAINERS):
                r.run(f"pod{n_round}-{i}", make_bundle(
                    base / f"member{i}", ["sleep", "3600"], **limit,
                    annotations={CRI_TYPE: "container", CRI_SANDBOX: sandbox},
                    **{"linux.namespaces": ns}))
        else:
            for i in range(CONTAINERS):
                r.run(f"single{n_round}-{i}", make_bundle(base / f"single{i}", ["sleep", "3600"],
                                                         **limit))
        time.sleep(SETTLE_S)
        after = dom0_snapshot()
        # read while they run: the processes go with the delete
        new = {pid: cmd for pid, cmd in after["procs"].items()
               if before["procs"].get(pid) != cmd}
        procs = [{"pid": pid, "cmd": cmd[:160], "kind": process_kind(cmd), **smaps_rollup(pid)}
                 for pid, cmd in sorted(new.items())]
        procs = [p for p in procs if "pss_kb" in p]
    except StepFailed as e:
        error = str(e)
        print(f"{shape} round {n_round}: {error}", flush=True)
    deleted = r.delete()
    if error:
        return {"shape": shape, "error": error}
    return {
        "shape": shape, "creates_s": r.creates, "create_total_s": sum(r.creates),
        "delete_total_s": deleted, "processes": procs,
        "pss_mib": sum(p["pss_kb"] for p in procs) / 1024,
        "memavailable_drop_mib": (before["mem"]["MemAvailable"] -
                                  after["mem"]["MemAvailable"]) / 1024,
        "xen_free_drop_mib": before["xen_free_mib"] - after["xen_free_mib"],
    }


def inside(runs: int) -> int:
    sys.path.insert(0, str(REPO))
    from tests.xen.bundles import make_bundle

    m = machine()
    print_machine(m)
    local_zone_image()
    base = Path(tempfile.mkdtemp())
    results = []
    shapes = ["pod", "single"]
    for n in range(runs):
        for shape in shapes if n % 2 == 0 else reversed(shapes):
            results.append(measure(shape, n, base, make_bundle))
            save("pod_vs_single", {"machine": m, "results": results, "partial": True},
                 quiet=True)
    ok = {s: [r for r in results if r["shape"] == s and "error" not in r] for s in shapes}

    def med(shape: str, key: str) -> float:
        values = [r[key] for r in ok[shape]]
        return statistics.median(values) if values else float("nan")

    def ratio(key: str) -> str:
        return f"pod/single {med('pod', key) / med('single', key):.2f}" if ok["pod"] and \
            ok["single"] else ""

    rows = []
    for key, what in (("create_total_s", "create, all 3 containers (s)"),
                      ("delete_total_s", "delete --force, all (s)"),
                      ("pss_mib", "dom0 processes added, PSS (MiB)"),
                      ("memavailable_drop_mib", "dom0 MemAvailable drop (MiB)"),
                      ("xen_free_drop_mib", "Xen free-memory drop (MiB)")):
        note = ratio(key)
        if key == "memavailable_drop_mib":
            note += f"; claim: {CLAIMS['memory']}"
        rows.append((f"pod: {what}", [r[key] for r in ok["pod"]], ""))
        rows.append((f"single: {what}", [r[key] for r in ok["single"]], note))
    rows.append(("pod: create of the sandbox (s)", [r["creates_s"][0] for r in ok["pod"]], ""))
    rows.append(("pod: create of a member (s)",
                 [c for r in ok["pod"] for c in r["creates_s"][1:]], ""))
    rows.append(("single: create of one (s)", [c for r in ok["single"] for c in r["creates_s"]],
                 ""))
    kinds = sorted({p["kind"] for r in results if "processes" in r for p in r["processes"]})
    for k in kinds:
        for s in shapes:
            rows.append((f"{s}: {k} PSS, all (MiB)",
                         [sum(p["pss_kb"] for p in r["processes"] if p["kind"] == k) / 1024
                          for r in ok[s]], ""))
    out = table(f"a pod of {CONTAINERS} containers (sandbox + {CONTAINERS}) against {CONTAINERS} "
                "zones of their own; 64 MiB limit and one bind mount each", rows, unit="mixed")
    errors = [r["error"] for r in results if "error" in r]
    for e in errors:
        print(f"failed round: {e}")
    save("pod_vs_single", {"machine": m, "containers": CONTAINERS, "limit_bytes": LIMIT,
                           "settle_s": SETTLE_S, "results": results, "table": out})
    return 0 if ok["pod"] and ok["single"] else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="rounds of each shape (default 3)")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        return inside(args.runs)
    return rerun_inside_lab(__file__, args.runs, timeout=5400)


if __name__ == "__main__":
    sys.exit(main())
