"""Pods: one zone per pod, its containers inside it (README "Pods").

containerd's CRI plugin and CRI-O say in annotations which bundle is a pod's sandbox (pause)
container and which sandbox a container belongs to. The sandbox's create builds the pod's zone
(sized for the pod) and runs the pause process in it as the zone's first container; each
further container of the pod is created inside that zone on a channel of its own (PROTOCOL.md,
"Pods"), with its root (and binds) on disks hot-plugged into the running zone. Everything here
is host-side bookkeeping: which role a bundle has, the sandbox it needs, the zone's size and
what it grows to as containers join, the records of a pod container and its disks.

podman's pods (``podman pod create``, ``run --pod``) take the same path, with one difference:
nothing marks podman's infra container. podman 4.3 sends its pod members CRI-O's annotations
(``ContainerType: container``, ``SandboxID: <the infra's id>``, as Kata expects) and the
infra's namespaces as paths (``/proc/<the infra's pid>/ns/ipc``, ``uts``, ``net``), but the
infra itself is an ordinary bundle (``/catatonit -P``, no annotation, no resources: the pod's
limits go to the pod's cgroup on the host). So the sandbox is not told at its create; rather,
any container's zone can be joined (Kata's rule too: a bundle without a container type is a
sandbox). This costs nothing in the zone (its init takes a ``CONTAINER`` from any zone's port 1)
and only a scan of ``--root`` at delete on the host (:func:`members`). What a plain zone lacks
is room: it is sized for its own container, and may grow by PLAIN_ZONE_GROWTH_MB only
("Growth" below).

A container that names no sandbox but whose IPC, UTS or PID namespace path is a namespace of
another container under the same ``--root`` (``/proc/<its pid>/ns/<type>``: what podman
sends for ``--pod`` and ``--ipc``/``--uts``/``--pid container:X``, docker for ``--ipc`` and
``--pid container:X``) joins that container's zone too (:func:`namespace_owner`): a zone has
its own kernel, so that container's namespaces exist only there.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edera_oci.errors import ZoneError
from edera_oci.logs import log
from edera_oci.statefile import process_alive

from ..xen import domain
from .protocol import Tag, encode_records
from .records import container_records

# containerd's CRI plugin, then CRI-O.
CONTAINER_TYPE_KEYS = ("io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType")
SANDBOX_ID_KEYS = ("io.kubernetes.cri.sandbox-id", "io.kubernetes.cri-o.SandboxID")
# The pod's resources, as containerd (1.7+) sends them on the sandbox.
SANDBOX_MEMORY = "io.kubernetes.cri.sandbox-memory"
SANDBOX_CPU_QUOTA = "io.kubernetes.cri.sandbox-cpu-quota"
SANDBOX_CPU_PERIOD = "io.kubernetes.cri.sandbox-cpu-period"

POD_MEMORY_MB = 512  # a pod's zone without resource annotations
POD_VCPUS = 2
POD_MEMORY_OVERHEAD_MB = 64  # the zone's kernel and init, on top of the pod's limits
MIN_POD_MEMORY_MB = 128

POD_DIR = "/run/edera/pod"  # in the zone: a pod container's disks are mounted here
FIRST_POD_DISK = 2  # xvda and xvdb are the sandbox's (root, binds)
MAX_DISKS = 26
PARTITION_SHIFT = 4  # a xvd disk's Linux device number: 202:(index << 4)


# The namespaces a pod container can share with its sandbox in the zone (POD_JOIN).
JOINABLE_NAMESPACES = ("ipc", "uts", "pid")
# What podman (namespacePath) and docker put in linux.namespaces[].path for another
# container's namespace: /proc/<the pid the runtime reported for it>/ns/<type>.
PROC_NS_PATH = re.compile(r"/proc/([1-9][0-9]{0,9})/ns/([a-z]+)")


@dataclass(frozen=True)
class PodRole:
    """What a bundle is in a pod: the sandbox, or a container of sandbox ``sandbox_id``."""

    kind: str  # "sandbox" | "container"
    sandbox_id: str | None = None
    # What named the sandbox (an annotation's key, a namespace's path): for error messages.
    named_by: str = field(default=SANDBOX_ID_KEYS[0], compare=False)
    # The namespace types shared with the sandbox; None: each of JOINABLE_NAMESPACES that has
    # a path (the engine that named the sandbox points them at the sandbox's).
    join: frozenset[str] | None = field(default=None, compare=False)


def pod_role(annotations: dict[str, str]) -> PodRole | None:
    """The bundle's role from the engine's annotations; None for a container outside any pod
    (docker, plain podman, ctr): it keeps a zone of its own unless :func:`namespace_owner`
    finds it shares another container's namespaces."""
    kind = next((annotations[k] for k in CONTAINER_TYPE_KEYS if k in annotations), None)
    if kind == "sandbox":
        return PodRole("sandbox")
    if kind != "container":
        return None
    key = next((k for k in SANDBOX_ID_KEYS if annotations.get(k)), None)
    # no sandbox named: nothing to join, so a zone of its own, as without the annotation
    return PodRole("container", annotations[key], named_by=key) if key is not None else None


