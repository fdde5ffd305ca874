"""The engine's network namespace, carried into the zone.

Docker and podman set up a network namespace for the container (podman hands its path; docker
has the runtime create one and configures it from a prestart hook). A zone has its own kernel, so
the namespace's interfaces cannot be used directly. Instead, as Kata does with tap devices, each
interface gets a twin: a Xen vif whose zone side takes the interface's MAC, MTU, addresses and
routes, and tc redirects join the two in the namespace (what arrives on the interface leaves
through the vif into the zone, and back). The engine's bridge, NAT and published ports then
reach the zone unchanged.
"""

from __future__ import annotations

import ctypes
import hashlib
import ipaddress
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field

CLONE_NEWNET = 0x40000000
_libc = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def unshare_netns() -> None:
    """Give the calling process a new, empty network namespace (a monitor's preexec)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")


def join_netns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        _setns(fd)
    finally:
        os.close(fd)


@contextmanager
def in_netns(path: str):
    """Run the block in the network namespace at path, then come back."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        join_netns(path)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


@dataclass
class Interface:
    """One interface of the container's namespace, as the zone must mirror it."""

    name: str
    index: int
    mac: str
    mtu: int
    addresses: list[str] = field(default_factory=list)  # "10.88.0.5/16"
    routes: list[tuple[str, str]] = field(default_factory=list)  # ("0.0.0.0/0", "10.88.0.1")


def read_interfaces(ns_path: str) -> list[Interface]:
    """The namespace's interfaces other than lo, with their addresses and gateway routes."""
    with in_netns(ns_path):
        names = {name for _, name in socket.if_nameindex()}
    if names <= {"lo"}:
        return []  # a namespace nobody configured (--network none): spare pyroute2's import
    from pyroute2 import IPRoute

    found: list[Interface] = []
    with in_netns(ns_path), IPRoute() as ipr:
        for link in ipr.get_links():
            name = link.get_attr("IFLA_IFNAME")
            mac = link.get_attr("IFLA_ADDRESS")
            if name == "lo" or not mac or mac == "00:00:00:00:00:00":
                continue
            iface = Interface(name=name, index=link["index"], mac=mac,
                              mtu=link.get_attr("IFLA_MTU") or 1500)
            for addr in ipr.get_addr(index=link["index"]):
                ip = addr.get_attr("IFA_ADDRESS")
                if ip and not ipaddress.ip_address(ip).is_link_local:
                    iface.addresses.append(f"{ip}/{addr['prefixlen']}")
            for family, anyaddr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
                for route in ipr.get_routes(family=family, table=254):
                    gateway = route.get_attr("RTA_GATEWAY")
                    if route.get_attr("RTA_OIF") != link["index"] or not gateway:
                        continue
                    dst = route.get_attr("RTA_DST") or anyaddr
                    iface.routes.append((f"{dst}/{route['dst_len']}", gateway))
            if iface.addresses:
                found.append(iface)
    return found


COUNTERS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
            "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")


def interface_counters(ns_path: str, names: list[str]) -> list[dict[str, int | str]]:
    """runc's ``network_interfaces`` for ``events --stats``: the counters of the namespace's
    interfaces that the zone mirrors. Every packet of the zone crosses its twin here (the tc
    redirects), in the same direction, so the twin's counters are the container's own."""
    from pyroute2 import IPRoute

    found: list[dict[str, int | str]] = []
    with in_netns(ns_path), IPRoute() as ipr:
        for name in names:
            index = ipr.link_lookup(ifname=name)
            if not index:
                continue
            link = ipr.get_links(index[0])[0]
            stats = link.get_attr("IFLA_STATS64") or link.get_attr("IFLA_STATS") or {}
            found.append({"name": name, **{c: int(stats.get(c, 0)) for c in COUNTERS}})
    return found


def redirect_mark(zone_name: str) -> int:
    """The handle of a zone's tc filters: who put a redirect there, read back at teardown."""
    return int(hashlib.sha256(zone_name.encode()).hexdigest()[:7], 16) | 1


