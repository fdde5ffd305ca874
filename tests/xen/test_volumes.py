"""Bind mounts and volumes shared live with a zone over Xen's 9pfs, against real Xen.

One zone (module scope) gets a read-write volume, a read-only volume, a read-only single-file
bind (as /etc/hosts is) and a read-write single-file bind. Its workload reports what it sees,
tries to get out of the volume and of its root, which is the bundle's rootfs over 9p too
(symlinks to dom0's /etc/shadow and /, a `..` chain, a hard link to a file outside, a link
swapped under a path, rename races between a directory and a link to a dom0 path), works
the volume's files (rename, unlink, truncate, append, fsync,
flock, chown, links, mmap), then answers pings: dom0 writes ping-N into the volume, the zone
copies it to pong-N, so one round trip shows a write crossing each way; and it reads a
ConfigMap that dom0 swaps atomically. The tests read what was collected; the zone is gone (and
its QEMU with it) before the first test's leftover check.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from edera_oci.zone.backend import console_log
from tests.perms import exposed

from .bundles import make_bundle
from .dom0 import dump_diagnostics, leftovers, qemus
from .test_zone_runtime import oci
from .zone_run import running_zone, said

pytestmark = pytest.mark.xen

FILEOPS = Path(__file__).parent / "tools/build/fileops"  # make xen-test-tools
# docker's default capabilities (chown and modes on a volume need them)
DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
               "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
               "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]

WORKLOAD = r"""
echo "from-zone" > /data/from-zone
echo "hosts=$(cat /etc/hosts)"
echo "appended by the zone" >> /etc/app.conf && echo "file-append=ok" || echo "file-append=failed"
if echo x > /ro/zone-write 2>/dev/null; then echo "ro-write=ok"; else echo "ro-write=denied"; fi
if echo x >> /etc/hosts 2>/dev/null; then r=ok; else r=denied; fi; echo "ro-file-write=$r"
echo "ro-content=$(cat /ro/readme)"
# escape attempts, all from inside the zone, in the shared volume
ln -s /etc/shadow /data/shadow-link
ln -s / /data/root-link
ln -s ../../../../../../../../etc/shadow /data/dotdot-link
echo "zone-shadow=$(cat /data/shadow-link 2>&1 | head -c 60)"
echo "zone-root-link=$(ls /data/root-link/ | tr '\n' ' ')"
echo "zone-dotdot=$(cat /data/dotdot-link 2>&1 | head -c 60)"
echo "zone-dotdot-dir=$(ls /data/../../../../ | tr '\n' ' ')"
if ln /etc/zone-marker /data/hard-link 2>/dev/null; then r=made; else r=refused; fi; echo "hard=$r"
# through the link the zone made, dom0 must not write for it either
echo "zone-wrote-through-link" > /data/root-link/tmp/through-link 2>/dev/null
# the same in the root, the bundle's rootfs over 9p as well (the default)
ln -s /etc/shadow /root-shadow-link
ln -s ../../../../../../../../etc/shadow /root-dotdot-link
ln -s / /root-link
echo "root-shadow=$(cat /root-shadow-link 2>&1 | head -c 60)"
echo "root-dotdot=$(cat /root-dotdot-link 2>&1 | head -c 60)"
echo "zone-wrote-through-root-link" > /root-link/tmp/through-root-link 2>/dev/null
if ln /data/from-zone /root-hard-link 2>/dev/null; then r=made; else r=refused; fi
echo "root-hard=$r"
mv /root-link /root-link-moved && ln -s /etc /root-link
echo "root-swap=$(cat /root-link/shadow | head -c 60)"
# file semantics on the volume (dom0 checks each result on its side too)
cd /data
echo one > sem-a && mv sem-a sem-b && echo "rename=$(cat sem-b)"
echo gone > sem-c && rm sem-c && [ ! -e sem-c ] && echo "unlink=ok"
echo 123456789 > sem-t && truncate -s 3 sem-t && echo "truncate=$(cat sem-t)"
echo a >> sem-app && echo b >> sem-app && echo "append=$(tr '\n' , < sem-app)"
dd if=/dev/zero of=sem-fsync bs=4k count=4 conv=fsync 2>/dev/null && echo "fsync=ok"
echo "flock=$(fileops flock sem-app)"
chown 1234:5678 sem-b && chmod 640 sem-b && echo "owner=$(stat -c %u:%g:%a sem-b)"
ln sem-b sem-hard && echo "links=$(stat -c %h sem-b)"
ln -s sem-b sem-sym && echo "symlink=$(readlink sem-sym)"
echo "dom0-owner=$(stat -c %u:%g:%a from-dom0)"
echo "mmap=$(fileops mmap from-dom0)"
# a socket and a FIFO dom0 made in the volume: another kernel's, nothing crosses
echo "socket-type=$(stat -c %F dom0-socket)"
echo "socket-connect=$(fileops connect /data/dom0-socket)"
echo "fifo-type=$(stat -c %F dom0-fifo)"
cd /
# rename races: while one process renames a directory and a link to $RACE_TARGET (a path that
# holds a secret on dom0, and a decoy in the zone) in and out of one name, another reads
# through that name; the 9p server must never resolve the link on dom0
mkdir -p "$RACE_TARGET" && echo zone-namespace > "$RACE_TARGET/secret"
for where in /data/race /race; do
  mkdir $where-dir && echo zone-own > $where-dir/secret && ln -s "$RACE_TARGET" $where-link
  fileops swap $where-dir $where-link 100000 & swapper=$!
  seen=$(fileops readloop $where-dir/secret 300)
  kill $swapper; wait $swapper 2>/dev/null
  echo "race-${where%/race}=$seen"