def _state_of(root: Path, entry: str) -> dict[str, Any] | None:
    try:
        raw = json.loads((root / entry / "state.json").read_text())
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def container_of_pid(root: Path, pid: int, own_id: str) -> str | None:
    """The container under root whose reported pid (its monitor's: what ``state`` and the pid
    file say) is pid, while it is created or running and that process still is the one
    recorded; None for a pid that is no live container's of this root."""
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return None
    for entry in entries:
        if entry.startswith(".") or entry == own_id:
            continue
        raw = _state_of(root, entry)
        if raw is None or raw.get("pid") != pid or raw.get("status") not in ("created",
                                                                              "running"):
            continue
        start = raw.get("pid_start")
        if process_alive(pid, start if isinstance(start, int) else None):
            return entry
    return None


def _netns_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def shares_network_of(namespaces: list[dict[str, Any]], pid: int) -> bool:
    """The bundle's network namespace is the one process pid is in: its ``network`` path names
    that namespace, or it has no ``network`` entry (the runtime's own, as under runc) and pid
    is in that one too. A new namespace of its own (no path) is never another's."""
    net = next((ns for ns in namespaces if ns.get("type") == "network"), None)
    if net is None:
        mine = "/proc/self/ns/net"
    elif isinstance(net.get("path"), str) and net["path"]:
        mine = net["path"]
    else:
        return False
    ours = _netns_id(mine)
    return ours is not None and ours == _netns_id(f"/proc/{pid}/ns/net")