def _ingress_handles(ipr, index: int) -> set[int] | None:
    """The handles of the filters under iface's ingress qdisc; None when it has none."""
    if not any(q.get_attr("TCA_KIND") == "ingress" for q in ipr.get_qdiscs(index=index)):
        return None
    return {f["handle"] for f in ipr.get_filters(index=index, parent=0xFFFF0000)
            if f["handle"]}


def attach_vif(vif: str, ns_path: str, iface: Interface, zone_name: str) -> None:
    """Move the zone's vif (netback names it vif<domid>.<n>) into the namespace and join it to
    iface with tc redirects, marked as this zone's (``redirect_mark``)."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=vif)
        if not found:
            raise OSError(f"the zone's vif {vif} did not appear in dom0")
        fd = os.open(ns_path, os.O_RDONLY)
        try:
            ipr.link("set", index=found[0], net_ns_fd=fd)
        finally:
            os.close(fd)
    mark = redirect_mark(zone_name)
    with in_netns(ns_path), IPRoute() as ipr:
        vidx = ipr.link_lookup(ifname=vif)[0]
        handles = _ingress_handles(ipr, iface.index)
        if handles is not None:
            # Another zone's vif still in this namespace: that zone owns the interface.
            # Otherwise the redirects are stale (their zone is gone: a restart in the same
            # pod network namespace) and are replaced.
            others = [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()
                      if link.get_attr("IFLA_IFNAME", "").startswith("vif")
                      and link["index"] != vidx]
            if others and mark not in handles:
                raise OSError(f"{iface.name} already carries another zone's traffic "
                              f"({', '.join(others)}): containers that share one network "
                              "namespace (a pod's) cannot each have a zone on it")
            ipr.tc("del", "ingress", iface.index, "ffff:")
        ipr.link("set", index=vidx, mtu=iface.mtu, state="up")
        for src, dst in ((iface.index, vidx), (vidx, iface.index)):
            ipr.tc("add", "ingress", src, "ffff:")
            ipr.tc("add-filter", "matchall", src, parent="ffff:", handle=mark,
                   action={"kind": "mirred", "direction": "egress", "action": "redirect",
                           "ifindex": dst})


def detach_redirects(ns_path: str, names: list[str], zone_name: str) -> list[str]:
    """Remove the ingress qdisc (and so the redirects) a zone put on the namespace's
    interfaces, leaving one that another zone's redirects hold. Returns what was removed.
    A namespace or an interface that is gone is not an error: its tc state went with it."""
    from pyroute2 import IPRoute

    mark = redirect_mark(zone_name)
    removed = []
    try:
        with in_netns(ns_path), IPRoute() as ipr:
            for name in names:
                index = ipr.link_lookup(ifname=name)
                if not index:
                    continue
                handles = _ingress_handles(ipr, index[0])
                if handles is None or (handles and mark not in handles):
                    continue
                ipr.tc("del", "ingress", index[0], "ffff:")
                removed.append(name)
    except FileNotFoundError:
        pass
    return removed


# -- redirects no container owns --------------------------------------------------------------

# Named network namespaces (ip netns, docker's): listed before the processes' own.
NAMED_NETNS_DIRS = ("/run/netns", "/run/docker/netns")


@dataclass(frozen=True)
class Redirect:
    """A zone's tc redirect found in some network namespace: on interface ``iface`` (in the
    namespace at ``ns_path``), filter ``handle`` sends what arrives to interface ``target``,
    which may be gone (a zone's vif goes with its domain)."""

    ns_path: str
    iface: str
    handle: int
    target_gone: bool

    def describe(self) -> str:
        where = "a missing interface" if self.target_gone else "a zone's vif"
        return f"tc redirect on {self.iface} in netns {self.ns_path} to {where}"


def network_namespaces(proc: str = "/proc") -> list[str]:
    """One path to each network namespace a path reaches on this host: the named ones
    (``ip netns``, docker's), then each process's."""
    seen: dict[tuple[int, int], str] = {}
    candidates = []
    for top in NAMED_NETNS_DIRS:
        try:
            candidates += [f"{top}/{name}" for name in sorted(os.listdir(top))]
        except OSError:
            continue
    try:
        pids = sorted((e for e in os.listdir(proc) if e.isdigit()), key=int)
    except OSError:
        pids = []
    candidates += [f"{proc}/{pid}/ns/net" for pid in pids]
    for path in candidates:
        try:
            st = os.stat(path)
        except OSError:
            continue
        seen.setdefault((st.st_dev, st.st_ino), path)
    return list(seen.values())


def _mirred_targets(tc_filter) -> list[int]:
    """The interfaces a matchall filter's mirred actions send to."""
    targets = []
    options = tc_filter.get_attr("TCA_OPTIONS")
    actions = options.get_attr("TCA_MATCHALL_ACT") if options is not None else None
    for _name, action in actions["attrs"] if actions is not None else []:
        if not hasattr(action, "get_attr") or action.get_attr("TCA_ACT_KIND") != "mirred":
            continue
        opts = action.get_attr("TCA_ACT_OPTIONS")
        parms = opts.get_attr("TCA_MIRRED_PARMS") if opts is not None else None
        if parms is not None:
            targets.append(int(parms["ifindex"]))
    return targets


def find_redirects(marks: set[int]) -> list[Redirect]:
    """The redirects carrying one of ``marks`` (``redirect_mark`` of zone names) in every
    network namespace of this host: what zones whose state is lost left on engines'
    interfaces. A namespace that cannot be entered or read is skipped."""
    from pyroute2 import IPRoute

    found = []
    for path in network_namespaces():
        try:
            with in_netns(path), IPRoute() as ipr:
                links = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
                for index, name in links.items():
                    handles = _ingress_handles(ipr, index)
                    if not handles or not handles & marks:
                        continue
                    for f in ipr.get_filters(index=index, parent=0xFFFF0000):
                        if f["handle"] not in marks:
                            continue
                        targets = _mirred_targets(f)
                        found.append(Redirect(path, name, f["handle"],
                                              any(t not in links for t in targets)))
        except Exception:  # noqa: BLE001 - a namespace gone meanwhile, or netlink refusing
            continue
    return sorted(set(found), key=lambda r: (r.ns_path, r.iface))


# -- namespace paths ------------------------------------------------------------------------

NS_GET_NSTYPE = 0xB703  # ioctl on an nsfs file: its CLONE_NEW* type (Linux 4.11)
NAMESPACE_TYPES = {"network": 0x40000000, "mount": 0x00020000, "pid": 0x20000000,
                   "ipc": 0x08000000, "uts": 0x04000000, "user": 0x10000000,
                   "cgroup": 0x02000000, "time": 0x00000080}


def check_namespace_paths(namespaces) -> None:
    """Each namespace's ``path`` (spec.Namespace items, in config order) must be a namespace
    of that item's type: the runtime spec says "If a path is specified that is not a namespace
    of the given type, the runtime MUST generate an error", and runc checks it. ValueError
    naming ``linux.namespaces[i].path`` otherwise."""
    import fcntl

    names = {flag: name for name, flag in NAMESPACE_TYPES.items()}
    for i, ns in enumerate(namespaces):
        if not ns.path or ns.type not in NAMESPACE_TYPES:
            continue
        field = f"linux.namespaces[{i}].path"
        try:
            fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ValueError(f"{field}: {ns.path} does not exist") from None
        except OSError as e:
            raise ValueError(f"{field}: {ns.path}: {e.strerror}") from None
        try:
            actual = fcntl.ioctl(fd, NS_GET_NSTYPE)
        except OSError:
            raise ValueError(f"{field}: {ns.path} is not a namespace") from None
        finally:
            os.close(fd)
        if actual != NAMESPACE_TYPES[ns.type]:
            raise ValueError(f"{field}: {ns.path} is a namespace of type "
                             f"{names.get(actual, hex(actual))}, not {ns.type}")
