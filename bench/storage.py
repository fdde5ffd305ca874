#!/usr/bin/env python3
"""Storage: the candidates for a zone's files, measured in one zone against dom0's own disk.

In the lab's dom0 (`python3 bench/storage.py` boots the lab), one zone runs a busybox workload
(with Debian's fio and its libraries copied in) that, N times over, on each of:
  * /vol: a dom0 directory on dom0's root disk shared over Xen 9pfs (QEMU's backend), as
    volumes are and as the default root is;
  * /work: its root asked for as the ext4 copy (`org.edera-oci.rootfs: ext4`: an ext4 image on
    a loop device through blkback, on the same disk);
  * /nfs: a prototype of NFS from dom0's kernel: dom0's nfsd exports a directory on the same
    disk over a private link (a veth pair, the container's network namespace), NFSv4.2, the
    client modules (not in the zone image) loaded by the workload;
  * /layer: a prototype of a block device per image layer: the layer made once into a
    read-only ext4 image, a scratch ext4 image for the writes, both attached to the running
    zone (`xl block-attach`), and an overlay of the two in the zone;
writes SIZE MiB sequentially with `dd ... conv=fsync` and reads it back after dropping the
zone's page cache (dom0's is not dropped: it holds the images and the directories alike);
unpacks a tar of FILES small files (SLOW_FILES on 9p and NFS, where each file costs round trips
to dom0 that take ~0.1 s under the lab's emulation), lists them (`ls -lR`: a stat each),
removes them (the table gives these per 1,000 files, so that places compare); and runs
fio's 4 KiB random reads and random writes (each write fsync'd) for a fixed time. dom0 runs the
same commands on the same disk. While the zone runs, the PSS of its 9pfs QEMU (the one dom0
process a zone with binds adds besides its monitor) is read. Prints n, median, p90, min, max
of each and the ratio to dom0, and saves the raw values in bench/results/storage-DATE.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labbench import (  # noqa: E402
    CLAIMS,
    REPO,
    TOOLS_OUT,
    build_static,
    machine,
    print_machine,
    rerun_inside_lab,
    run_quiet,
    save,
    smaps_rollup,
)
from labbench import table as stats_table  # noqa: E402

OPS = ("write", "read", "untar", "stat", "rm")
METADATA_OPS = ("untar", "stat", "rm")
FIO_OPS = ("randread", "randwrite")
# where the workload measures, and what each is
PLACES = {"/vol": "volume (9p)", "/work": "root (ext4/blkback)", "/nfs": "NFS (dom0 kernel)",
          "/layer": "layer disks + overlay"}
SLOW_PLACES = ("volume (9p)", "NFS (dom0 kernel)")  # the metadata test's smaller tree
NETNS = "edera-bench-nfs"  # the private link's namespace: the container's network namespace
DOM0_VETH = "vbnfs0"
NFS_SERVER, NFS_CLIENT = "10.213.0.1", "10.213.0.2"
NFS_MODULES = TOOLS_OUT / "nfs-modules"  # the zone kernel's NFS client, staged on the host
LOWER_VDEV, UPPER_VDEV = "xvdc", "xvdd"

ZONE_SCRIPT = r"""
t() { read a _ < /proc/uptime; echo $a; }
op() { name=$1; shift; s=$(t); if timeout {optimeout} "$@" > /dev/null 2>&1; then e=$(t);
       echo "res $R $P $name $(awk "BEGIN{print $e - $s}")"; else echo "failed $P $name"; fi; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
fioop() { name=$1; shift; line=$(timeout 300 fio --name=$name --filename=$P/fio.dat {fiojob} \
            "$@" 2>/dev/null | tail -1); echo "fio $R $P $name $line"; }
# NFS from dom0's kernel: the client's modules, then NFSv4.2 over the private link
(cd /bench/nfs-modules && zonefs insmod $(cat order)) || echo "failed nfs-modules"
mkdir -p /nfs /lower /upper /layer
zonefs mount nfs4 {server}:/ /nfs "vers=4.2,addr={server},clientaddr={client}" || \
  echo "failed nfs-mount"
# a block device per layer: dom0 attaches the layer's image and a scratch disk when asked
echo want-disks=1
n=0; until [ -e /sys/block/{lower}/dev ] && [ -e /sys/block/{upper}/dev ] || [ $n -gt 1200 ]; do
  n=$((n + 1)); sleep 0.1; done
# (the zone's init would mount them: a container's device cgroup keeps every xvd* from it, so
# the prototype mounts them from the zone's root cgroup)
mkdir -p /cg && zonefs mount cgroup2 none /cg "" && sh -c 'echo $$ > /cg/cgroup.procs &&
  mknod /dev/lower b $(tr : " " < /sys/block/{lower}/dev) &&
  mknod /dev/upper b $(tr : " " < /sys/block/{upper}/dev) &&
  zonefs mountro ext4 /dev/lower /lower && zonefs mount ext4 /dev/upper /upper "" &&
  mkdir -p /upper/u /upper/w &&
  zonefs mount overlay overlay /layer "lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w"' || \
  echo "failed layer-mount"
echo "layer-file=$(cat /layer/from-layer)"
R=0
while [ $R -lt {runs} ]; do
  for P in {places}; do
    op write dd if=/dev/zero of=$P/seq bs=1M count={size} conv=fsync
    drop
    op read dd if=$P/seq of=/dev/null bs=1M
    rm -f $P/seq
    mkdir -p $P/tree
    T=/bench/tree.tar; case $P in /vol|/nfs) T=/bench/tree-slow.tar;; esac
    op untar tar -xf $T -C $P/tree
    drop
    op stat ls -lR $P/tree
    op rm rm -rf $P/tree
    fioop randread --rw=randread
    fioop randwrite --rw=randwrite --fsync=1
    rm -f $P/fio.dat
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
        except OSError:
            continue
        if not argv[0].endswith(b"xen-qemu-system-i386") or any(
                argv[i:i + 2] == [b"-xen-domid", b"0"] for i in range(len(argv) - 1)):
            continue
        if pss := smaps_rollup(int(entry.name)).get("pss_kb"):
            found.append(pss)
    return found