def namespace_owner(config: dict[str, Any], root: Path, own_id: str) -> PodRole | None:
    """A pod container found by its namespace paths: an IPC, UTS or PID namespace whose path
    is ``/proc/<N>/ns/<its type>`` with N the pid of a created or running container under
    root (podman's ``--pod`` members, ``--ipc``/``--uts``/``--pid container:X``) makes the
    bundle a container of that container's zone, sharing those namespaces of it. None when
    no path is such: a host namespace's path, a pid that is no container's, a stopped
    container's (today's rule: a new namespace of that type, with create's warning).

    The zone's network is its first container's, so a bundle whose network namespace is not
    that container's keeps a zone of its own (and a warning says the namespaces it named are
    not shared): joining would silently trade its own network (its address, its published
    ports) for the other's. Namespaces of two different containers cannot both be had."""
    linux = config.get("linux") if isinstance(config.get("linux"), dict) else {}
    namespaces = [ns for ns in linux.get("namespaces") or [] if isinstance(ns, dict)]
    owners: dict[str, tuple[int, dict[str, str]]] = {}  # id -> (its pid, {type: path})
    for ns in namespaces:
        kind, path = ns.get("type"), ns.get("path")
        if kind not in JOINABLE_NAMESPACES or not isinstance(path, str):
            continue
        m = PROC_NS_PATH.fullmatch(path)
        if m is None or m.group(2) != kind:
            continue
        pid = int(m.group(1))
        owner = container_of_pid(root, pid, own_id)
        if owner is not None:
            owners.setdefault(owner, (pid, {}))[1][kind] = path
    if not owners:
        return None
    if len(owners) > 1:
        named = "; ".join(f'{", ".join(paths.values())} (container "{owner}")'
                          for owner, (_pid, paths) in owners.items())
        raise ZoneError(f'container "{own_id}": linux.namespaces name namespaces of containers '
                        f"in different zones: {named}; a container can share the namespaces "
                        "of one zone only")
    (owner, (pid, paths)), = owners.items()
    if not shares_network_of(namespaces, pid):
        log.warning(f"linux.namespaces: {', '.join(paths.values())} name namespaces of "
                    f'container "{owner}", whose network namespace this one does not share: a '
                    "zone has one network, so this container gets a zone of its own and new "
                    "namespaces of those types")
        return None
    kind, path = next(iter(paths.items()))
    return PodRole("container", owner, named_by=f"linux.namespaces[{kind}].path {path}",
                   join=frozenset(paths))


def _number(annotations: dict[str, str], key: str) -> int:
    value = annotations.get(key, "")
    if not value:
        return 0
    if not re.fullmatch(r"[0-9]{1,20}", value):
        raise ZoneError(f"annotation {key}: {value!r} is not a non-negative integer")
    return int(value)


def pod_size(annotations: dict[str, str]) -> tuple[int, int]:
    """(memory MiB, vCPUs) of a pod's zone: the pod's limits from the sandbox's annotations
    plus the zone's overhead, else POD_MEMORY_MB and POD_VCPUS; vCPUs at most dom0's CPUs."""
    memory = POD_MEMORY_MB
    vcpus = POD_VCPUS
    limit = _number(annotations, SANDBOX_MEMORY)
    if limit > 0:
        memory = max(MIN_POD_MEMORY_MB, math.ceil(limit / (1 << 20)) + POD_MEMORY_OVERHEAD_MB)
    quota = _number(annotations, SANDBOX_CPU_QUOTA)
    if quota > 0:
        vcpus = max(1, math.ceil(quota / (_number(annotations, SANDBOX_CPU_PERIOD) or 100000)))
    return memory, min(vcpus, os.cpu_count() or 1)


