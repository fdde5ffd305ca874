"""Map an OCI config (runtime-spec config.json) to the record lists the zone init applies.

The zone init is small C: all OCI interpretation (option names, capability names, rlimit names,
mount flags) happens here, and the zone gets numbers and paths (PROTOCOL.md, "Record lists").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .protocol import Tag, encode_records
from .seccomp import seccomp_records

CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON",
    "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
CAP_NUMBER = {name: i for i, name in enumerate(CAPABILITIES)}

RLIMITS = [
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
    "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
]
RLIMIT_NUMBER = {name: i for i, name in enumerate(RLIMITS)}

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_SYNCHRONOUS, MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC, MS_NOSYMFOLLOW = 16, 32, 64, 128, 256
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 1024, 2048, 4096, 16384
MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED = 1 << 17, 1 << 18, 1 << 19, 1 << 20
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24

# option -> (flags to set, flags to clear), as mount(8) and runc read them.
MOUNT_OPTIONS: dict[str, tuple[int, int]] = {
    "ro": (MS_RDONLY, 0), "rw": (0, MS_RDONLY),
    "nosuid": (MS_NOSUID, 0), "suid": (0, MS_NOSUID),
    "nodev": (MS_NODEV, 0), "dev": (0, MS_NODEV),
    "noexec": (MS_NOEXEC, 0), "exec": (0, MS_NOEXEC),
    "sync": (MS_SYNCHRONOUS, 0), "async": (0, MS_SYNCHRONOUS),
    "remount": (MS_REMOUNT, 0), "mand": (MS_MANDLOCK, 0), "nomand": (0, MS_MANDLOCK),
    "dirsync": (MS_DIRSYNC, 0), "nosymfollow": (MS_NOSYMFOLLOW, 0),
    "noatime": (MS_NOATIME, 0), "atime": (0, MS_NOATIME),
    "nodiratime": (MS_NODIRATIME, 0), "diratime": (0, MS_NODIRATIME),
    "relatime": (MS_RELATIME, 0), "norelatime": (0, MS_RELATIME),
    "strictatime": (MS_STRICTATIME, 0), "nostrictatime": (0, MS_STRICTATIME),
    "bind": (MS_BIND, 0), "rbind": (MS_BIND | MS_REC, 0),
    "private": (MS_PRIVATE, 0), "rprivate": (MS_PRIVATE | MS_REC, 0),
    "shared": (MS_SHARED, 0), "rshared": (MS_SHARED | MS_REC, 0),
    "slave": (MS_SLAVE, 0), "rslave": (MS_SLAVE | MS_REC, 0),
    "unbindable": (MS_UNBINDABLE, 0), "runbindable": (MS_UNBINDABLE | MS_REC, 0),
}
# Options that only mean something to runc's host-side mount logic.
IGNORED_OPTIONS = {"defaults", "tmpcopyup", "idmap", "ridmap"}

ZONE_FS_TYPES = {"proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup2", "bind", "ext4",
                 "overlay", "ramfs"}
BINDS_MOUNTPOINT = "/run/edera/binds"
# The namespaces the zone init creates for the workload inside the zone (a NAMESPACE record
# each). A ``path`` (a pod's shared namespace on the host) cannot be joined from a zone, which
# has its own kernel: the workload gets a new one. ``network`` is not among them: the zone's
# own network stack, which no other container shares, is the container's.
ZONE_NAMESPACES = ("cgroup", "ipc", "mount", "pid", "uts")
DEVICE_TYPES = {"c": "c", "u": "c", "b": "b", "p": "p"}
RLIM_INFINITY = (1 << 64) - 1
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class MappingError(ValueError):
    """The config asks for something a zone cannot do; the message names the field."""


def mount_flags(options: Iterable[str]) -> tuple[int, str]:
    """OCI mount options -> (MS_* flags, remaining fs data string)."""
    flags = 0
    data = []
    for opt in options:
        if opt in MOUNT_OPTIONS:
            setting, clearing = MOUNT_OPTIONS[opt]
            flags = (flags | setting) & ~clearing
        elif opt not in IGNORED_OPTIONS:
            data.append(opt)
    return flags, ",".join(data)


def cap_mask(names: Iterable[str], field: str) -> int:
    mask = 0
    for name in names:
        key = name.upper() if name.upper().startswith("CAP_") else "CAP_" + name.upper()
        if key not in CAP_NUMBER:
            raise MappingError(f"{field}: unknown capability {name!r}")
        mask |= 1 << CAP_NUMBER[key]
    return mask


def process_records(process: dict[str, Any], field: str = "process") -> list[tuple[int, Any]]:
    """Records for one process: the container's init, or an exec'd one."""
    args = process.get("args") or []
    if not args:
        raise MappingError(f"{field}.args: must be a non-empty array")
    recs: list[tuple[int, Any]] = [(Tag.ARG, a) for a in args]
    recs += [(Tag.ENV, e) for e in process.get("env") or []]
    recs.append((Tag.CWD, process.get("cwd") or "/"))
    user = process.get("user") or {}
    recs.append((Tag.UID, int(user.get("uid", 0))))
    recs.append((Tag.GID, int(user.get("gid", 0))))
    recs += [(Tag.ADDITIONAL_GID, int(g)) for g in user.get("additionalGids") or []]
    if user.get("umask") is not None:
        recs.append((Tag.UMASK, int(user["umask"])))
    for i, rl in enumerate(process.get("rlimits") or []):
        name = rl.get("type", "")
        if name not in RLIMIT_NUMBER:
            raise MappingError(f"{field}.rlimits[{i}].type: unknown rlimit {name!r}")
        recs.append((Tag.RLIMIT, [RLIMIT_NUMBER[name], int(rl["soft"]), int(rl["hard"])]))
    caps = process.get("capabilities")
    if caps is not None:
        masks = [
            cap_mask(caps.get(kind) or [], f"{field}.capabilities.{kind}")
            for kind in ("bounding", "effective", "permitted", "inheritable", "ambient")
        ]
        recs.append((Tag.CAPS, [f"{m:x}" for m in masks]))
    if process.get("noNewPrivileges"):
        recs.append((Tag.NO_NEW_PRIVS, b""))
    if process.get("oomScoreAdj") is not None:
        recs.append((Tag.OOM_SCORE_ADJ, int(process["oomScoreAdj"])))
    if process.get("terminal"):
        recs.append((Tag.TERMINAL, b""))
        size = process.get("consoleSize")
        if size:
            recs.append((Tag.TERM_SIZE, [int(size["height"]), int(size["width"])]))
    return recs


def mount_records(mounts: list[dict[str, Any]], bind_sources: dict[int, str]) -> list:
    """MOUNT records; bind_sources maps a mount's index to where its source sits in the zone."""
    recs = []
    for i, m in enumerate(mounts):
        dest = m.get("destination", "")
        if not dest.startswith("/"):
            raise MappingError(f"mounts[{i}].destination: must be an absolute path, got {dest!r}")
        options = m.get("options") or []
        flags, data = mount_flags(options)
        mtype = m.get("type") or ("bind" if flags & MS_BIND else "")
        if flags & MS_BIND or mtype == "bind":
            mtype = "bind"
            flags |= MS_BIND
            if i not in bind_sources:
                raise MappingError(f"mounts[{i}]: bind source {m.get('source')!r} is not "
                                   "available in the zone")
            source = bind_sources[i]
        else:
            if mtype == "cgroup":
                mtype = "cgroup2"
            if mtype not in ZONE_FS_TYPES:
                raise MappingError(f"mounts[{i}].type: {mtype!r} cannot be mounted in a zone")
            source = m.get("source") or mtype
        recs.append((Tag.MOUNT, [dest, mtype, source, flags, data]))
    return recs