done
echo "ready=1"
while [ ! -e /data/stop ]; do
  if [ -e /data/cm-ask ]; then  # a ConfigMap read through its symlinks, at dom0's asking
    cat /data/cm/config > /data/cm-answer.tmp
    rm /data/cm-ask
    mv /data/cm-answer.tmp /data/cm-answer
  fi
  for f in /data/ping-*; do
    [ -e "$f" ] || continue
    n=${f#/data/ping-}
    [ -e /data/pong-$n ] || cat "$f" > /data/pong-$n
  done
  sleep 0.02
done
echo "stopped=1"
"""


# Where Xen's own tools keep files about a domain: logs, libxl's saved configs, run state.
XEN_DIRS = ("/var/log/xen", "/var/lib/xen", "/run/xen", "/var/lib/xenstored")


def files_holding(text: str, *tops: str) -> list[str]:
    """``path mode`` of every regular file under tops whose content or name holds text."""
    found = []
    for top in tops:
        for parent, _dirs, names in os.walk(top):
            for name in names:
                path = os.path.join(parent, name)
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode):
                    continue
                try:
                    with open(path, "rb") as f:
                        held = text.encode() in f.read(64 << 20) or text in name
                except OSError:
                    continue
                if held:
                    found.append(f"{path} {stat.S_IMODE(st.st_mode):04o}")
    return sorted(found)


def bind(source: Path, destination: str, *options: str) -> dict:
    return {"destination": destination, "type": "bind", "source": str(source),
            "options": ["rbind", *options]}


@pytest.fixture(scope="module")
def volumes(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("volumes")
    root = tmp / "state"
    vol, ro, etc = tmp / "vol", tmp / "ro", tmp / "etc"
    for d in (vol, ro, etc):
        d.mkdir()
    (ro / "readme").write_text("read-only volume\n")
    (etc / "hosts").write_text("10.0.0.1 db\n")
    (etc / "app.conf").write_text("from dom0\n")
    (etc / "sibling-secret").write_text("not shared\n")
    (vol / "from-dom0").write_text("dom0-mmap-me")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # dom0's, listening
    listener.bind(str(vol / "dom0-socket"))
    listener.listen(1)
    listener.setblocking(False)
    os.mkfifo(vol / "dom0-fifo")
    os.chown(vol / "from-dom0", 4321, 8765)
    (vol / "from-dom0").chmod(0o604)
    # a ConfigMap as the kubelet lays it out: the files behind ..data, a symlink it swaps
    cm = vol / "cm"
    (cm / "..v1").mkdir(parents=True)
    (cm / "..v1/config").write_text("v1\n")
    os.symlink("..v1", cm / "..data")
    os.symlink("..data/config", cm / "config")
    secret = "hunter2-" + uuid.uuid4().hex
    race_target = Path(f"/var/tmp/edera-race-{uuid.uuid4().hex[:8]}")  # dom0's, and a decoy's
    race_target.mkdir()
    (race_target / "secret").write_text(f"dom0-secret-{race_target.name}\n")
    bundle = make_bundle(tmp / "bundle", ["sh", "-c", WORKLOAD], **{"process.env": [
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"DB_PASSWORD={secret}",
        f"RACE_TARGET={race_target}"],
        "root.readonly": False,
        "process.capabilities": {k: DOCKER_CAPS for k in ("bounding", "effective", "permitted")}},
        mounts=[
        {"destination": "/proc", "type": "proc", "source": "proc"},
        bind(vol, "/data", "rw"), bind(ro, "/ro", "ro"),
        bind(etc / "hosts", "/etc/hosts", "ro"), bind(etc / "app.conf", "/etc/app.conf", "rw"),
    ])
    (bundle / "rootfs/etc/shadow").write_text("zone-shadow-content\n")
    assert FILEOPS.is_file(), f"{FILEOPS} is missing: make xen-test-tools"
    shutil.copy2(FILEOPS, bundle / "rootfs/bin/fileops")
    (bundle / "rootfs/tmp").mkdir(exist_ok=True)
    dom0_shadow = Path("/etc/shadow").read_text()
    cid = "volumes-" + uuid.uuid4().hex[:8]
    result: dict = {"vol": vol, "etc": etc, "ro": ro, "dom0_shadow": dom0_shadow,
                    "rootfs": bundle / "rootfs", "race_target": race_target}
    with running_zone(root, bundle, cid, tmp, said("ready"), timeout=300) as zone:
        result["qemus_running"] = qemus()
        result["staging_as_served"] = as_served(result["qemus_running"], root / cid / "binds")
        # What the runtime and real Xen (libxl, xenconsoled, the 9pfs QEMU) keep of this zone
        # while it runs, read for secrets (issue 11).
        state = json.loads((root / cid / "state.json").read_text())["zone"]
        result["exposed"] = exposed(root, state["disk_dir"], console_log(state["name"]))
        result["xen_files_with_secret"] = files_holding(secret, *XEN_DIRS)
        result["xen_files"] = files_holding(state["name"], *XEN_DIRS)
        result["from_zone"] = (vol / "from-zone").read_text()
        result["app_conf"] = (etc / "app.conf").read_text()
        rtts = []
        for n in range(3):
            (vol / f".ping-{n}").write_text(f"dom0 says {n}\n")
            t0 = time.monotonic()
            os.rename(vol / f".ping-{n}", vol / f"ping-{n}")  # whole, or not at all
            pong = vol / f"pong-{n}"
            while not (pong.exists() and pong.read_text()):
                assert time.monotonic() - t0 < 10, f"no pong-{n}"
                time.sleep(0.01)
            rtts.append(time.monotonic() - t0)
            result[f"pong-{n}"] = pong.read_text()
        result["rtts"] = rtts

        def ask_configmap() -> str:
            (vol / "cm-answer").unlink(missing_ok=True)
            (vol / "cm-ask").write_text("")
            t0 = time.monotonic()
            while not (vol / "cm-answer").exists():
                assert time.monotonic() - t0 < 10, "no answer about the ConfigMap"
                time.sleep(0.01)
            return (vol / "cm-answer").read_text()

        result["cm_before"] = ask_configmap()
        # the kubelet's atomic update: the new files, a new link renamed over ..data
        (cm / "..v2").mkdir()
        (cm / "..v2/config").write_text("v2\n")
        os.symlink("..v2", cm / "..data_tmp")
        os.rename(cm / "..data_tmp", cm / "..data")
        shutil.rmtree(cm / "..v1")
        result["cm_after"] = ask_configmap()
        (vol / "stop").write_text("")
        result["status"] = zone.run.wait(timeout=60)
    result["delete"] = zone.deleted
    result["workload"] = zone.seen()
    result["stderr"] = zone.stderr()
    result["qemus_after"] = qemus()
    result["leftovers"] = leftovers(root)
    try:
        listener.accept()
        result["socket_accepted"] = True
    except BlockingIOError:
        result["socket_accepted"] = False
    listener.close()
    result["race_target_after"] = (race_target / "secret").read_text()
    shutil.rmtree(race_target)
    return result


def as_served(qemu_pids: list[str], staging: Path) -> dict:
    """The staging directory as the zone's QEMU sees it: its mount options in the QEMU's
    mount namespace, and what making a file, a directory and a link there gives, done in
    that namespace as root (as QEMU would, at any guest's asking)."""
    assert len(qemu_pids) == 1, qemu_pids
    pid = qemu_pids[0]
    lines = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
    options = [ln.split()[5] for ln in lines if ln.split()[4] == str(staging)]
    tries = {}
    for what in (["touch", f"{staging}/fill"], ["mkdir", f"{staging}/evil"],
                 ["ln", "-s", "/etc", f"{staging}/pod-evil"]):
        r = subprocess.run(["nsenter", f"--mount=/proc/{pid}/ns/mnt", *what],
                           capture_output=True, text=True)
        tries[what[0]] = (r.returncode, r.stderr.strip())
    return {"options": options, "tries": tries, "listing": sorted(os.listdir(staging))}


def test_writes_cross_both_ways_live_and_survive_delete(volumes):
    assert volumes["status"] == 0, volumes["stderr"]
    assert volumes["from_zone"] == "from-zone\n"
    for n in range(3):  # dom0 -> zone -> dom0, each way within a second
        assert volumes[f"pong-{n}"] == f"dom0 says {n}\n"
    assert max(volumes["rtts"]) < 1.0, volumes["rtts"]
    vol = volumes["vol"]
    assert (vol / "from-zone").read_text() == "from-zone\n"  # after delete: still there
    assert (vol / "pong-2").exists()


def test_file_semantics_hold_on_a_volume(volumes):
    """What the zone did on the volume, as it saw it and as dom0 finds it: rename, unlink,
    truncate, O_APPEND, fsync, flock (between the zone's own processes: QEMU's 9p server
    takes no lock on dom0), owners and modes both ways, a hard link, a symlink, mmap reads."""
    w, vol = volumes["workload"], volumes["vol"]
    assert w["rename"] == "one" and (vol / "sem-b").read_text() == "one\n", w
    assert not (vol / "sem-a").exists()
    assert w["unlink"] == "ok" and not (vol / "sem-c").exists()
    assert w["truncate"] == "123" and (vol / "sem-t").read_text() == "123"
    assert w["append"] == "a,b," and (vol / "sem-app").read_text() == "a\nb\n"
    assert w["fsync"] == "ok" and (vol / "sem-fsync").stat().st_size == 16384
    assert w["flock"] == "held"
    st = (vol / "sem-b").stat()
    assert w["owner"] == "1234:5678:640"
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o640)
    assert w["links"] == "2" and (vol / "sem-hard").stat().st_ino == st.st_ino
    assert w["symlink"] == "sem-b" and os.readlink(vol / "sem-sym") == "sem-b"
    assert w["dom0-owner"] == "4321:8765:604"
    assert w["mmap"] == "dom0-mmap-me"


def test_a_configmap_swapped_atomically_is_seen_in_the_zone(volumes):
    """The kubelet's update of a ConfigMap or Secret (a new ..data symlink renamed into place)
    is what the running zone reads next."""
    assert (volumes["cm_before"], volumes["cm_after"]) == ("v1\n", "v2\n")


def test_nothing_of_the_zone_on_dom0_is_readable_by_others(volumes):
    """Everything the runtime keeps for a running zone with volumes (its state directory,
    disk directory, console log) is root's alone; no file of Xen's tools holds the
    container's secret environment (it travels in spec.bin, 0600, and over the channel), and
    those of them that name the zone are shown."""
    print("Xen's files about the zone:", volumes["xen_files"])
    assert volumes["exposed"] == []
    assert volumes["xen_files_with_secret"] == []


def test_read_only_binds_are_read_only(volumes):
    w = volumes["workload"]
    assert w["ro-content"] == "read-only volume"
    assert w["ro-write"] == "denied"
    assert w["ro-file-write"] == "denied"
    assert not (volumes["ro"] / "zone-write").exists()
    assert (volumes["etc"] / "hosts").read_text() == "10.0.0.1 db\n"


def test_single_file_binds_share_just_that_file(volumes):
    w = volumes["workload"]
    assert w["hosts"] == "10.0.0.1 db"
    assert w["file-append"] == "ok"
    assert volumes["app_conf"] == "from dom0\nappended by the zone\n"
    assert (volumes["etc"] / "sibling-secret").read_text() == "not shared\n"


def test_the_zones_links_never_lead_dom0_out_of_the_share(volumes):
    """Symlinks made in the volume resolve in the zone's own namespace; dom0's /etc/shadow
    and / are not reached (the 9p server walks with O_NOFOLLOW under the share)."""
    w, vol = volumes["workload"], volumes["vol"]
    assert w["zone-shadow"] == "zone-shadow-content", w
    assert w["zone-dotdot"] == "zone-shadow-content", w
    assert "zone-marker" in w["zone-root-link"].split() or "etc" in w["zone-root-link"]
    assert "lab" not in w["zone-root-link"].split()  # dom0's / has /lab, the zone's has not
    assert "lab" not in w["zone-dotdot-dir"].split()
    assert volumes["dom0_shadow"][:20] not in "".join(w.values())
    assert w["hard"] == "refused"  # another filesystem: no hard link out of the share
    # dom0 sees the links as links (made for the zone, never followed for it)
    assert os.readlink(vol / "shadow-link") == "/etc/shadow"
    assert os.readlink(vol / "root-link") == "/"
    assert not Path("/tmp/through-link").exists()
    assert Path("/etc/shadow").read_text() == volumes["dom0_shadow"]


def test_the_zones_links_in_its_root_never_lead_dom0_out_of_it(volumes):
    """The root is the bundle's rootfs over 9p (the default): links the zone makes there, a
    `..` chain and a link swapped under a path resolve in the zone's own namespace; dom0
    keeps them as links in the rootfs, as runc's rootfs would, and never follows them."""
    w, rootfs = volumes["workload"], volumes["rootfs"]
    assert w["root-shadow"] == w["root-dotdot"] == w["root-swap"] == "zone-shadow-content", w
    assert w["root-hard"] == "refused"  # another filesystem: no hard link across shares
    assert os.readlink(rootfs / "root-shadow-link") == "/etc/shadow"
    assert os.readlink(rootfs / "root-link") == "/etc"
    assert (rootfs / "tmp/through-root-link").read_text() == "zone-wrote-through-root-link\n"
    assert not Path("/tmp/through-root-link").exists()
    assert (rootfs / "etc/shadow").read_text() == "zone-shadow-content\n"
    assert Path("/etc/shadow").read_text() == volumes["dom0_shadow"]


def test_one_qemu_per_zone_and_none_after_it(volumes):
    assert len(volumes["qemus_running"]) == 1, volumes["qemus_running"]
    assert volumes["delete"].returncode == 0, volumes["delete"].stderr
    assert volumes["qemus_after"] == []
    assert volumes["leftovers"] == []


def test_a_root_copied_into_ext4_on_request_keeps_nothing(tmp_path):
    """With ``org.edera-oci.rootfs: ext4`` the rootfs is copied into an ext4 image on blkback
    (the default is the rootfs itself, over 9p): the workload runs from the copy, its writes
    stay there and go with the zone, and no QEMU runs for a zone without binds."""
    root = tmp_path / "state"
    bundle = make_bundle(tmp_path / "bundle", ["sh", "-c",
                         "echo written-in-zone > /from-zone; cat /etc/zone-marker; "
                         "grep ' / ' /proc/mounts | cut -d' ' -f3; ls /sys/bus/xen/devices"],
                         annotations={"org.edera-oci.rootfs": "ext4"},
                         **{"root.readonly": False})
    cid = "rootext4-" + uuid.uuid4().hex[:8]
    try:
        run = subprocess.run(["edera-oci", "--root", str(root), "run", "--bundle", str(bundle),
                              cid], capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL)
        during = qemus()
    finally:
        delete = oci(root, "delete", "--force", cid)
    if run.returncode != 0:
        dump_diagnostics(root)
    assert run.returncode == 0, run.stderr
    marker, fstype, *devices = run.stdout.split()
    assert (marker, fstype) == ("rootfs-from-bundle", "ext4")
    assert "vbd-51712" in devices and not [d for d in devices if d.startswith("9pfs")], devices
    assert not (bundle / "rootfs/from-zone").exists()
    assert during == []
    assert delete.returncode == 0, delete.stderr
    assert not list(Path("/var/lib/edera-oci/disks").glob("*/root.ext4"))
    assert qemus() == [] and leftovers(root) == []


def test_rename_races_in_the_zone_never_lead_dom0_out_of_its_shares(volumes):
    """One process renames a directory and a link to a dom0 path (a secret there, a decoy
    in the zone) in and out of one name, 100000 times over, while another reads through
    that name, in a volume and in the root: the reads find the directory's file or the
    zone's own decoy (or nothing, between renames), never dom0's file."""
    w = volumes["workload"]
    for where in ("race-/data", "race-"):
        outcomes = dict(kv.split("=") for kv in w[where].split())
        assert set(outcomes) <= {"zone-own", "zone-namespace", "ENOENT", "ELOOP",
                                 "ENOTDIR"}, (where, outcomes)
        assert "zone-own" in outcomes and "zone-namespace" in outcomes, (where, outcomes)
    assert volumes["race_target_after"].startswith("dom0-secret-")


def test_the_zone_can_make_nothing_in_its_binds_staging_directory(volumes):
    """dom0's <root>/<id>/binds, as the zone's QEMU serves it, is read-only (and nosuid,
    nodev, noexec): QEMU, at whatever a guest asks, can neither fill dom0's /run nor leave
    a link or a directory there for dom0 to follow later (the binds themselves stay
    read-write as asked: the volume tests above write through them)."""
    served = volumes["staging_as_served"]
    assert served["options"] and all(
        {"ro", "nosuid", "nodev", "noexec"} <= set(o.split(",")) for o in served["options"]), served
    for what, (rc, err) in served["tries"].items():
        assert rc != 0 and "Read-only file system" in err, (what, rc, err)
    assert not {"fill", "evil", "pod-evil"} & set(served["listing"]), served


def test_a_socket_or_fifo_in_a_volume_is_another_kernels_and_nothing_crosses(volumes):
    """dom0's listening unix socket and a FIFO inside a shared directory: the zone sees their
    names and types (the 9p server lists them; it cannot leave them out), but connecting to
    the socket from the zone is refused by the zone's own kernel, and dom0's listener never
    sees a connection."""
    w = volumes["workload"]
    assert w["socket-type"] == "socket" and w["fifo-type"] == "fifo", w
    assert w["socket-connect"] == "ECONNREFUSED", w
    assert volumes["socket_accepted"] is False
