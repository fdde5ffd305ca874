"""The one table of what edera-oci does with each ``config.json`` field (runtime-spec, Linux).

Every field of a config is, in a zone, one of:

* ``applied``: the runtime or the zone init does what the runtime-spec says (``where`` names
  the code that does it);
* ``refused``: ``create`` fails before anything is made, with an error naming the field and
  ``reason`` (runc fails too when its host cannot do what the field asks);
* ``ignored``: accepted, and ``create`` logs one warning line naming the field and
  ``reason`` (as runc ignores an AppArmor profile on a host without AppArmor).

Nothing else exists: a field this table does not know (a newer runtime-spec's, a vendor's) is
ignored with a warning too. ``edera_oci.validate`` refuses through :func:`refusals`,
``create`` warns through :func:`warnings`, ``edera_oci.features`` derives the namespaces,
mount options and the enabled flags from the table, and the README's support section and
``man/edera-oci-create.8`` are generated from it (``python3 -m edera_oci.support --update``
rewrites both between their markers; ``tests/unit/test_support.py`` fails when they drift).

Paths: ``.`` between object members, ``[]`` for any item of an array, ``[X]`` for one item:
for ``linux.namespaces`` X is the item's ``type`` (``linux.namespaces[user]``), for an array
of strings (``mounts[].options``) it is the string itself (``mounts[].options[tmpcopyup]``).
A row with ``subtree=True`` stands for everything under its path (``annotations``, the
hooks, ``linux.seccomp``); a row without it is followed by rows for its members.

Edit the table in :data:`FIELDS` only. Pure data: no I/O and no heavy imports, since
``create`` and ``features`` load it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from edera_oci import OCI_VERSION
from edera_oci.zone.records import MOUNT_OPTIONS, ZONE_FS_TYPES


class Status(StrEnum):
    """What a zone does with a field."""

    APPLIED = "applied"
    REFUSED = "refused"
    IGNORED = "ignored"


APPLIED, REFUSED, IGNORED = Status.APPLIED, Status.REFUSED, Status.IGNORED


@dataclass(frozen=True)
class Field:
    """One row: a config.json path, what a zone does with it, why, and where in the code."""

    path: str
    status: Status
    reason: str  # applied: what is done; refused and ignored: why (shown to the user)
    where: str = ""  # the code that applies it (applied rows)
    subtree: bool = False  # the row stands for every member under path
    group: bool = False  # an object whose members have rows of their own
    unset: tuple[Any, ...] = ()  # values that ask for nothing (runc reads a weight of 0 so)


def _g(path: str) -> Field:
    return Field(path, APPLIED, "holds the members below", group=True)


def _hooks(kind: str, when: str) -> Field:
    return Field(f"hooks.{kind}", APPLIED, f"run on the host {when} (path, args, env, timeout)",
                 "edera_oci/hooks.py, lifecycle", subtree=True)


NO_USERNS = ("user namespaces are not supported in a zone: the zone is the isolation "
             "boundary, and ids inside it are the workload's own")
NOT_ZONE_CG = "cgroup v1 only; a zone's cgroup is v2"
NO_SELINUX = "SELinux is not enforced in a zone (as runc ignores labels on a host without SELinux)"
# Set by the zone init in the zone's own kernel (PROTOCOL.md, "Record lists").
INIT = "zone/records.py → zone_image/init"

FIELDS: tuple[Field, ...] = (
    Field("ociVersion", APPLIED, "checked: 1.0.0 to 1.2.x are accepted", "validate.py"),
    _g("root"),
    Field("root.path", APPLIED, "shared live with the zone over Xen 9pfs, as the container's "
          "root: its writes land in the rootfs, as under runc (annotation "
          "org.edera-oci.rootfs=ext4: copied into an ext4 disk instead, whose writes go with "
          "the zone)", "zone/shares.py"),
    Field("root.readonly", APPLIED, "the container's root is remounted read-only in the zone, "
          "after its mount points are made (as runc does)", f"{INIT}/setup.c"),
    Field("hostname", APPLIED, "set in the container's UTS namespace (the zone's without "
          "one)", f"{INIT}/setup.c"),
    Field("domainname", APPLIED, "set in the container's UTS namespace (the zone's without "
          "one)", f"{INIT}/setup.c"),
    Field("annotations", APPLIED, "kept in the state and handed to hooks; the pod-sandbox "
          "annotations of CRI give the sandbox a zone without a NIC", "state.py, zone/backend.py",
          subtree=True),
    # -- process ------------------------------------------------------------------------------
    _g("process"),
    Field("process.args", APPLIED, "exec'd at start", f"{INIT}/launch.c"),
    Field("process.env", APPLIED, "the environment (HOME from /etc/passwd when absent)",
          f"{INIT}/launch.c"),
    Field("process.cwd", APPLIED, "the working directory", f"{INIT}/launch.c"),
    Field("process.terminal", APPLIED, "a pty in the zone, its master sent to "
          "--console-socket", "zone/monitor.py, init/container.c"),
    Field("process.consoleSize", APPLIED, "the pty's initial size", f"{INIT}/launch.c",
          subtree=True),
    _g("process.user"),
    Field("process.user.uid", APPLIED, "setuid", f"{INIT}/launch.c"),
    Field("process.user.gid", APPLIED, "setgid", f"{INIT}/launch.c"),
    Field("process.user.additionalGids", APPLIED, "setgroups", f"{INIT}/launch.c"),
    Field("process.user.umask", APPLIED, "umask", f"{INIT}/launch.c"),
    Field("process.user.username", IGNORED, "a Windows field (the runtime-spec uses it only "
          "on Windows)"),
    Field("process.commandLine", IGNORED, "a Windows field (the runtime-spec uses it only on "
          "Windows)"),
    _g("process.capabilities"),
    *(Field(f"process.capabilities.{kind}", APPLIED, f"the {kind} capability set",
            f"{INIT}/launch.c") for kind in
      ("bounding", "effective", "inheritable", "permitted", "ambient")),
    Field("process.rlimits", APPLIED, "setrlimit, each type", f"{INIT}/launch.c",
          subtree=True),
    Field("process.noNewPrivileges", APPLIED, "PR_SET_NO_NEW_PRIVS", f"{INIT}/launch.c"),
    Field("process.oomScoreAdj", APPLIED, "/proc/self/oom_score_adj", f"{INIT}/launch.c"),
    Field("process.apparmorProfile", IGNORED, "AppArmor is not enforced in a zone (as runc "
          "ignores a profile on a host without AppArmor)"),
    Field("process.selinuxLabel", IGNORED, NO_SELINUX),
    Field("process.scheduler", IGNORED, "not applied yet: the workload runs with the default "
          "scheduling policy of its zone's vCPUs", subtree=True),
    Field("process.ioPriority", IGNORED, "not applied yet: the zone's disk serves only this "
          "container, so there is no other container's I/O to order against", subtree=True),
    # -- mounts -------------------------------------------------------------------------------
    _g("mounts"),
    Field("mounts[].destination", APPLIED, "the mount point in the container", f"{INIT}/setup.c"),
    Field("mounts[].type", APPLIED, f"one of {', '.join(sorted(ZONE_FS_TYPES))} (cgroup is "
          "cgroup2); another type fails the create, naming the mount", f"{INIT}/setup.c"),
    Field("mounts[].source", APPLIED, "a bind's source is shared live with the zone over "
          "Xen 9pfs (a socket, FIFO or device is refused)", "zone/shares.py"),
    Field("mounts[].options", APPLIED, "the flags below (as mount(8) and runc read them); any "
          "other option is the filesystem's data (mode=755, size=...)", f"{INIT}/setup.c"),
    *(Field(f"mounts[].options[{opt}]", APPLIED, "a mount flag", f"{INIT}/setup.c")
      for opt in MOUNT_OPTIONS),
    Field("mounts[].options[defaults]", APPLIED, "no flag (mount(8)'s defaults)",
          "zone/records.py"),
    Field("mounts[].options[tmpcopyup]", IGNORED, "the tmpfs starts empty: the image's "
          "files under it are not copied up yet"),
    Field("mounts[].options[idmap]", REFUSED, "idmapped mounts are not supported in a zone"),
    Field("mounts[].options[ridmap]", REFUSED, "idmapped mounts are not supported in a zone"),
    Field("mounts[].uidMappings", REFUSED, "idmapped mounts are not supported in a zone",
          subtree=True),
    Field("mounts[].gidMappings", REFUSED, "idmapped mounts are not supported in a zone",
          subtree=True),
    # -- hooks --------------------------------------------------------------------------------
    _g("hooks"),
    _hooks("prestart", "at create, before the zone's domain is built"),
    _hooks("createRuntime", "at create"),
    _hooks("createContainer", "at create"),
    _hooks("startContainer", "at start, before the workload is released (runc runs them in the "
           "container's namespaces, which here are in the zone's kernel)"),
    _hooks("poststart", "after start (a failure is a warning)"),
    _hooks("poststop", "at delete"),
    # -- linux --------------------------------------------------------------------------------
    _g("linux"),
    _g("linux.namespaces"),
    Field("linux.namespaces[].type", APPLIED, "the namespace's type (the rows below)",
          "zone/records.py"),
    *(Field(f"linux.namespaces[{ns}]", APPLIED, "a new namespace made for the workload in its "
            "zone", f"{INIT}/container.c") for ns in ("mount", "pid", "ipc", "uts", "cgroup")),
    Field("linux.namespaces[network]", APPLIED, "the zone's own network stack: its NIC mirrors "
          "the engine's namespace (address, routes, MTU, MAC)", "zone/network.py, init/net.c"),
    Field("linux.namespaces[user]", REFUSED, "'user' namespaces are not supported in a zone"),
    Field("linux.namespaces[time]", REFUSED, "'time' namespaces are not supported in a zone"),
    Field("linux.namespaces[network].path", APPLIED, "the namespace whose interfaces the "
          "zone's NIC mirrors (a pod container's is its pod's, whose NIC the pod's zone has)",
          "zone/backend.py, zone/network.py"),
    Field("linux.namespaces[].path", IGNORED, "a zone has its own kernel and cannot join a "
          "host namespace: the workload gets a new one of that type (an IPC, UTS or PID "
          "namespace of another container of this --root, whose network it shares too, is "
          "shared: the container joins that container's zone, README \"Pods\"); a path that "
          "is not a namespace of its type is refused, as runc refuses it"),
    Field("linux.uidMappings", REFUSED, NO_USERNS, subtree=True),
    Field("linux.gidMappings", REFUSED, NO_USERNS, subtree=True),
    Field("linux.timeOffsets", REFUSED, "time namespaces are not supported in a zone",
          subtree=True),
    Field("linux.devices", APPLIED, "device nodes made in the container's /dev (never the "
          "zone's own disks, console or Xen devices)", f"{INIT}/setup.c", subtree=True),
    Field("linux.cgroupsPath", IGNORED, "the workload's cgroup is made inside its zone, whose "
          "kernel is its own: no host cgroup is made"),
    Field("linux.sysctl", APPLIED, "written in the zone's kernel before the workload starts",
          f"{INIT}/setup.c", subtree=True),
    Field("linux.seccomp", APPLIED, "loaded by the zone init (static libseccomp) where runc "
          "loads it, for the workload and every exec; SCMP_ACT_NOTIFY is refused",
          f"{INIT}/syscall_filter.c", subtree=True),
    Field("linux.rootfsPropagation", IGNORED, "no mount event crosses between dom0's kernel "
          "and the zone's, whose root is a 9p mount of the rootfs (or its own disk)"),
    Field("linux.maskedPaths", APPLIED, "masked (/dev/null over files, a read-only tmpfs over "
          "directories)", f"{INIT}/setup.c"),
    Field("linux.readonlyPaths", APPLIED, "bind-remounted read-only", f"{INIT}/setup.c"),
    Field("linux.mountLabel", IGNORED, NO_SELINUX),
    Field("linux.intelRdt", REFUSED, "Intel RDT is not available in a zone (runc refuses it "
          "on a host without RDT)", subtree=True),
    Field("linux.personality", REFUSED, "execution domains (personality) are not supported "
          "in a zone", subtree=True),
    # -- linux.resources ----------------------------------------------------------------------
    _g("linux.resources"),
    _g("linux.resources.memory"),
    Field("linux.resources.memory.limit", APPLIED, "memory.max of the workload's cgroup; the "
          "zone gets the limit plus 64 MiB for its kernel and init (a pod container's grows "
          "its pod's zone by the limit, up to the zone's maximum: README \"Pods\")",
          "zone/backend.py (zone_size), zone/pod.py (container_demand), init/cgroup.c"),
    Field("linux.resources.memory.reservation", APPLIED, "memory.low of the workload's cgroup",
          "zone/records.py, init/cgroup.c"),
    Field("linux.resources.memory.swap", APPLIED, "memory.swap.max (runc's conversion: swap "
          "minus limit); a zone has no swap device, so it only ever limits",
          "zone/records.py, init/cgroup.c"),
    Field("linux.resources.memory.kernel", IGNORED, "kernel memory limits are deprecated "
          "(runc ignores them too)"),
    Field("linux.resources.memory.kernelTCP", IGNORED, NOT_ZONE_CG),
    Field("linux.resources.memory.swappiness", IGNORED, NOT_ZONE_CG),
    Field("linux.resources.memory.disableOOMKiller", IGNORED, NOT_ZONE_CG),
    Field("linux.resources.memory.useHierarchy", IGNORED, NOT_ZONE_CG),
    Field("linux.resources.memory.checkBeforeUpdate", IGNORED, "only meaningful to update"),
    _g("linux.resources.cpu"),
    Field("linux.resources.cpu.shares", APPLIED, "cpu.weight (runc's conversion)",
          "zone/records.py, init/cgroup.c"),
    Field("linux.resources.cpu.quota", APPLIED, "cpu.max, and the zone's vCPUs: "
          "ceil(quota/period), at most the host's CPUs (a pod container's brings that many "
          "of its pod's zone online, up to the zone's maximum)",
          "zone/backend.py (zone_size), zone/pod.py (container_demand), init/cgroup.c"),
    Field("linux.resources.cpu.period", APPLIED, "cpu.max, with the quota",
          "zone/records.py, init/cgroup.c"),
    Field("linux.resources.cpu.cpus", APPLIED, "cpuset.cpus of the workload's cgroup (a CPU "
          "the zone lacks is refused)", "zone/records.py, init/cgroup.c"),
    Field("linux.resources.cpu.mems", APPLIED, "cpuset.mems of the workload's cgroup",
          "zone/records.py, init/cgroup.c"),
    Field("linux.resources.cpu.realtimePeriod", IGNORED, "no real-time group scheduling in a "
          "zone"),
    Field("linux.resources.cpu.realtimeRuntime", IGNORED, "no real-time group scheduling in a "
          "zone"),
    Field("linux.resources.cpu.burst", IGNORED, "not applied yet (cpu.max.burst)"),
    Field("linux.resources.cpu.idle", IGNORED, "not applied yet (cpu.idle)"),
    _g("linux.resources.pids"),
    Field("linux.resources.pids.limit", APPLIED, "pids.max of the workload's cgroup",
          "zone/records.py, init/cgroup.c"),
    _g("linux.resources.blockIO"),
    Field("linux.resources.blockIO.weight", APPLIED, "io.weight of the workload's cgroup "
          "(runc's conversion) where the zone's kernel has the io controller",
          "zone/records.py, init/cgroup.c", unset=(0,)),
    Field("linux.resources.blockIO.leafWeight", IGNORED, NOT_ZONE_CG, unset=(0,)),
    Field("linux.resources.blockIO.weightDevice", IGNORED, "host device numbers mean nothing "
          "in a zone, whose disks are its own", subtree=True),
    *(Field(f"linux.resources.blockIO.{name}", IGNORED, "host device numbers mean nothing in "
            "a zone, whose disks are its own", subtree=True)
      for name in ("throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice",
                   "throttleWriteIOPSDevice")),
    Field("linux.resources.devices", APPLIED, "an eBPF device program on the workload's cgroup "
          "in its zone, as runc builds it on cgroup v2: the rules in order (the last match "
          "decides, else deny), then runc's always-allowed devices (mknod, /dev/null, zero, "
          "full, random, urandom, tty, ptmx, pts, net/tun); the zone's own disks, console and "
          "Xen devices stay denied whatever the rules; update replaces the rules",
          "zone/records.py, init/cgroup.c", subtree=True),
    Field("linux.resources.hugepageLimits", IGNORED, "a zone reserves no huge pages, and its "
          "cgroup has no hugetlb controller", subtree=True),
    Field("linux.resources.network", IGNORED, NOT_ZONE_CG + " (net_cls, net_prio)",
          subtree=True),
    Field("linux.resources.rdma", IGNORED, "a zone has no RDMA devices", subtree=True),
    Field("linux.resources.unified", IGNORED, "not applied yet (cgroup v2 files by name)",
          subtree=True),
    # -- other platforms ----------------------------------------------------------------------
    *(Field(name, IGNORED, "another platform's section (this runtime runs Linux zones)",
            subtree=True) for name in ("solaris", "windows", "vm", "zos")),
)

BY_PATH: dict[str, Field] = {f.path: f for f in FIELDS}
# Arrays whose items are told apart by a member: linux.namespaces[user].
KEYED_ARRAYS = {"linux.namespaces": "type"}
# Arrays of strings whose values have rows of their own: mounts[].options[tmpcopyup].
VALUE_ARRAYS = {"mounts[].options"}
UNKNOWN_REASON = (f"not a field of the runtime-spec this runtime implements ({OCI_VERSION}) "
                  "for Linux")


def field(path: str) -> Field:
    """The row for a table path (KeyError if the table has none)."""
    return BY_PATH[path]


@dataclass(frozen=True)
class Found:
    """One field of a config: where it is (``mounts[2].options[0]``), its table path and row
    (``None`` for a field the table does not know), and its value."""

    location: str
    path: str
    row: Field | None
    value: Any

    @property
    def status(self) -> Status:
        return self.row.status if self.row is not None else IGNORED

    @property
    def reason(self) -> str:
        return self.row.reason if self.row is not None else UNKNOWN_REASON


def generic(path: str) -> str:
    """linux.namespaces[ipc].path -> linux.namespaces[].path."""
    out, depth = [], 0
    for ch in path:
        if ch == "[":
            depth += 1
            out.append("[]")
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def row_for(path: str) -> Field | None:
    """The row for a path (``None`` if none): its own, the generic one, or a subtree row
    above it."""
    for candidate in dict.fromkeys((path, generic(path))):
        if candidate in BY_PATH:
            return BY_PATH[candidate]
    parts = path
    while True:
        cut = max(parts.rfind("."), parts.rfind("["))
        if cut <= 0:
            return None
        parts = parts[:cut]
        for candidate in dict.fromkeys((parts, generic(parts))):
            row = BY_PATH.get(candidate)
            if row is not None:
                return row if row.subtree else None


def walk(config: dict[str, Any], root: str = "") -> Iterator[Found]:
    """Every field of ``config`` (a validated config, or ``process`` with ``root``), in order,
    down to the rows that decide it."""

    def visit(node: Any, location: str, path: str) -> Iterator[Found]:
        if isinstance(node, dict):
            for key, value in node.items():
                sub_loc = f"{location}.{key}" if location else key
                sub_path = f"{path}.{key}" if path else key
                yield from member(value, sub_loc, sub_path)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if path in KEYED_ARRAYS and isinstance(item, dict) and \
                        isinstance(item.get(KEYED_ARRAYS[path]), str):
                    yield from member(item, f"{location}[{i}]",
                                      f"{path}[{item[KEYED_ARRAYS[path]]}]")
                elif path in VALUE_ARRAYS and isinstance(item, str):
                    if f"{path}[{item}]" in BY_PATH:
                        yield Found(f"{location}[{i}] ({item})", f"{path}[{item}]",
                                    BY_PATH[f"{path}[{item}]"], item)
                else:
                    yield from visit(item, f"{location}[{i}]", f"{path}[]")

    def member(value: Any, location: str, path: str) -> Iterator[Found]:
        row = row_for(path)
        yield Found(location, path, row, value)
        if row is not None and not row.subtree:
            yield from visit(value, location, path)

    yield from visit(config, root, root)


def asks_for_something(found: Found) -> bool:
    """An absent, empty or false field, or one at its row's unset value, asks for nothing: it
    is never refused or warned about."""
    value = found.value
    if value is None or value is False or (isinstance(value, (str, list, dict)) and not value):
        return False
    unset = found.row.unset if found.row is not None else ()
    return not any(type(value) is type(u) and value == u for u in unset)


def refusals(config: dict[str, Any], root: str = "") -> list[str]:
    """``location: reason`` for each refused field that asks for something."""
    return [f"{f.location}: {f.reason}" for f in walk(config, root)
            if f.status is REFUSED and asks_for_something(f)]


def warnings(config: dict[str, Any], root: str = "") -> list[str]:
    """One line per ignored row (or unknown field) that the config uses: the fields, the
    reason. ``create`` logs each as a warning."""
    seen: dict[str, list[str]] = {}
    reasons: dict[str, str] = {}
    for f in walk(config, root):
        if f.status is IGNORED and asks_for_something(f):
            key = f.path if f.row is not None else f.location
            seen.setdefault(key, []).append(f.location)
            reasons[key] = f.reason
    out = []
    for key, where in seen.items():
        shown = ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
        out.append(f"{shown}: ignored: {reasons[key]}")
    return out


# -- what features, the README and the man page derive from the table ------------------------


def _values(prefix: str, status: Status = APPLIED) -> list[str]:
    return [f.path[len(prefix):-1] for f in FIELDS
            if f.path.startswith(prefix) and f.path.endswith("]") and "." not in
            f.path[len(prefix):] and f.status is status]


def namespaces() -> list[str]:
    """The namespace types a workload gets (features' ``linux.namespaces``)."""
    return sorted(_values("linux.namespaces["))


def mount_options() -> list[str]:
    """The mount options applied (features' ``mountOptions``)."""
    return sorted(_values("mounts[].options["))


def enabled(path: str) -> bool:
    return field(path).status is APPLIED


def documented() -> list[Field]:
    """The rows the README and man page list: not the groups, and the applied mount flags
    as one line."""
    return [f for f in FIELDS if not f.group and not (
        f.path.startswith("mounts[].options[") and f.status is APPLIED)]


def _reason(f: Field) -> str:
    if f.path == "mounts[].options":
        return f.reason.replace("the flags below", "the flags " + ", ".join(mount_options()))
    return f.reason


def markdown() -> str:
    """The README's support section (between its BEGIN/END markers)."""
    lines = ["| field | in a zone | what happens |", "|---|---|---|"]
    for f in documented():
        lines.append(f"| `{f.path}` | {f.status.value} | {_reason(f)} |")
    return "\n".join(lines) + "\n"


def _roff(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("-", "\\-")
    return ("\\&" + text) if text.startswith((".", "'")) else text


def man() -> str:
    """The CONFIG.JSON section of man/edera-oci-create.8 (between its BEGIN/END markers)."""
    out = [".SH CONFIG.JSON",
           "What a zone does with each field: \\fBapplied\\fR; \\fBrefused\\fR (\\fBcreate\\fR",
           "fails naming the field); \\fBignored\\fR (\\fBcreate\\fR logs a warning naming the",
           "field and the reason). A field not listed is ignored with a warning.",
           "Generated by \\fBpython3 \\-m edera_oci.support \\-\\-man\\fR."]
    for f in documented():
        out += [".TP", f"\\fB{_roff(f.path)}\\fR {f.status.value}", _roff(_reason(f))]
    return "\n".join(out) + "\n"


CHECKOUT = Path(__file__).resolve().parents[1]
README_MARKERS = ("<!-- BEGIN config.json support: python3 -m edera_oci.support --update -->\n",
                  "<!-- END config.json support -->\n")
MAN_MARKERS = ('.\\" BEGIN config.json support: python3 -m edera_oci.support --update\n',
               '.\\" END config.json support\n')
README = CHECKOUT / "README.md"
CREATE_MAN = CHECKOUT / "man" / "edera-oci-create.8"


def between(text: str, markers: tuple[str, str]) -> str:
    """What a document holds between its markers (ValueError without them)."""
    begin, end = markers
    return text.split(begin, 1)[1].split(end, 1)[0]


def replaced(text: str, markers: tuple[str, str], body: str) -> str:
    begin, end = markers
    head, rest = text.split(begin, 1)
    return head + begin + body + end + rest.split(end, 1)[1]


def update() -> list[Path]:
    """Regenerate the README's section and the create man page's, in this checkout."""
    changed = []
    for path, markers, body in ((README, README_MARKERS, markdown()),
                                (CREATE_MAN, MAN_MARKERS, man())):
        text = path.read_text(encoding="utf-8")
        new = replaced(text, markers, body)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str]) -> int:
    if argv == ["--markdown"]:
        sys.stdout.write(markdown())
    elif argv == ["--man"]:
        sys.stdout.write(man())
    elif argv == ["--update"]:
        for path in update():
            print(f"updated {path}")
    else:
        sys.stderr.write("usage: python3 -m edera_oci.support --markdown | --man | --update\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