def device_records(devices: list[dict[str, Any]]) -> list[tuple[int, Any]]:
    """DEVICE records for linux.devices (the zone init skips its own disks, console and Xen
    channel devices; see PROTOCOL.md)."""
    recs: list[tuple[int, Any]] = []
    for i, d in enumerate(devices):
        path = d.get("path", "")
        if not path.startswith("/"):
            raise MappingError(f"linux.devices[{i}].path: must be an absolute path, got {path!r}")
        kind = DEVICE_TYPES.get(d.get("type", ""))
        if kind is None:
            raise MappingError(f"linux.devices[{i}].type: {d.get('type')!r} is not c, b, u or p")
        mode = d.get("fileMode")
        recs.append((Tag.DEVICE, [path, kind, int(d.get("major", 0)), int(d.get("minor", 0)),
                                  0o666 if mode is None else int(mode) & 0o7777,
                                  int(d.get("uid", 0)), int(d.get("gid", 0))]))
    return recs


# linux.resources.devices: runc's types (its specconv refuses any other) and access letters.
DEVICE_RULE_TYPES = ("a", "b", "c")
DEVICE_ACCESS = "rwm"
DEVICE_NUMBER_MAX = (1 << 32) - 1  # runc refuses larger; -1 is its "any"
# What runc allows after config.json's rules, always (its specconv's AllowedDevices): mknod
# of any char or block device, the nodes it makes in /dev, pseudo-terminals and /dev/net/tun.
# (path, type, major, minor, access); runc leaves a rule with a path out when linux.devices
# makes a node at that path.
RUNC_ALLOWED_DEVICES: tuple[tuple[str, str, int, int, str], ...] = (
    ("", "c", -1, -1, "m"),
    ("", "b", -1, -1, "m"),
    ("/dev/null", "c", 1, 3, "rwm"),
    ("/dev/random", "c", 1, 8, "rwm"),
    ("/dev/full", "c", 1, 7, "rwm"),
    ("/dev/tty", "c", 5, 0, "rwm"),
    ("/dev/zero", "c", 1, 5, "rwm"),
    ("/dev/urandom", "c", 1, 9, "rwm"),
    ("", "c", 136, -1, "rwm"),  # /dev/pts/*
    ("", "c", 5, 2, "rwm"),  # /dev/ptmx
    ("", "c", 10, 200, "rwm"),  # /dev/net/tun
)
# The zone init takes this many DEVICE_RULE records (MAX_DEVICE_RULES in its config.h).
MAX_DEVICE_RULES = 1024
MAX_CONFIG_DEVICE_RULES = MAX_DEVICE_RULES - len(RUNC_ALLOWED_DEVICES)


