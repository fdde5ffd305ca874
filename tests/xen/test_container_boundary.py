"""The container boundary inside a zone, against real Xen: an escape drill.

One zone runs a root workload with docker's default capabilities (CAP_MKNOD and CAP_SYS_CHROOT
among them) and its default namespaces. The workload is a shell script that tries to reach the
zone's plumbing (the Xen devices the zone init talks to dom0 through, xenfs, the zone init
itself, the zone's root) and prints what happened as key=value lines; then it idles while an
exec looks at the container from a second process, another runs a fork bomb under the pids
limit, a third runs at the limit, a SIGTERM the workload has no handler for is sent, and
SIGKILL ends it. Everything is collected once (module scope, one zone boot) and the tests read
the results, so the zone is gone before the first test's leftover check.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from .bundles import make_bundle
from .dom0 import leftovers
from .test_zone_runtime import oci
from .zone_run import keyvals, running_zone, said

pytestmark = pytest.mark.xen

REPO = Path(__file__).resolve().parents[2]
XEN_DEVICES = ("xenbus", "evtchn", "gntdev", "gntalloc", "privcmd")

DRILL = r"""
echo "pid=$$"
echo "cmdline=$(head -c 24 /proc/1/cmdline | tr '\0\n' '  ')"
echo "dev=$(ls -A /dev | tr '\n' ' ')"
echo "mounts=$(cut -d' ' -f2 /proc/mounts | tr '\n' ' ')"
echo "fstypes=$(cut -d' ' -f3 /proc/mounts | sort -u | tr '\n' ' ')"
echo "root-source=$(grep -m1 ' / ' /proc/mounts | cut -d' ' -f1)"
echo "dotdot=$(ls -A /../../.. | tr '\n' ' ')"
echo "slash=$(ls -A / | tr '\n' ' ')"
cmdlines() { for p in /proc/[0-9]*; do tr '\0' ' ' < $p/cmdline; echo; done; }
echo "procs=$(ls -d /proc/[0-9]* | wc -l)"
echo "init-seen=$(cmdlines | grep -c '^/init')"
for d in xenbus evtchn gntdev gntalloc privcmd; do
  if [ -e /dev/xen/$d ]; then echo "present-$d=yes"; else echo "present-$d=no"; fi
  minor=$(awk -v n="xen/$d" '$2 == n {print $1}' /proc/misc)
  echo "minor-$d=$minor"
  if [ -z "$minor" ]; then
    echo "mknod-$d=not-in-this-zone"
  elif mknod /dev/.drill-$d c 10 "$minor" 2>/dev/null; then
    echo "mknod-$d=ok"
    if (: < /dev/.drill-$d) 2>/dev/null; then echo "open-$d=ok"; else echo "open-$d=denied"; fi
    rm -f /dev/.drill-$d
  else
    echo "mknod-$d=denied"
  fi