# -- Growth: the zone follows the pod (issue 14) ----------------------------------------------
#
# A zone boots with ``memory``/``vcpus`` and may grow, while it runs, up to the ``maxmem`` and
# ``maxvcpus`` of its xl config: memory by ballooning (``xl mem-set``), vCPUs by hot-plug
# (``xl vcpu-set``). What was checked, in the sources (not yet measured in the lab):
#
# * Xen and libxl: for a PV guest libxl gives the domain a memory map of ``maxmem`` (plus its
#   slack; ``xc_domain_set_memmap_limit`` at build) and writes ``memory/static-max`` from it;
#   Xen's own limit on the domain's pages starts at ``memory`` (and a MiB), and ``xl
#   mem-set`` raises it with ``memory/target`` (libxl_set_memory_target, which refuses a
#   target above static-max).
#   ``maxmem`` reserves nothing in Xen: only what the guest balloons in is taken, when it is.
# * The guest: Debian 12's kernel (6.1, ``CONFIG_XEN_BALLOON=y``, built in) reads that memory
#   map at boot (``xen_memory_setup``, arch/x86/xen/setup.c): the RAM above its boot pages
#   becomes "extra memory", handed to the balloon driver as ballooned-out pages, which it
#   populates from Xen when ``memory/target`` rises above what it has. So a PV guest grows
#   above its boot memory up to ``maxmem``, within one limit: the extra memory is clamped to
#   ``EXTRA_MEM_RATIO`` (10) times the boot memory. Beyond that only memory hot-plug
#   (``CONFIG_XEN_BALLOON_MEMORY_HOTPLUG``) could grow it, and Debian does not online
#   hot-plugged memory by itself (``CONFIG_MEMORY_HOTPLUG_DEFAULT_ONLINE`` is off, and a zone
#   has no udev): a zone's maximum stays within :data:`PV_EXTRA_MEM_RATIO` times its boot
#   memory.
# * The price, paid by the guest at boot for the whole maximum: the extra memory is RAM in its
#   memory map, so the kernel makes a ``struct page`` for each of its pages (64 bytes per
#   4 KiB) and, PV having no large pages, page tables for its direct map (8 bytes per 4 KiB):
#   about 1/57 of the headroom, taken from the boot memory (:data:`STRUCT_PAGE_SHARE`). The
#   p2m costs little (its missing entries share pages). vCPUs: every vCPU up to
#   ``maxvcpus`` is a possible CPU of the guest (its per-cpu areas are allocated), and Linux
#   brings it up at boot before the Xen CPU-hotplug watcher takes the offline ones down
#   (drivers/xen/cpu_hotplug.c): a little memory and boot time for each.
#
# So: a pod's zone (a sandbox the engine marks) gets headroom up to POD_MAX_MEMORY_MB and
# POD_MAX_VCPUS, and its boot memory is raised by the struct pages of that headroom (so the
# pod's containers do not pay for it). A zone of its own (docker, plain podman, and podman's
# infra container, which nothing marks but whose zone its pod joins) gets a small memory
# headroom, PLAIN_ZONE_GROWTH_MB, whose struct pages (about 4.5 MiB) come out of the 64 MiB
# the zone has for its kernel: no more Xen memory, no change to its size. It gets no spare
# vCPU: each would be brought up and taken down at every zone's boot.

# The most a pod's zone grows to (or its boot size, if that is more): it bounds what one pod
# takes from Xen, and what the guest reserves at boot for it (28 MiB from 512 MiB).
POD_MAX_MEMORY_MB = 2048
# The most vCPUs a pod's zone may have online (or the host's pCPUs, if fewer): each possible
# vCPU costs the guest per-cpu memory and a bring-up at boot.
POD_MAX_VCPUS = 8
# What a zone of its own can grow by, for the containers that join it (podman's pods).
PLAIN_ZONE_GROWTH_MB = 256
# What a pod container without a memory limit adds to its pod's zone: room of its own; its
# memory.max stays unset, so it may use whatever of the zone the pod leaves free.
POD_CONTAINER_MEMORY_MB = 128
# Linux PV keeps at most this many times its boot memory as extra (balloon) memory.
PV_EXTRA_MEM_RATIO = 10
# MiB of headroom per MiB of struct pages and page tables the guest makes for it at boot
# (4096 / (64 + 8) = 56.9, rounded down to be safe).
STRUCT_PAGE_SHARE = 56


@dataclass(frozen=True)
class ZoneSize:
    """What a zone boots with and what it may grow to; recorded in its state (``zone``) and,
    for each pod container, in that container's (``zone.pod.zone_size``), so that giving back
    what the container added needs nothing but its own record and its pod's members.

    reserve_mb: memory of the boot size that is the pod's containers' already (the pod's
    limits the engine sent): a container's memory first comes out of it."""

    memory_mb: int
    max_memory_mb: int
    vcpus: int
    max_vcpus: int
    reserve_mb: int = 0

    def record(self) -> dict[str, int]:
        return {"memory_mb": self.memory_mb, "max_memory_mb": self.max_memory_mb,
                "vcpus": self.vcpus, "max_vcpus": self.max_vcpus,
                "memory_reserve_mb": self.reserve_mb}

    @classmethod
    def of(cls, zone: dict[str, Any]) -> ZoneSize:
        """From a recorded zone; one recorded before zones grew keeps its boot size."""
        memory = _count(zone.get("memory_mb")) or 1
        vcpus = _count(zone.get("vcpus")) or 1
        return cls(memory, max(memory, _count(zone.get("max_memory_mb"))), vcpus,
                   max(vcpus, _count(zone.get("max_vcpus"))),
                   _count(zone.get("memory_reserve_mb")))


