#!/usr/bin/env python3
"""Storage: Xen 9pfs (a volume; the default root is the same share) and the opt-in ext4 copy of
the root on blkback, against dom0's own disk.

In the lab's dom0 (`python3 bench/storage.py` boots the lab), one zone runs a busybox workload
that, N times over, on its volume (a dom0 directory on dom0's root disk, shared over 9pfs, as
the default root is) and on its root, asked for as a copy (`org.edera-oci.rootfs: ext4`: the
ext4 image on a loop device through blkback, on the same disk):
  * writes SIZE MiB sequentially with `dd ... conv=fsync` and reads it back after dropping the
    zone's page cache (dom0's page cache is not dropped: it holds the image and the volume alike);
  * unpacks a tar of FILES small files, lists them (`ls -lR`: a stat each), removes them.
dom0 runs the same busybox commands on the same disk. While the zone runs, the PSS of the
zone's 9pfs QEMU (the only dom0 process a zone with binds adds besides its monitor) is read.
Prints n, median, p90, min, max of each and the zone/dom0 ratio, and saves the raw values in
bench/results/storage-DATE.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labbench import CLAIMS, machine, print_machine, rerun_inside_lab, run_quiet, save  # noqa: E402
from labbench import table as stats_table  # noqa: E402

OPS = ("write", "read", "untar", "stat", "rm")

ZONE_SCRIPT = r"""
t() { read a _ < /proc/uptime; echo $a; }
op() { name=$1; shift; s=$(t); timeout 300 "$@" > /dev/null 2>&1 || echo "failed $P $name"; e=$(t);
       echo "res $R $P $name $(awk "BEGIN{print $e - $s}")"; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
R=0
while [ $R -lt {runs} ]; do
  for P in /vol /work; do
    op write dd if=/dev/zero of=$P/seq bs=1M count={size} conv=fsync
    drop
    op read dd if=$P/seq of=/dev/null bs=1M
    rm -f $P/seq
    mkdir -p $P/tree
    op untar tar -xf /bench/tree.tar -C $P/tree
    drop
    op stat ls -lR $P/tree
    op rm rm -rf $P/tree
  done
  R=$((R + 1))
done
echo done=1
"""


def small_tree_tar(files: int) -> bytes:
    """FILES files of 1-4 KiB in 100 directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(files):
            data = (f"{i}\n" * (256 + (i % 3) * 256)).encode()[: 1024 * (1 + i % 4)]
            info = tarfile.TarInfo(f"d{i % 100}/f{i}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def busybox_rootfs(root: Path, tree: bytes) -> None:
    (root / "bin").mkdir(parents=True)
    subprocess.run(["cp", "/bin/busybox", str(root / "bin/busybox")], check=True)
    for applet in subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True,
                                 check=True).stdout.split():
        if applet != "busybox":
            os.symlink("busybox", root / "bin" / applet)
    for d in ("proc", "sys", "dev", "tmp", "etc", "work", "vol", "bench"):
        (root / d).mkdir(exist_ok=True)
    (root / "bench/tree.tar").write_bytes(tree)


def qemu_pss_kib() -> list[int]:
    """PSS of each guest's QEMU (not dom0's own, ``-xen-domid 0``, which Xen's init script
    starts once at boot)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if not argv[0].endswith(b"xen-qemu-system-i386") or any(
                    argv[i:i + 2] == [b"-xen-domid", b"0"] for i in range(len(argv) - 1)):
                continue
            rollup = (entry / "smaps_rollup").read_text()
        except OSError:
            continue
        m = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
        if m:
            found.append(int(m.group(1)))
    return found


def zone_config(spec: dict, runs: int, size: int, vol: Path) -> dict:
    """`edera-oci spec`'s config made the bench's: the script as the process, all capabilities
    (drop_caches needs CAP_SYS_ADMIN), a writable root (the spec's is read-only, and the
    script writes to /work on it), /vol bound read-write from dom0, the root copied."""
    cfg = json.loads(json.dumps(spec))
    cfg["process"]["args"] = ["sh", "-c", ZONE_SCRIPT.replace("{runs}", str(runs))
                              .replace("{size}", str(size))]
    cfg["process"]["terminal"] = False
    cfg["process"].pop("capabilities", None)
    cfg["root"]["readonly"] = False
    cfg["linux"]["readonlyPaths"] = []
    cfg["linux"]["maskedPaths"] = []
    cfg["linux"].pop("resources", None)
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] in ("/proc", "/dev")]
    cfg["mounts"].append({"destination": "/vol", "type": "bind", "source": str(vol),
                          "options": ["rbind", "rw"]})
    # the root as the ext4 copy: the volume measures 9pfs, which the default root is too
    cfg["annotations"] = {"org.edera-oci.rootfs": "ext4"}
    return cfg


def zone_runs(work: Path, runs: int, size: int, tree: bytes) -> tuple[dict, list[int], str]:
    bundle = work / "bundle"
    busybox_rootfs(bundle / "rootfs", tree)
    vol = work / "vol"
    vol.mkdir()
    subprocess.run(["edera-oci", "spec", "--bundle", str(bundle)], check=True)
    cfg = zone_config(json.loads((bundle / "config.json").read_text()), runs, size, vol)
    (bundle / "config.json").write_text(json.dumps(cfg))
    root = work / "state"
    out_path = work / "stdout"
    pss: list[int] = []
    with open(out_path, "w") as out:
        proc = subprocess.Popen(["edera-oci", "--root", str(root), "run", "--bundle",
                                 str(bundle), "bench-storage"], stdout=out,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        shown = 0
        while proc.poll() is None and "done=1" not in out_path.read_text():
            if not pss:
                pss = qemu_pss_kib()
            lines = out_path.read_text().splitlines()
            for line in lines[shown:]:
                print(f"  zone: {line}", flush=True)  # progress, should the lab time out
            shown = len(lines)
            time.sleep(0.5)
        pss = qemu_pss_kib() or pss
        err = proc.communicate(timeout=120)[1].decode(errors="replace")
    subprocess.run(["edera-oci", "--root", str(root), "delete", "--force", "bench-storage"],
                   capture_output=True)
    text = out_path.read_text()
    results: dict = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == "res":
            where = "volume (9p)" if parts[2] == "/vol" else "root (ext4/blkback)"  # opt-in
            results.setdefault(where, {}).setdefault(parts[3], []).append(float(parts[4]))
    return results, pss, text + err


def dom0_runs(work: Path, runs: int, size: int, tree: bytes) -> dict:
    """The same busybox commands, in dom0, on the same disk."""
    base = work / "dom0"
    base.mkdir()
    tar = work / "tree.tar"
    tar.write_bytes(tree)
    bb = "/bin/busybox"
    out: dict[str, list[float]] = {op: [] for op in OPS}

    def timed(op: str, *cmd: str) -> None:
        t0 = time.monotonic()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out[op].append(time.monotonic() - t0)

    def drop() -> None:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3")

    for _ in range(runs):
        timed("write", bb, "dd", "if=/dev/zero", f"of={base}/seq", "bs=1M", f"count={size}",
              "conv=fsync")
        drop()
        timed("read", bb, "dd", f"if={base}/seq", "of=/dev/null", "bs=1M")
        (base / "seq").unlink()
        (base / "tree").mkdir()
        timed("untar", bb, "tar", "-xf", str(tar), "-C", f"{base}/tree")
        drop()
        timed("stat", bb, "ls", "-lR", f"{base}/tree")
        timed("rm", bb, "rm", "-rf", f"{base}/tree")
    return out


def create_times(work: Path, runs: int, sizes: list[int]) -> dict[str, list[float]]:
    """`edera-oci create` (then delete) of a busybox rootfs padded to SIZE MB, with the root
    copied into ext4 (org.edera-oci.rootfs: ext4) and shared over 9p (the default)."""
    out: dict[str, list[float]] = {}
    for size in sizes:
        bundle = work / f"create-{size}"
        busybox_rootfs(bundle / "rootfs", b"")
        if size > 2:
            subprocess.run(["dd", "if=/dev/zero", f"of={bundle}/rootfs/pad", "bs=1M",
                            f"count={size - 2}"], check=True, capture_output=True)
        subprocess.run(["edera-oci", "spec", "--bundle", str(bundle)], check=True)
        cfg = json.loads((bundle / "config.json").read_text())
        cfg["process"]["args"] = ["true"]
        cfg["process"]["terminal"] = False
        for mode in ("ext4", "9p"):
            cfg["annotations"] = {"org.edera-oci.rootfs": mode}
            (bundle / "config.json").write_text(json.dumps(cfg))
            for n in range(runs):
                root = work / f"state-{size}-{mode}-{n}"
                t0 = time.monotonic()
                proc = run_quiet(["edera-oci", "--root", str(root), "create", "--bundle",
                                  str(bundle), "c"])
                elapsed = time.monotonic() - t0
                subprocess.run(["edera-oci", "--root", str(root), "delete", "--force", "c"],
                               capture_output=True)
                if proc.returncode != 0:
                    print(f"create {size} MB {mode} failed: {proc.stderr.strip()[-400:]}")
                    continue
                out.setdefault(f"{mode} root, {size} MB rootfs", []).append(elapsed)
    return out


def inside(args) -> int:
    """Each table is printed (and the JSON saved) as soon as its figures are in: a run cut
    short by the lab's timeout keeps what it measured."""
    m = machine()
    print_machine(m)
    tree = small_tree_tar(args.files)
    payload: dict = {"machine": m, "runs": args.runs, "size_mib": args.size,
                     "files": args.files}
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:  # dom0's own disk, not tmpfs
        work = Path(tmp)
        dom0 = dom0_runs(work, args.runs, args.size, tree)
        payload["dom0"] = dom0
        zone, pss, log = zone_runs(work, args.runs, args.size, tree)
        payload.update(zone=zone, qemu_pss_kib=pss)
        if not zone:
            print(log[-3000:], flush=True)
            save("storage", payload)
            return 1
        what = {"write": f"seq write {args.size} MiB + fsync",
                "read": f"seq read {args.size} MiB", "untar": f"untar {args.files} files",
                "stat": "ls -lR (stat each)", "rm": "rm -rf the tree"}
        rows = []
        for op in OPS:
            base = statistics.median(dom0[op]) if dom0[op] else None
            rows.append((f"dom0 disk: {what[op]}", dom0[op], ""))
            for where in ("volume (9p)", "root (ext4/blkback)"):
                values = zone.get(where, {}).get(op, [])
                ratio = (f"dom0/zone {base / statistics.median(values):.0%}"
                         if base and values else "")
                rows.append((f"zone {where}: {what[op]}", values, ratio))
        payload["table"] = stats_table(
            "Storage, seconds (lower is better); ratio = dom0 time / zone time "
            f"(claim: {CLAIMS['disk']})", rows)
        payload["table"] += stats_table(
            "dom0 memory per zone with binds: PSS of its 9pfs QEMU",
            [("QEMU 9pfs backend PSS", [p / 1024 for p in pss], CLAIMS["memory"])],
            unit="MiB", digits=1)
        sys.stdout.flush()
        save("storage", payload)
        sizes = [int(x) for x in args.create_sizes.split(",") if x]
        if sizes:
            creates = create_times(work, args.create_runs, sizes)
            payload["create"] = creates
            payload["table"] += stats_table(
                "create time against rootfs size (ext4 copy vs 9p share)",
                [(name, values, "") for name, values in creates.items()])
            sys.stdout.flush()
            save("storage", payload)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inside", action="store_true", help="(in the lab) measure")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", type=int, default=64, help="MiB written and read")
    ap.add_argument("--files", type=int, default=2000, help="files in the metadata tree")
    ap.add_argument("--create-sizes", default="2,200", help="rootfs sizes (MB) for create")
    ap.add_argument("--create-runs", type=int, default=1)
    args = ap.parse_args()
    if args.inside:
        return inside(args)
    return rerun_inside_lab(__file__, args.runs, timeout=3600,
                            extra=["--size", str(args.size), "--files", str(args.files),
                                   "--create-sizes", args.create_sizes,
                                   "--create-runs", str(args.create_runs)])


if __name__ == "__main__":
    sys.exit(main())
