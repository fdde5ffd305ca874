"""linux.resources.devices against real Xen: the rule list as runc applies it on cgroup v2.

One zone runs a root workload (docker's default capabilities, CAP_MKNOD among them) whose rules
deny everything, then allow /dev/null (rwm), /dev/zero (r) and a driverless char device 240:0
(r), and try to re-allow the zone's console (char 229:*) and disks (block 202:*). As under runc,
runc's always-allowed devices follow the rules (mknod of any device, /dev/null, zero, full,
random, urandom, tty, ptmx, pts, net/tun), so /dev/zero stays writable and mknod works; the
driverless 240:0 shows the rest: a device the rules let through gets ENXIO from the missing
driver, one they refuse gets EPERM from the device program. The zone's plumbing stays denied
whatever the rules say. An exec is held to the same rules; `update` replaces them live (240:0
becomes writable) and the plumbing is still denied after it. Everything is collected once
(module scope, one zone boot); the tests read the results.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from .bundles import make_bundle
from .dom0 import leftovers
from .test_zone_runtime import oci
from .zone_run import keyvals, running_zone, said

pytestmark = pytest.mark.xen

REPO = Path(__file__).resolve().parents[2]

RULES = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
    {"allow": True, "type": "c", "major": 240, "minor": 0, "access": "r"},
    {"allow": True, "type": "c", "major": 229, "access": "rwm"},  # the zone's console: no
    {"allow": True, "type": "b", "major": 202, "access": "rwm"},  # the zone's disks: no
]
UPDATED = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": 240, "minor": 0, "access": "rw"},
]

# probe NAME COMMAND: NAME=ok, denied (EPERM: the device program), nodev (ENXIO or ENODEV:
# let through, no driver) or other:<message>.
PROBE = r"""
probe() {
  out=$( (eval "$2") 2>&1 )
  case "$out" in
    "") echo "$1=ok" ;;
    *"not permitted"*) echo "$1=denied" ;;
    *"No such device"*) echo "$1=nodev" ;;
    *) echo "$1=other:$(echo "$out" | tr '\n' ' ')" ;;
  esac
}
plumbing() {
  probe "$1-mknod" "mknod /dev/.any-$$ c 242 0"  # CAP_MKNOD: an EPERM below is the program's
  probe "$1-mknod-hvc" "mknod /dev/.hvc-$$ c 229 0"
  probe "$1-mknod-xvda" "mknod /dev/.xvda-$$ b 202 0"
  minor=$(awk '$2 == "xen/xenbus" {print $1}' /proc/misc)
  echo "$1-xenbus-minor=$minor"
  [ -n "$minor" ] && probe "$1-mknod-xenbus" "mknod /dev/.xenbus-$$ c 10 $minor"
}
"""

WORKLOAD = PROBE + r"""
probe null-write 'echo x > /dev/null'
probe null-read 'cat /dev/null'
probe zero-read 'head -c 4 /dev/zero > /dev/null'
probe zero-write 'echo x > /dev/zero'
probe ptmx-open ': <> /dev/ptmx'
probe mknod-ro 'mknod /dev/.ro c 240 0'
probe ro-read ': < /dev/.ro'
probe ro-write ': > /dev/.ro'
probe ro-rdwr ': <> /dev/.ro'
probe mknod-other 'mknod /dev/.other c 241 0'
probe other-read ': < /dev/.other'
probe mknod-kmsg 'mknod /dev/.kmsg c 1 11'
probe kmsg-read ': < /dev/.kmsg'
probe mknod-blk 'mknod /dev/.blk b 240 0'
probe blk-read ': < /dev/.blk'
plumbing workload
echo "cgroup=$(cat /proc/self/cgroup)"
mkfifo /dev/shm/idle
echo "probes-done=1"
read x < /dev/shm/idle
"""

# An exec (it joins the container's cgroup), before and after the update.
EXEC = PROBE + r"""
probe exec-null-write 'echo x > /dev/null'
probe exec-ro-read ': < /dev/.ro'
probe exec-ro-write ': > /dev/.ro'
probe exec-other-read ': < /dev/.other'
plumbing exec
"""


@pytest.fixture(scope="module")
def probes(tmp_path_factory) -> dict:
    """Run the probes in one zone, an exec before and after an update; return what they saw."""
    tmp = tmp_path_factory.mktemp("devices")
    root = tmp / "state"
    docker = json.loads((REPO / "spec-fixtures/valid/docker-20.10.json").read_text())
    bundle = make_bundle(tmp / "bundle", ["sh", "-c", WORKLOAD], **{
        "process.capabilities": docker["process"]["capabilities"],
        "process.user": {"uid": 0, "gid": 0},
        "root.readonly": False,
        "linux.resources": {"devices": RULES},
    })
    cid = "devices-" + uuid.uuid4().hex[:8]
    result: dict = {}
    with running_zone(root, bundle, cid, tmp, said("probes-done")) as zone:
        result["workload"] = zone.seen()
        before = oci(root, "exec", cid, "sh", "-c", EXEC, timeout=120)
        result["before"] = keyvals(before.stdout)
        result["before_status"] = before.returncode
        resources = tmp / "resources.json"
        resources.write_text(json.dumps({"devices": UPDATED}))
        update = oci(root, "update", "--resources", str(resources), cid, timeout=120)
        result["update"] = (update.returncode, update.stderr)
        after = oci(root, "exec", cid, "sh", "-c", EXEC, timeout=120)
        result["after"] = keyvals(after.stdout)
        result["after_status"] = after.returncode
        oci(root, "kill", cid, "KILL")
        result["status"] = zone.run.wait(timeout=120)
    result["stderr"] = (tmp / "stderr").read_text()
    result["leftovers"] = leftovers(root)
    return result


def test_the_rules_decide_each_access(probes):
    w = probes["workload"]
    assert w["null-write"] == w["null-read"] == w["zero-read"] == "ok", w
    # 240:0 may be read (ENXIO: let through to a driver that is not there), not written
    assert w["mknod-ro"] == "ok" and w["ro-read"] == "nodev", w
    assert w["ro-write"] == "denied", w
    assert w["ro-rdwr"] == "denied", w  # read and write at once is no way round the deny
    # what no rule allows is refused, a device the zone has (/dev/kmsg) or not
    assert w["other-read"] == "denied" and w["kmsg-read"] == "denied", w
    assert w["blk-read"] == "denied", w
    assert w["cgroup"] == "0::/"  # its own cgroup, where its rules hang


def test_runcs_always_allowed_devices_follow_the_rules(probes):
    """runc appends them to every list: /dev/zero (rwm) outweighs the rules' "r", a pty can be
    opened, and any device node can be made (opening it is what the rules decide)."""
    w = probes["workload"]
    assert w["zero-write"] == "ok", w
    assert w["ptmx-open"] == "ok", w
    assert w["mknod-other"] == w["mknod-kmsg"] == w["mknod-blk"] == "ok", w


def test_no_rule_reaches_the_zones_plumbing(probes):
    """Rules that allow char 229:* and block 202:*, and runc's mknod of anything, change
    nothing: the zone's console, disks and Xen devices cannot even be made, before the update
    and after it."""
    for who, seen in (("workload", probes["workload"]), ("exec", probes["before"]),
                      ("exec", probes["after"])):
        assert seen[f"{who}-mknod"] == "ok", seen  # it may make nodes: CAP_MKNOD
        assert seen[f"{who}-mknod-hvc"] == "denied", seen
        assert seen[f"{who}-mknod-xvda"] == "denied", seen
        assert seen[f"{who}-xenbus-minor"], seen  # the zone init's own channel device
        assert seen[f"{who}-mknod-xenbus"] == "denied", seen


def test_an_exec_has_the_containers_rules(probes):
    e = probes["before"]
    assert probes["before_status"] == 0, e
    assert e["exec-null-write"] == "ok" and e["exec-ro-read"] == "nodev", e
    assert e["exec-ro-write"] == "denied" and e["exec-other-read"] == "denied", e


def test_update_replaces_the_rules_live(probes):
    assert probes["update"][0] == 0, probes["update"]
    a = probes["after"]
    assert probes["after_status"] == 0, a
    assert a["exec-ro-write"] == "nodev", a  # now let through: the old program is gone
    assert a["exec-ro-read"] == "nodev" and a["exec-other-read"] == "denied", a
    assert a["exec-null-write"] == "ok", a  # runc's defaults follow the new rules too


def test_the_zone_is_gone(probes):
    assert probes["status"] == 137, probes["stderr"]
    assert probes["leftovers"] == []