def _count(value: object) -> int:
    """A recorded non-negative integer, else 0 (a state is data, not trusted to be sane)."""
    return value if type(value) is int and 0 <= value < 1 << 40 else 0


def struct_page_mb(headroom_mb: int) -> int:
    """What the guest reserves at boot for headroom_mb of growth (module comment, "Growth")."""
    return math.ceil(max(0, headroom_mb) / STRUCT_PAGE_SHARE)


def sandbox_size(annotations: dict[str, str], pcpus: int) -> ZoneSize:
    """A pod's zone: :func:`pod_size`, raised by the struct pages of its headroom, growing to
    POD_MAX_MEMORY_MB (at most PV_EXTRA_MEM_RATIO times its boot memory) and to
    min(POD_MAX_VCPUS, pcpus) vCPUs. The pod's limits, when the engine sent them, are the
    containers' reserve: their own limits are in it already."""
    memory, vcpus = pod_size(annotations)
    limit = _number(annotations, SANDBOX_MEMORY)
    reserve = math.ceil(limit / (1 << 20)) if limit > 0 else 0
    most = min(max(memory, POD_MAX_MEMORY_MB), PV_EXTRA_MEM_RATIO * memory)
    memory += struct_page_mb(most - memory)
    return ZoneSize(memory, max(memory, most), vcpus,
                    max(vcpus, min(POD_MAX_VCPUS, pcpus)), reserve)


def plain_size(memory_mb: int, vcpus: int) -> ZoneSize:
    """A zone of its own: its container's size, growing by PLAIN_ZONE_GROWTH_MB for the
    containers that may join it; no spare vCPU."""
    most = min(memory_mb + PLAIN_ZONE_GROWTH_MB, PV_EXTRA_MEM_RATIO * memory_mb)
    return ZoneSize(memory_mb, most, vcpus, vcpus)


@dataclass(frozen=True)
class Demand:
    """What a pod container asks of its pod's zone: memory (its limit, or
    POD_CONTAINER_MEMORY_MB) and vCPUs (what its CPU quota can use at once; 0: no quota)."""

    memory_mb: int
    vcpus: int = 0

    def record(self) -> dict[str, int]:
        return {"memory_mb": self.memory_mb, "vcpus": self.vcpus}

    @classmethod
    def of(cls, recorded: dict[str, Any]) -> Demand:
        """From a :meth:`record` read back from a container's state."""
        return cls(_count(recorded.get("memory_mb")), _count(recorded.get("vcpus")))


def container_demand(config: dict[str, Any]) -> Demand:
    """A pod container's :class:`Demand`, from its config's ``linux.resources``."""
    linux = config.get("linux") if isinstance(config.get("linux"), dict) else {}
    res = linux.get("resources") if isinstance(linux.get("resources"), dict) else {}
    mem = res.get("memory") if isinstance(res.get("memory"), dict) else {}
    cpu = res.get("cpu") if isinstance(res.get("cpu"), dict) else {}
    limit = mem.get("limit")
    memory = POD_CONTAINER_MEMORY_MB
    if type(limit) is int and limit > 0:
        memory = math.ceil(limit / (1 << 20))
    quota, period = cpu.get("quota"), cpu.get("period")
    vcpus = 0
    if type(quota) is int and quota > 0:
        vcpus = max(1, math.ceil(quota / (period if type(period) is int and period > 0
                                          else 100000)))
    return Demand(memory, vcpus)