def device_rule_errors(rules: Any, field: str = "linux.resources.devices") -> list[str]:
    """What runc would refuse in a device rule list (a type other than a, b or c, an access
    that is empty or has other letters than r, w and m, a device number outside -1 (any) to
    2^32-1), and a list longer than a zone takes; each names the field."""
    if not isinstance(rules, list):
        return []  # the schema says so
    errors = []
    if len(rules) > MAX_CONFIG_DEVICE_RULES:
        errors.append(f"{field}: {len(rules)} rules; a zone takes at most "
                      f"{MAX_CONFIG_DEVICE_RULES}")
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        kind = rule.get("type") or "a"  # runc reads "" as absent too
        if kind not in DEVICE_RULE_TYPES:
            errors.append(f"{field}[{i}].type: {kind!r} is not a, b or c")
        access = rule.get("access")
        if not isinstance(access, str) or not access:
            errors.append(f"{field}[{i}].access: must be given, a combination of r, w and m "
                          "(runc refuses a rule without one)")
        elif set(access) - set(DEVICE_ACCESS):
            errors.append(f"{field}[{i}].access: {access!r} is not a combination of r, w "
                          "and m")
        for key in ("major", "minor"):
            number = rule.get(key)
            if number is None:
                continue
            if isinstance(number, bool) or not isinstance(number, int):
                errors.append(f"{field}[{i}].{key}: {number!r} is not an integer")
            elif not -1 <= number <= DEVICE_NUMBER_MAX:
                errors.append(f"{field}[{i}].{key}: {number} is not a device number (0 to "
                              f"{DEVICE_NUMBER_MAX}, or -1 for any)")
    return errors


def device_rule_records(rules: list[dict[str, Any]],
                        linux_devices: Iterable[dict[str, Any]] = (),
                        field: str = "linux.resources.devices") -> list[tuple[int, Any]]:
    """DEVICE_RULE records for linux.resources.devices, as runc builds its cgroup v2 device
    program: config.json's rules in order (type a when absent, major and minor -1 when absent),
    then runc's always-allowed devices (RUNC_ALLOWED_DEVICES, less those linux.devices makes a
    node for). No rules, no records: the zone then allows every device but its own plumbing."""
    if not rules:
        return []
    errors = device_rule_errors(rules, field)
    if errors:
        raise MappingError(errors[0])
    recs: list[tuple[int, Any]] = []
    for rule in rules:
        major, minor = rule.get("major"), rule.get("minor")
        recs.append((Tag.DEVICE_RULE, ["1" if rule.get("allow") else "0", rule.get("type") or "a",
                                       -1 if major is None else major,
                                       -1 if minor is None else minor, rule["access"]]))
    made = {d.get("path") for d in linux_devices if isinstance(d, dict)}
    recs += [(Tag.DEVICE_RULE, ["1", kind, major, minor, access])
             for path, kind, major, minor, access in RUNC_ALLOWED_DEVICES
             if not path or path not in made]
    return recs