def with_fio_and_tools(root: Path) -> None:
    """Debian's fio and the libraries it links, at their own paths; zonefs; the NFS client's
    modules of the zone's kernel (staged by the host side), with their load order (names)."""
    libs = re.findall(r"(/\S+) \(0x", subprocess.run(["ldd", "/usr/bin/fio"], capture_output=True,
                                                      text=True, check=True).stdout)
    for path in ["/usr/bin/fio", *libs]:
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dest)  # the file a link names, at the link's name
    shutil.copy2(TOOLS_OUT / "zonefs", root / "bin/zonefs")
    shutil.copytree(NFS_MODULES, root / "bench/nfs-modules")


def zone_config(spec: dict, runs: int, size: int, vol: Path, fio_mib: int,
                fio_seconds: int, places: list[str], slow_files: int) -> dict:
    """`edera-oci spec`'s config made the bench's: the script as the process, all capabilities
    (drop_caches, mount and module loading need them), a writable root (the spec's is
    read-only, and the script writes to /work on it), /vol bound read-write from dom0, /sys
    (to find the attached disks), the private link's network namespace, the root copied."""
    cfg = json.loads(json.dumps(spec))
    script = ZONE_SCRIPT
    for key, value in {"runs": runs, "size": size,
                       "fiojob": " ".join(fio_job(fio_mib, fio_seconds)),
                       "server": NFS_SERVER, "client": NFS_CLIENT, "lower": LOWER_VDEV,
                       "upper": UPPER_VDEV, "places": " ".join(places),
                       "optimeout": op_timeout(slow_files)}.items():
        script = script.replace("{" + key + "}", str(value))
    cfg["process"]["args"] = ["sh", "-c", script]
    cfg["process"]["terminal"] = False
    cfg["process"].pop("capabilities", None)
    cfg["root"]["readonly"] = False
    cfg["linux"]["readonlyPaths"] = []
    cfg["linux"]["maskedPaths"] = []
    # the zone's cgroup tree, not a namespace of it: the layer prototype mounts its disks from
    # the zone's root cgroup, outside the container's device rules
    cfg["linux"]["namespaces"] = [
        ns for ns in cfg["linux"]["namespaces"] if ns["type"] not in ("network", "cgroup")
    ] + [{"type": "network", "path": f"/run/netns/{NETNS}"}]
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] in ("/proc", "/dev")]
    cfg["mounts"].append({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                          "options": ["nosuid", "noexec", "nodev"]})
    cfg["mounts"].append({"destination": "/vol", "type": "bind", "source": str(vol),
                          "options": ["rbind", "rw"]})
    # the root as the ext4 copy: the volume measures 9pfs, which the default root is too
    cfg["annotations"] = {"org.edera-oci.rootfs": "ext4"}
    return cfg


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def private_link():
    """The zone's private link to dom0: a veth pair, dom0's end NFS_SERVER, the other end in
    the network namespace the container names (the runtime gives the zone its address)."""
    sh("ip", "netns", "add", NETNS)
    try:
        sh("ip", "link", "add", DOM0_VETH, "type", "veth", "peer", "name", "eth0", "netns", NETNS)
        sh("ip", "addr", "add", f"{NFS_SERVER}/24", "dev", DOM0_VETH)
        sh("ip", "link", "set", DOM0_VETH, "up")
        sh("ip", "-n", NETNS, "addr", "add", f"{NFS_CLIENT}/24", "dev", "eth0")
        sh("ip", "-n", NETNS, "link", "set", "eth0", "up")
        sh("ip", "-n", NETNS, "link", "set", "lo", "up")
        yield
    finally:
        subprocess.run(["ip", "link", "del", DOM0_VETH], capture_output=True)
        subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)