def member_demands(root: Path, sandbox_id: str, exclude: str) -> list[Demand]:
    """The recorded demands of the pod's containers under root, but exclude's (a container
    created before zones grew asked for nothing)."""
    found = []
    for member_id, zone in members(root, sandbox_id):
        recorded = (zone.get("pod") or {}).get("demand")
        if member_id == exclude or not isinstance(recorded, dict):
            continue
        found.append(Demand.of(recorded))
    return found


@dataclass(frozen=True)
class PodTarget:
    """The size a pod's zone should have for a set of containers."""

    memory_mb: int
    vcpus: int
    memory_short_mb: int = 0  # asked for beyond the zone's maximum
    vcpus_short: int = 0


def pod_target(size: ZoneSize, demands: list[Demand]) -> PodTarget:
    """The zone's size for these containers: its boot memory plus what their memory exceeds
    the reserve by, up to its maximum; the most vCPUs any of them asks for (at least its boot
    vCPUs), up to its maximum. A function of the containers alone, not of the order they came
    in: giving back is setting the size for the ones that stay."""
    wanted = max(0, sum(d.memory_mb for d in demands) - size.reserve_mb)
    room = size.max_memory_mb - size.memory_mb
    vcpus = max([size.vcpus, *(d.vcpus for d in demands)])
    return PodTarget(size.memory_mb + min(wanted, room), min(vcpus, size.max_vcpus),
                     max(0, wanted - room), max(0, vcpus - size.max_vcpus))


def sandbox_zone(state_dir: Path, container_id: str, sandbox_id: str,
                 named_by: str = SANDBOX_ID_KEYS[0]) -> dict[str, Any]:
    """The zone of the sandbox a pod container belongs to, from the sandbox's state under the
    same --root; ZoneError, saying why, when there is none to join.

    The sandbox is any container with a zone of its own: a Kubernetes pod's sandbox, or a
    single container (podman's infra container, which nothing marks; the module's docstring).
    A pod container has none (it runs in its sandbox's), so it cannot be joined itself."""
    where = f'container "{container_id}": its pod sandbox "{sandbox_id}" ({named_by})'
    if "/" in sandbox_id or sandbox_id in (".", "..") or not sandbox_id:
        raise ZoneError(f"{where} is not a container id")
    sandbox_dir = state_dir.parent / sandbox_id
    try:
        raw = json.loads((sandbox_dir / "state.json").read_text())
    except FileNotFoundError:
        raise ZoneError(f"{where} does not exist (under {state_dir.parent}): the pod is gone "
                        "or was not created by edera-oci") from None
    except (OSError, ValueError) as e:
        raise ZoneError(f"{where}: its state cannot be read ({e})") from None
    zone = raw.get("zone") if isinstance(raw, dict) else None
    if not isinstance(zone, dict):
        raise ZoneError(f"{where} is not a container of edera-oci")
    pod_info = zone.get("pod") if isinstance(zone.get("pod"), dict) else {}
    if pod_info.get("role") == "container":
        raise ZoneError(f'{where} runs in the zone of its own pod sandbox '
                        f'"{pod_info.get("sandbox_id")}": a pod container has no zone to join')
    if not isinstance(zone.get("domid"), int) or not zone.get("name"):
        raise ZoneError(f"{where} has no zone (its create did not finish)")
    if raw.get("status") not in ("created", "running"):
        raise ZoneError(f"{where} is {raw.get('status')}: a container cannot join it")
    return zone


def pod_name(container_id: str) -> str:
    """The container's name in the zone (POD_NAME): its id when that is a short safe name,
    else a digest of it."""
    if re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}", container_id):
        return container_id
    return hashlib.sha256(container_id.encode()).hexdigest()[:32]


def vdev_name(index: int) -> str:
    return "xvd" + chr(ord("a") + index)