def cpu_weight(shares: int) -> int:
    """cgroup v1 cpu shares as a cgroup v2 cpu.weight, runc's conversion."""
    return min(10000, max(1, 1 + ((shares - 2) * 9999) // 262142))


def io_weight(weight: int) -> int:
    """cgroup v1 blkio weight (10..1000) as a cgroup v2 io.weight (1..10000), runc's conversion."""
    return 1 + ((weight - 10) * 9999) // 990


def _limit_text(value: int) -> str:
    """A byte or count limit as cgroup v2 writes it: negative (runc's -1) is unlimited."""
    return "max" if value < 0 else str(int(value))


def swap_max(swap: int, limit: int | None, field: str) -> str | None:
    """OCI's memory.swap (memory + swap, cgroup v1's meaning) as cgroup v2's memory.swap.max
    (swap alone), runc's conversion; None when nothing is to be written."""
    if swap == 0:
        return "max" if limit is not None and limit < 0 else None
    if swap < 0:
        return "max"
    if limit is None or limit <= 0:
        raise MappingError(f"{field}.memory.swap: a swap limit needs a memory limit "
                           f"({field}.memory.limit) in the same request")
    if swap < limit:
        raise MappingError(f"{field}.memory.swap: {swap} is less than memory.limit {limit} "
                           "(swap is memory + swap, as with runc)")
    return str(swap - limit)


def cgroup_settings(resources: dict[str, Any],
                    field: str = "linux.resources") -> list[tuple[str, str]]:
    """The (file, value) pairs the zone init writes into the container's cgroup in the zone,
    with runc's cgroup v2 conversions. memory.max is the limit itself: the zone's extra memory
    is its own headroom. cpu.max comes from quota/period, so ``--cpus 0.5`` is enforced inside
    the zone rather than rounded up to a vCPU. Values that mean "not set" (0, "", null, as
    docker sends them) write nothing."""
    out: list[tuple[str, str]] = []
    memory = resources.get("memory") or {}
    limit = memory.get("limit")
    if limit:
        out.append(("memory.max", _limit_text(limit)))
    if memory.get("reservation"):
        out.append(("memory.low", _limit_text(memory["reservation"])))
    if memory.get("swap") is not None:
        swap = swap_max(memory["swap"], limit, field)
        if swap is not None:
            out.append(("memory.swap.max", swap))
    pids = resources.get("pids") or {}
    if pids.get("limit") is not None:
        out.append(("pids.max", str(int(pids["limit"])) if pids["limit"] > 0 else "max"))
    cpu = resources.get("cpu") or {}
    quota, period = cpu.get("quota") or 0, cpu.get("period") or 0
    if quota or period:
        value = str(int(quota)) if quota > 0 else "max"
        out.append(("cpu.max", f"{value} {int(period)}" if period else value))
    if cpu.get("shares"):
        out.append(("cpu.weight", str(cpu_weight(int(cpu["shares"])))))
    if cpu.get("cpus"):
        out.append(("cpuset.cpus", cpu["cpus"]))
    if cpu.get("mems"):
        out.append(("cpuset.mems", cpu["mems"]))
    weight = (resources.get("blockIO") or {}).get("weight")
    if weight:
        out.append(("io.weight", f"default {io_weight(int(weight))}"))
    return out


def _cpu_numbers(text: str, field: str) -> list[int]:
    numbers: list[int] = []
    for part in text.strip().split(","):
        first, sep, last = part.strip().partition("-")
        if not first.isdigit() or (sep and not last.isdigit()):
            raise MappingError(f"{field}: {text!r} is not a CPU list like 0-2,4")
        a, b = int(first), int(last) if sep else int(first)
        if a > b:
            raise MappingError(f"{field}: {text!r}: range {part} runs backwards")
        numbers += range(a, min(b, a + 4096) + 1)
    return numbers


def check_cpuset(resources: dict[str, Any], vcpus: int, field: str = "linux.resources") -> None:
    """A cpuset names CPUs of the zone (0 .. vcpus-1), not of the host: one the zone lacks is
    an error naming the field (before anything is built)."""
    cpus = (resources.get("cpu") or {}).get("cpus")
    if not cpus:
        return
    for n in _cpu_numbers(cpus, f"{field}.cpu.cpus"):
        if n >= vcpus:
            raise MappingError(
                f"{field}.cpu.cpus: CPU {n} is not in the zone, which has {vcpus} vCPU"
                f"{'s' if vcpus != 1 else ''} (0-{vcpus - 1}); cpus are numbered inside the zone")


def cgroup_records(resources: dict[str, Any]) -> list[tuple[int, Any]]:
    """CGROUP records of a SPEC (see cgroup_settings)."""
    return [(Tag.CGROUP, [name, value]) for name, value in cgroup_settings(resources)]


# update: what the zone cannot change in place. Refused, naming the field (nothing is dropped
# silently), except what runc itself ignores on cgroup v2, which is logged (UPDATE_IGNORED).
UPDATE_REFUSED = {
    "memory": ("swappiness", "disableOOMKiller", "checkBeforeUpdate"),
    "cpu": ("realtimePeriod", "realtimeRuntime", "burst", "idle"),
    "blockIO": ("leafWeight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                "throttleReadIOPSDevice", "throttleWriteIOPSDevice"),
}
UPDATE_REFUSED_TOP = ("hugepageLimits", "network", "rdma", "unified")
UPDATE_IGNORED = {
    "memory.kernel": "kernel memory limits do not exist in cgroup v2 (runc ignores them too)",
    "memory.kernelTCP": "kernel memory limits do not exist in cgroup v2 (runc ignores them too)",
    "memory.useHierarchy": "cgroup v2 is always hierarchical",
}


def update_settings(resources: dict[str, Any],
                    field: str = "linux.resources") -> tuple[list[tuple[str, str]], list[str]]:
    """(cgroup settings, notes on what is accepted and ignored) for ``update``; MappingError
    naming the field for what the zone cannot change."""
    for key in UPDATE_REFUSED_TOP:
        if resources.get(key):
            raise MappingError(f"{field}.{key}: update cannot change it in a zone")
    for section, keys in UPDATE_REFUSED.items():
        part = resources.get(section) or {}
        for key in keys:
            if part.get(key):
                raise MappingError(f"{field}.{section}.{key}: update cannot change it in a zone")
    cpu = resources.get("cpu") or {}
    if cpu.get("period") and not cpu.get("quota"):
        # cpu.max holds both: a period alone would have to drop the quota to "max"
        raise MappingError(f"{field}.cpu.period: give cpu.quota with it (cgroup v2's cpu.max "
                           "sets both together)")
    notes = []
    for path, why in UPDATE_IGNORED.items():
        section, _, key = path.partition(".")
        value = (resources.get(section) or {}).get(key) if key else resources.get(section)
        if value:
            notes.append(f"{field}.{path} accepted and ignored: {why}")
    return cgroup_settings(resources, field), notes


def container_records(config: dict[str, Any], bind_sources: dict[int, str],
                      binds_share: tuple[str, str] | None) -> list[tuple[int, Any]]:
    """Records for the SPEC frame: the container, then its init process. binds_share is the
    (9p tag, mount options) the bind sources come over, None without binds."""
    linux = config.get("linux") or {}
    recs: list[tuple[int, Any]] = [(Tag.ROOT_DISK, ["xvda", "ext4"])]
    if binds_share is not None:
        recs.append((Tag.BINDS_SHARE, list(binds_share)))
    if config.get("hostname"):
        recs.append((Tag.HOSTNAME, config["hostname"]))
    if config.get("domainname"):
        recs.append((Tag.DOMAINNAME, config["domainname"]))
    recs += [(Tag.NAMESPACE, ns["type"]) for ns in linux.get("namespaces") or []
             if ns.get("type") in ZONE_NAMESPACES]
    for key, value in sorted((linux.get("sysctl") or {}).items()):
        recs.append((Tag.SYSCTL, [key, value]))
    recs += mount_records(config.get("mounts") or [], bind_sources)
    recs += device_records(linux.get("devices") or [])
    recs += cgroup_records(linux.get("resources") or {})
    recs += device_rule_records((linux.get("resources") or {}).get("devices") or [],
                                linux.get("devices") or [])
    recs += [(Tag.MASKED_PATH, p) for p in linux.get("maskedPaths") or []]
    recs += [(Tag.READONLY_PATH, p) for p in linux.get("readonlyPaths") or []]
    if (config.get("root") or {}).get("readonly"):
        recs.append((Tag.ROOT_READONLY, b""))
    recs += process_records(config.get("process") or {})
    # The container's filter: the zone applies it to the workload and to every exec.
    try:
        recs += seccomp_records(linux.get("seccomp"))
    except ValueError as e:
        raise MappingError(str(e)) from None
    return recs


def encode_spec(config: dict[str, Any], bind_sources: dict[int, str],
                binds_share: tuple[str, str] | None,
                extra: list[tuple[int, Any]] = ()) -> bytes:
    return encode_records(container_records(config, bind_sources, binds_share) + list(extra))


def net_records(interfaces) -> list[tuple[int, Any]]:
    """NET_* records: the zone's NICs mirror the container namespace's interfaces."""
    recs: list[tuple[int, Any]] = []
    for iface in interfaces:
        recs.append((Tag.NET_IF, [iface.name, iface.mac, iface.mtu]))
        recs += [(Tag.NET_ADDR, [iface.name, a]) for a in iface.addresses]
        recs += [(Tag.NET_ROUTE, [iface.name, dst, gw]) for dst, gw in iface.routes]
    return recs