done
for b in xvda:202:0 xvdb:202:16; do
  n=${b%%:*}; mm=${b#*:}
  if mknod /dev/.drill-$n b ${mm%:*} ${mm#*:} 2>/dev/null; then r=ok; else r=denied; fi
  echo "mknod-$n=$r"
done
mknod /dev/.drill-null c 1 3 2>/dev/null && echo x > /dev/.drill-null && echo mknod-null=ok
rm -f /dev/.drill-null
echo x > /dev/null && echo devnull=ok
echo "cgroup=$(cat /proc/self/cgroup)"
echo "pids-max=$(cat /sys/fs/cgroup/pids.max)"
if mount -t xenfs xenfs /tmp 2>/dev/null; then echo xenfs=mounted; else echo xenfs=refused; fi
if umount -l / 2>/dev/null; then echo "umount-root=done"; else echo "umount-root=refused"; fi
if mount --bind / /tmp 2>/dev/null; then echo "bind-root=done"; else echo "bind-root=refused"; fi
kill -9 1
echo "after-kill-1=alive"
echo "hostname=$(hostname)"
for n in mnt pid ipc uts cgroup; do echo "ns-$n=$(readlink /proc/self/ns/$n)"; done
echo "cap-eff=$(grep CapEff /proc/self/status | cut -f2)"
mkfifo /dev/shm/idle
echo "drill-done=1"
read x < /dev/shm/idle  # idle without forking: a fork bomb is coming

"""

EXEC = r"""
echo "pid=$$"
echo "cmdline=$(head -c 24 /proc/1/cmdline | tr '\0\n' '  ')"
echo "dev=$(ls -A /dev | tr '\n' ' ')"
echo "mounts=$(cut -d' ' -f2 /proc/mounts | tr '\n' ' ')"
echo "slash=$(ls -A / | tr '\n' ' ')"
echo "hostname=$(hostname)"
for n in mnt pid ipc uts cgroup; do echo "ns-$n=$(readlink /proc/self/ns/$n)"; done
echo "ps=$(ps -o pid,args | awk '$1 == 1' | tr -s ' ')"
"""


BOMB = "i=0; while :; do sleep 600 & i=$((i+1)); echo $i > /dev/shm/bomb-n; done"
AT_LIMIT = ("read n < /dev/shm/bomb-n; echo bomb-forks=$n; "
            "read c < /sys/fs/cgroup/pids.current; echo pids-current=$c; echo at-limit=ok")


@pytest.fixture(scope="module")
def drill(tmp_path_factory) -> dict:
    """Run the drill in one zone; return everything it and the host saw."""
    tmp = tmp_path_factory.mktemp("boundary")
    root = tmp / "state"
    docker = json.loads((REPO / "spec-fixtures/valid/docker-20.10.json").read_text())
    bundle = make_bundle(tmp / "bundle", ["sh", "-c", DRILL], **{
        "process.capabilities": docker["process"]["capabilities"],
        "process.user": {"uid": 0, "gid": 0},
        "hostname": "drill",
        "root.readonly": False,  # as docker runs it
        "linux.resources": {"pids": {"limit": 48}},
    })
    cid = "boundary-" + uuid.uuid4().hex[:8]
    result: dict = {}
    with running_zone(root, bundle, cid, tmp, said("drill-done")) as zone:
        result["workload"] = zone.seen()
        ex = oci(root, "exec", cid, "sh", "-c", EXEC, timeout=120)
        result["exec"] = keyvals(ex.stdout)
        result["exec_status"] = ex.returncode
        result["exec_stderr"] = ex.stderr
        # A fork bomb from an exec: it forks until pids.max stops it, then dies.
        bomb = oci(root, "exec", cid, "sh", "-c", BOMB, timeout=300)
        result["bomb_status"] = bomb.returncode
        # At the limit, an exec still runs (it joins the cgroup; its builtins need no fork).
        at_limit = oci(root, "exec", cid, "sh", "-c", AT_LIMIT, timeout=120)
        result["at_limit"] = keyvals(at_limit.stdout)
        result["at_limit_status"] = at_limit.returncode
        oci(root, "exec", cid, "pkill", "sleep", timeout=120)
        oci(root, "kill", cid, "TERM")
        time.sleep(3)
        state = json.loads(oci(root, "state", cid).stdout or "{}")
        result["after_term"] = state.get("status")
        oci(root, "kill", cid, "KILL")
        result["status"] = zone.run.wait(timeout=120)
    result["stderr"] = (tmp / "stderr").read_text()
    result["leftovers"] = leftovers(root)
    return result


def test_the_workload_is_pid_1_and_the_zone_init_is_out_of_reach(drill):
    w = drill["workload"]
    assert w["pid"] == "1", drill
    assert w["cmdline"].startswith("sh -c"), w["cmdline"]
    assert w["init-seen"] == "0"  # the zone init (/init) is in no /proc the container has
    assert int(w["procs"]) <= 6, w  # the shell and its own pipeline only (ls, wc)
    # kill -9 1 from inside: a PID namespace's init cannot be killed from within
    assert w["after-kill-1"] == "alive"
    # SIGTERM without a handler is ignored by a PID-1 workload, as under runc ...
    assert drill["after_term"] == "running", drill
    # ... and SIGKILL from outside ends it, reported as before.
    assert drill["status"] == 137, drill["stderr"]
    assert drill["leftovers"] == []


def test_dev_is_the_containers_and_has_no_xen_devices(drill):
    w = drill["workload"]
    dev = set(w["dev"].split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm",
            "mqueue", "fd", "stdin", "stdout", "stderr"} <= dev, dev
    assert not dev & {"xen", "xvda", "xvdb", "hvc0", "console", "vda"}, dev
    for d in XEN_DEVICES:
        assert w[f"present-{d}"] == "no", d


def test_the_zones_devices_cannot_be_made_or_opened(drill):
    """CAP_MKNOD (docker's default) makes device nodes, but the device program on the
    container's cgroup refuses the zone's own: its Xen channel devices, disks and console."""
    w = drill["workload"]
    present = [d for d in XEN_DEVICES if w[f"minor-{d}"]]
    assert {"xenbus", "evtchn", "gntalloc"} <= set(present), w  # what the zone init uses
    for d in present:
        assert w[f"mknod-{d}"] == "denied", (d, w)
    assert w["mknod-xvda"] == w["mknod-xvdb"] == "denied"
    # ... and nothing else: other nodes can be made and used, as under docker
    assert w["mknod-null"] == "ok" and w["devnull"] == "ok"


def test_pids_limit_contains_a_fork_bomb(drill):
    w, at = drill["workload"], drill["at_limit"]
    assert w["cgroup"] == "0::/"  # its own cgroup, as the root of its cgroup namespace
    assert w["pids-max"] == "48"
    assert drill["bomb_status"] != 0  # the bomb's shell died when fork failed
    # ... having forked up to the limit and no further; the zone and exec go on.
    assert 30 <= int(at["bomb-forks"]) <= 48, at
    assert int(at["pids-current"]) <= 48 + 1, at  # + the exec that joined to look
    assert at["at-limit"] == "ok" and drill["at_limit_status"] == 0


def test_no_way_out_of_the_root(drill):
    w = drill["workload"]
    assert w["xenfs"] == "refused"
    assert w["umount-root"] == "refused"
    assert w["bind-root"] == "refused"
    assert w["dotdot"] == w["slash"]
    # the bundle's rootfs over 9p (the default root), not the zone's initramfs
    assert w["root-source"] == "edera-root", w["root-source"]
    mounts = w["mounts"].split()
    assert mounts[0] == "/", mounts
    assert not [m for m in mounts if m.startswith(("/run/edera", "/lib/modules", "/init"))]
    assert "rootfs" not in w["fstypes"].split()  # the zone's initramfs is not reachable
    assert {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"} <= set(mounts)
    assert w["hostname"] == "drill"
    # docker's default capabilities, nothing more: no CAP_SYS_ADMIN (21)
    assert int(w["cap-eff"], 16) == 0xa80425fb, w["cap-eff"]


def test_exec_sees_what_the_container_sees(drill):
    w, e = drill["workload"], drill["exec"]
    assert drill["exec_status"] == 0, drill["exec_stderr"]
    for key in ("ns-mnt", "ns-pid", "ns-ipc", "ns-uts", "ns-cgroup", "cmdline", "dev",
                "hostname", "slash"):
        assert e[key] == w[key], (key, e[key], w[key])
    assert e["pid"] != "1"
    assert e["ps"].strip().startswith("1 sh -c"), e["ps"]
    # the exec's view of the mounts is the container's (its own /proc/self/fd aside)
    assert set(e["mounts"].split()) == set(w["mounts"].split())