def devid(index: int) -> int:
    """libxl's device id of xvd<index>: what XenStore lists and block-detach takes."""
    return (202 << 8) | (index << PARTITION_SHIFT)


def free_disk_indexes(used_devids: set[int], count: int) -> list[int]:
    """The lowest `count` xvd indexes from FIRST_POD_DISK that no disk of the zone holds."""
    free = [i for i in range(FIRST_POD_DISK, MAX_DISKS) if devid(i) not in used_devids]
    if len(free) < count:
        raise ZoneError(f"the pod's zone has no free disk slot ({MAX_DISKS} at most): too many "
                        "containers in the pod at once")
    return free[:count]


def used_devids(xs, domid: int) -> set[int]:
    """The vbd device ids the zone has in XenStore (attached or being attached)."""
    try:
        names = xs.ls(f"/local/domain/{domid}/device/vbd")
    except FileNotFoundError:  # no disk at all
        return set()
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
        return set()
    return {int(d) for d in names if d.isdigit()}


def attach_disk(domid: int, index: int, image: Path, script: Path) -> None:
    """Hot-plug image into the running zone as xvd<index>, read-write."""
    spec = (f"format=raw,vdev={vdev_name(index)},access=rw,backendtype=phy,script={script},"
            f"target={image}")
    try:
        domain.block_attach(domid, spec)
    except domain.DomainError as e:
        raise ZoneError(f"attaching the container's disk {vdev_name(index)} to the pod's zone "
                        f"failed: {e}") from None


def detach_disk(domid: int, index: int) -> None:
    """Unplug xvd<index> (DomainError when xl fails: the zone may still hold it)."""
    domain.block_detach(domid, devid(index))


def pod_container_records(config: dict[str, Any], bind_sources: dict[int, str], name: str,
                          root: int | str, binds_index: int | None,
                          join: frozenset[str] | None = None) -> bytes:
    """CONTAINER's records: the container's own (its root: a path of the pod's share in the
    zone, ROOT_BIND, or the index of the hot-plugged disk with its copy; its bind sources
    where bind_sources says the zone has them: in the pod's share, or on a hot-plugged disk
    under POD_DIR/<name>/binds), POD_NAME, and POD_JOIN for each of the IPC,
    UTS and PID namespaces shared with the sandbox: those in join, or (None) those the engine
    points at the sandbox's (a ``path``). Those are shared in the zone, the others made new."""
    if join is None:
        joined = {ns.get("type") for ns in (config.get("linux") or {}).get("namespaces") or []
                  if ns.get("path") and ns.get("type") in JOINABLE_NAMESPACES}
    else:
        joined = set(join) & set(JOINABLE_NAMESPACES)
    recs: list[tuple[int, Any]] = []
    if binds_index is not None:  # copies on a hot-plugged disk (bind_copies.py)
        recs.append((Tag.BINDS_DISK, vdev_name(binds_index)))
    for tag, value in container_records(config, bind_sources, None):
        if tag == Tag.ROOT_DISK:
            tag, value = (Tag.ROOT_BIND, root) if isinstance(root, str) else \
                (tag, [vdev_name(root), "ext4"])
        elif tag == Tag.NAMESPACE and value in joined:
            continue
        recs.append((tag, value))
    recs.append((Tag.POD_NAME, name))
    recs += [(Tag.POD_JOIN, t) for t in sorted(joined)]
    return encode_records(recs)


def members(root: Path, sandbox_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(id, zone) of the containers under root that belong to the sandbox's pod."""
    found = []
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return []
    for entry in entries:
        if entry.startswith(".") or entry == sandbox_id:
            continue
        raw = _state_of(root, entry)
        if raw is None:
            continue
        zone = raw.get("zone")
        pod = (zone or {}).get("pod") if isinstance(zone, dict) else None
        if isinstance(pod, dict) and pod.get("sandbox_id") == sandbox_id:
            found.append((entry, zone))
    return found