@contextlib.contextmanager
def nfs_server(export: Path, timings: dict):
    """dom0's kernel nfsd, NFSv4 only (no rpcbind), exporting one directory to the link's
    subnet; rpc.mountd answers the kernel's export lookups. Stopped afterwards."""
    sh("modprobe", "nfsd")
    if not os.path.ismount("/proc/fs/nfsd"):
        sh("mount", "-t", "nfsd", "nfsd", "/proc/fs/nfsd")
    Path("/var/lib/nfs").mkdir(parents=True, exist_ok=True)
    mountd = None
    try:
        t0 = time.monotonic()
        sh("exportfs", "-i", "-o", "rw,sync,no_root_squash,no_subtree_check,insecure,fsid=0",
           f"{NFS_SERVER.rsplit('.', 1)[0]}.0/24:{export}")
        timings["nfs export (per create)"] = [time.monotonic() - t0]
        mountd = subprocess.Popen(["rpc.mountd", "-F", "-N", "2", "-N", "3"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sh("rpc.nfsd", "-N", "3", "-U", "8")
        yield mountd.pid
    finally:
        subprocess.run(["rpc.nfsd", "0"], capture_output=True)
        if mountd is not None:
            mountd.terminate()
            mountd.wait(timeout=30)
        subprocess.run(["exportfs", "-ua"], capture_output=True)


def overlay_export(work: Path) -> str:
    """What dom0's nfsd says to exporting an overlay mounted as docker and podman mount a
    container's root (no ``nfs_export=on``): the NFS candidate could share such a root only
    if the engines mounted it otherwise."""
    base = work / "ovl"
    for d in ("lower", "upper", "work", "merged"):
        (base / d).mkdir(parents=True)
    sh("mount", "-t", "overlay", "overlay", "-o", f"lowerdir={base}/lower,upperdir={base}/upper,"
       f"workdir={base}/work", str(base / "merged"))
    try:
        r = subprocess.run(["exportfs", "-i", "-o", "rw,no_subtree_check",
                            f"{NFS_CLIENT}:{base}/merged"], capture_output=True, text=True)
        subprocess.run(["exportfs", "-u", f"{NFS_CLIENT}:{base}/merged"], capture_output=True)
        return f"exit {r.returncode}: {(r.stderr or r.stdout).strip()[:300]}"
    finally:
        subprocess.run(["umount", str(base / "merged")], capture_output=True)


def scratch_mib(size: int) -> int:
    """Room for the writes of a round (the sequential file, then fio's), no more: a sparse
    image keeps every block its filesystem ever wrote, on a lab dom0 disk of limited room."""
    return 2 * size + 128


def layer_images(work: Path, size: int) -> tuple[Path, Path, float]:
    """The per-layer candidate's disks: a layer (busybox and a marker file) made once into a
    read-only ext4 image, and a scratch ext4 image for the zone's writes. Returns the two
    and the seconds the layer's image took (paid once per layer, not per create)."""
    layer = work / "layer"
    (layer / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", layer / "bin/busybox")
    (layer / "from-layer").write_text("from the layer's image\n")
    lower, upper = work / "layer.ext4", work / "scratch.ext4"
    t0 = time.monotonic()
    sh("mke2fs", "-q", "-t", "ext4", "-d", str(layer), str(lower), "16M")
    made = time.monotonic() - t0
    sh("mke2fs", "-q", "-t", "ext4", str(upper), f"{scratch_mib(size)}M")
    return lower, upper, made


def attach_disks(lower: Path, upper: Path, loops: list[str]) -> float:
    """Attach the layer (read-only) and the scratch disk to the running zone; seconds taken."""
    guests = [ln.split()[0] for ln in sh("xl", "list").splitlines()[1:]
              if ln.split() and ln.split()[0] != "Domain-0"]
    assert len(guests) == 1, guests
    t0 = time.monotonic()
    loops.append(sh("losetup", "-f", "--show", "-r", str(lower)))
    loops.append(sh("losetup", "-f", "--show", str(upper)))
    sh("xl", "block-attach", guests[0],
       f"format=raw,vdev={LOWER_VDEV},access=ro,target={loops[0]}")
    sh("xl", "block-attach", guests[0],
       f"format=raw,vdev={UPPER_VDEV},access=rw,target={loops[1]}")
    return time.monotonic() - t0


def zone_runs(work: Path, runs: int, size: int, trees: tuple[bytes, bytes], fio_mib: int,
              fio_seconds: int, places: list[str], slow_files: int) -> tuple[dict, dict, str]:
    """The workload in one zone; (results by place and op, dom0-side figures, its output).
    trees: the metadata test's tar, and the smaller one for 9p and NFS."""
    bundle = work / "bundle"
    busybox_rootfs(bundle / "rootfs", trees[0])
    (bundle / "rootfs/bench/tree-slow.tar").write_bytes(trees[1])
    with_fio_and_tools(bundle / "rootfs")
    vol = work / "vol"
    vol.mkdir()
    export = work / "nfs-export"
    export.mkdir()
    subprocess.run(["edera-oci", "spec", "--bundle", str(bundle)], check=True)
    cfg = zone_config(json.loads((bundle / "config.json").read_text()), runs, size, vol,
                      fio_mib, fio_seconds, places, slow_files)
    (bundle / "config.json").write_text(json.dumps(cfg))
    lower, upper, layer_made = layer_images(work, size)
    dom0: dict = {"layer image (once per layer)": [layer_made], "qemu_pss_kib": []}
    root = work / "state"
    out_path = work / "stdout"
    loops: list[str] = []
    err = ""
    with private_link(), nfs_server(export, dom0) as mountd_pid, open(out_path, "w") as out:
        dom0["overlay export"] = overlay_export(work)
        print(f"  dom0: exporting an overlay like docker's root: {dom0['overlay export']}")
        # the root's ext4 image sized like the scratch disk, not with the default 1 GB free
        env = dict(os.environ, EDERA_OCI_DISK_FREE_MB=str(scratch_mib(size)))
        proc = subprocess.Popen(["edera-oci", "--root", str(root), "run", "--bundle",
                                 str(bundle), "bench-storage"], stdout=out,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
        shown = 0
        try:
            while proc.poll() is None and "done=1" not in out_path.read_text():
                if not dom0["qemu_pss_kib"]:
                    dom0["qemu_pss_kib"] = qemu_pss_kib()
                lines = out_path.read_text().splitlines()
                for line in lines[shown:]:
                    print(f"  zone: {line[:120]}", flush=True)  # progress, in case of a timeout
                    if line == "want-disks=1":
                        dom0["disks attached (per create)"] = [attach_disks(lower, upper, loops)]
                shown = len(lines)
                time.sleep(0.5)
            dom0["rpc.mountd_pss_kib"] = [smaps_rollup(mountd_pid).get("pss_kb", 0)]
            dom0["qemu_pss_kib"] = qemu_pss_kib() or dom0["qemu_pss_kib"]
            err = proc.communicate(timeout=120)[1].decode(errors="replace")
        finally:
            subprocess.run(["edera-oci", "--root", str(root), "delete", "--force",
                            "bench-storage"], capture_output=True)
            for loop in loops:
                subprocess.run(["losetup", "-d", loop], capture_output=True)
    text = out_path.read_text()
    results: dict = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 5 or parts[0] not in ("res", "fio") or parts[2] not in PLACES:
            continue
        value = float(parts[4]) if parts[0] == "res" else fio_iops(parts[3], parts[4])
        if value is not None:
            results.setdefault(PLACES[parts[2]], {}).setdefault(parts[3], []).append(value)
    return results, dom0, text + err


def op_timeout(slow_files: int) -> int:
    """Seconds one operation of the workload may take: an unpack on 9p costs about 0.2 s per
    file under the lab's emulation."""
    return 300 + int(0.4 * slow_files)


def fio_job(fio_mib: int, fio_seconds: int) -> list[str]:
    """fio's options for each job, in dom0 and in the zone alike (name, file and --rw apart):
    4 KiB synchronous I/O on a file of fio_mib for fio_seconds, its pages dropped first."""
    return [f"--size={fio_mib}M", "--bs=4k", "--ioengine=psync", f"--runtime={fio_seconds}",
            "--time_based", "--invalidate=1", "--minimal"]


def fio_iops(op: str, terse: str) -> float | None:
    """IOPS from fio's terse (v3) line: reads in field 8, writes in field 49."""
    fields = terse.split(";")
    if len(fields) < 49 or fields[0] != "3":
        return None
    return float(fields[7] if op == "randread" else fields[48])


def dom0_runs(work: Path, runs: int, size: int, tree: bytes, fio_mib: int,
              fio_seconds: int) -> dict:
    """The same busybox commands and fio jobs, in dom0, on the same disk."""
    base = work / "dom0"
    base.mkdir()
    tar = work / "tree.tar"
    tar.write_bytes(tree)
    bb = "/bin/busybox"
    out: dict[str, list[float]] = {op: [] for op in (*OPS, *FIO_OPS)}

    def fio(op: str, *extra: str) -> None:
        terse = sh("fio", f"--name={op}", f"--filename={base}/fio.dat",
                   *fio_job(fio_mib, fio_seconds), f"--rw={op}", *extra).splitlines()[-1]
        iops = fio_iops(op, terse)
        if iops is not None:
            out[op].append(iops)

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
        fio("randread")
        fio("randwrite", "--fsync=1")
        (base / "fio.dat").unlink()
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
    slow_files = args.slow_files or args.files
    places = args.places.split(",")
    files = {where: slow_files if where in SLOW_PLACES else args.files
             for where in PLACES.values()}
    payload: dict = {"machine": m, "runs": args.runs, "size_mib": args.size, "places": places,
                     "files": args.files, "files_by_place": files, "fio_mib": args.fio_size,
                     "fio_seconds": args.fio_seconds}
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:  # dom0's own disk, not tmpfs
        work = Path(tmp)
        dom0 = dom0_runs(work, args.runs, args.size, tree, args.fio_size, args.fio_seconds)
        payload["dom0"] = dom0
        print(f"  dom0: {json.dumps(dom0)}", flush=True)  # kept, should the zone's part hang
        save("storage", payload)
        zone, dom0_side, log = zone_runs(work, args.runs, args.size,
                                         (tree, small_tree_tar(slow_files)), args.fio_size,
                                         args.fio_seconds, places, slow_files)
        payload.update(zone=zone, dom0_side=dom0_side)
        failed = [ln for ln in log.splitlines() if ln.startswith("failed")]
        payload["failed"] = failed
        if not zone or failed:
            print(log[-3000:], flush=True)
        if not zone:
            save("storage", payload)
            return 1
        what = {"write": f"seq write {args.size} MiB + fsync",
                "read": f"seq read {args.size} MiB", "untar": "untar, per 1000 files",
                "stat": "ls -lR (stat each), per 1000 files",
                "rm": "rm -rf the tree, per 1000 files",
                "randread": f"fio 4 KiB random read ({args.fio_size} MiB file)",
                "randwrite": f"fio 4 KiB random write + fsync ({args.fio_size} MiB file)"}

        def per_thousand(op: str, values: list[float], count: int) -> list[float]:
            return [v * 1000 / count for v in values] if op in METADATA_OPS else values

        def rows_for(ops, ratio_of) -> list:
            rows = []
            for op in ops:
                dom0_values = per_thousand(op, dom0[op], args.files)
                base = statistics.median(dom0_values) if dom0_values else None
                rows.append((f"dom0 disk: {what[op]}", dom0_values, ""))
                for where in (PLACES[p] for p in places):
                    values = per_thousand(op, zone.get(where, {}).get(op, []), files[where])
                    ratio = (ratio_of(base, statistics.median(values))
                             if base and values and statistics.median(values) else "")
                    rows.append((f"zone {where}: {what[op]}", values, ratio))
            return rows

        payload["table"] = stats_table(
            "Storage, seconds (lower is better); ratio = dom0 time / zone time "
            f"(claim: {CLAIMS['disk']}); metadata trees: {args.files} files, "
            f"{slow_files} on 9p and NFS",
            rows_for(OPS, lambda base, zone_value: f"dom0/zone {base / zone_value:.0%}"))
        payload["table"] += stats_table(
            "Random I/O, IOPS (higher is better); ratio = zone IOPS / dom0 IOPS",
            rows_for(FIO_OPS, lambda base, zone_value: f"zone/dom0 {zone_value / base:.0%}"),
            unit="IOPS", digits=0)
        payload["table"] += stats_table(
            "dom0 per zone, each candidate: memory (MiB) and the dom0 work of a create (s)",
            [("9p: the zone's QEMU 9pfs backend, PSS (MiB)",
              [p / 1024 for p in dom0_side.get("qemu_pss_kib", [])], CLAIMS["memory"]),
             ("NFS: rpc.mountd, PSS (MiB; one for all zones)",
              [p / 1024 for p in dom0_side.get("rpc.mountd_pss_kib", [])],
              "nfsd: kernel threads"),
             ("NFS: exportfs of the zone's directory (s)",
              dom0_side.get("nfs export (per create)", []), ""),
             ("layers: attach the layer and scratch disks (s)",
              dom0_side.get("disks attached (per create)", []), "blkback: kernel"),
             ("layers: mke2fs -d of a 2 MB layer (s, once per layer)",
              dom0_side.get("layer image (once per layer)", []), "")],
            unit="", digits=2)
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


def prepare_on_host() -> None:
    """What the lab cannot make: zonefs (no compiler in dom0) and the zone's NFS modules."""
    build_static("zonefs")
    stage_nfs_modules()


def stage_nfs_modules() -> None:
    """On the host: the zone kernel's NFS client modules (nfsv4 and what it needs, in load
    order) into build/bench/nfs-modules, where dom0 sees them; the zone image carries none."""
    sys.path.insert(0, str(REPO / "lab"))
    import lablib

    manifest = json.loads((REPO / "build/zone-image/manifest.json").read_text())
    modroot = lablib.zone_kernel_modules(manifest["kernel_package"], manifest["kernel_version"])
    order = lablib.module_load_order(modroot, ["nfsv4"])
    shutil.rmtree(NFS_MODULES, ignore_errors=True)
    NFS_MODULES.mkdir(parents=True)
    for rel in order:
        shutil.copy2(modroot / rel, NFS_MODULES / Path(rel).name)
    (NFS_MODULES / "order").write_text("".join(Path(rel).name + "\n" for rel in order))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inside", action="store_true", help="(in the lab) measure")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", type=int, default=64, help="MiB written and read")
    ap.add_argument("--files", type=int, default=2000, help="files in the metadata tree")
    ap.add_argument("--slow-files", type=int, default=0,
                    help="files in the tree on 9p and NFS (default: --files)")
    ap.add_argument("--create-sizes", default="2,200", help="rootfs sizes (MB) for create")
    ap.add_argument("--create-runs", type=int, default=1)
    ap.add_argument("--fio-size", type=int, default=64, help="MiB of fio's file")
    ap.add_argument("--fio-seconds", type=int, default=20, help="seconds of each fio job")
    ap.add_argument("--places", default=",".join(PLACES),
                    help="where the zone measures, comma-separated (default: all)")
    args = ap.parse_args()
    if unknown := set(args.places.split(",")) - set(PLACES):
        ap.error(f"--places: unknown {', '.join(sorted(unknown))} (of {', '.join(PLACES)})")
    if args.inside:
        return inside(args)
    prepare_on_host()
    slow_files = args.slow_files or args.files
    return rerun_inside_lab(__file__, args.runs, timeout=3600 + args.runs * op_timeout(slow_files),
                            extra=["--size", str(args.size), "--files", str(args.files),
                                   "--slow-files", str(args.slow_files),
                                   "--create-sizes", args.create_sizes,
                                   "--create-runs", str(args.create_runs),
                                   "--fio-size", str(args.fio_size),
                                   "--fio-seconds", str(args.fio_seconds),
                                   "--places", args.places])


if __name__ == "__main__":
    sys.exit(main())
