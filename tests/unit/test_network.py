"""The netlink side of edera_oci.zone.network, against a real network namespace on the host.

An engine hands the runtime a namespace with a configured interface; these tests make one the
same way (a veth pair, one end inside, an address and a default route) and read it back.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid

import pytest

from edera_oci.zone import network


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def engine_netns():
    """A namespace as podman leaves it: eth0 at 10.250.0.2/24, default route via the host end."""
    tag = uuid.uuid4().hex[:8]
    name, host_end = f"edera-t-{tag}", f"vt{tag}"
    ip("netns", "add", name)
    try:
        ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", name)
        ip("addr", "add", "10.250.0.1/24", "dev", host_end)
        ip("link", "set", host_end, "up")
        ip("-n", name, "addr", "add", "10.250.0.2/24", "dev", "eth0")
        ip("-n", name, "link", "set", "eth0", "up")
        ip("-n", name, "link", "set", "lo", "up")
        ip("-n", name, "route", "add", "default", "via", "10.250.0.1")
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_read_interfaces_sees_what_the_engine_configured(engine_netns):
    (eth0,) = network.read_interfaces(engine_netns)
    assert eth0.name == "eth0"
    assert eth0.addresses == ["10.250.0.2/24"]
    assert ("0.0.0.0/0", "10.250.0.1") in eth0.routes
    assert eth0.mtu == 1500


def test_interface_counters_count_what_crossed_the_interface(engine_netns):
    before = {c["name"]: c for c in network.interface_counters(engine_netns, ["eth0", "nope"])}
    assert set(before) == {"eth0"}  # an interface that is gone is left out, not made up
    payload = b"x" * 1000
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(5):
            s.sendto(payload, ("10.250.0.2", 9))
    (after,) = network.interface_counters(engine_netns, ["eth0"])
    assert after["rx_packets"] - before["eth0"]["rx_packets"] >= 5
    assert after["rx_bytes"] - before["eth0"]["rx_bytes"] >= 5 * len(payload)
    assert after["tx_packets"] >= 1  # at least the ARP reply went back out
    assert set(after) == {"name", *network.COUNTERS}


def test_a_second_zone_cannot_take_an_interface_that_carries_one(engine_netns):
    """Two containers in one namespace (a pod) would both redirect eth0: the second is refused
    with a message that says why, and what the first zone set up stays as it was. (The first
    zone's redirects are made in the lab: this host's kernel has no matchall classifier, so
    the test puts the ingress qdisc and the vif that a first zone leaves in place by hand.)"""
    (eth0,) = network.read_interfaces(engine_netns)
    ns_name = engine_netns.rsplit("/", 1)[1]
    subprocess.run(["ip", "netns", "exec", ns_name, "tc", "qdisc", "add", "dev", "eth0",
                    "ingress"], check=True)
    first = f"vif8{uuid.uuid4().hex[:4]}.0"  # the first zone's vif, alive in the namespace
    ip("-n", ns_name, "link", "add", "name", first, "type", "veth", "peer", "name",
       "q" + first[:-2])
    second = f"vif9{uuid.uuid4().hex[:4]}.0"  # a veth stands in for netback's vif
    ip("link", "add", "name", second, "type", "veth", "peer", "name", "p" + second[:-2])
    try:
        with pytest.raises(OSError, match="eth0 already carries another zone's traffic"):
            network.attach_vif(second, engine_netns, eth0, "edera-second")
        qdiscs = subprocess.run(["ip", "netns", "exec", ns_name, "tc", "qdisc", "show", "dev",
                                 "eth0"], capture_output=True, text=True, check=True).stdout
        assert "ingress" in qdiscs, qdiscs
    finally:
        subprocess.run(["ip", "link", "del", "p" + second[:-2]], capture_output=True)


def test_teardown_removes_its_ingress_qdisc_and_tolerates_a_gone_namespace(engine_netns):
    """detach_redirects takes the ingress qdisc off the engine's interface (the next zone on
    this namespace needs it gone), and a namespace that no longer exists is no error."""
    ns_name = engine_netns.rsplit("/", 1)[1]
    subprocess.run(["ip", "netns", "exec", ns_name, "tc", "qdisc", "add", "dev", "eth0",
                    "ingress"], check=True)
    assert network.detach_redirects(engine_netns, ["eth0", "gone0"], "edera-x") == ["eth0"]
    qdiscs = subprocess.run(["ip", "netns", "exec", ns_name, "tc", "qdisc", "show", "dev",
                             "eth0"], capture_output=True, text=True, check=True).stdout
    assert "ingress" not in qdiscs, qdiscs
    assert network.detach_redirects(engine_netns, ["eth0"], "edera-x") == []
    assert network.detach_redirects("/run/netns/no-such-ns", ["eth0"], "edera-x") == []


def test_only_a_pods_sandbox_gives_up_the_network():
    from edera_oci.zone.backend import is_pod_sandbox

    assert is_pod_sandbox({"io.kubernetes.cri.container-type": "sandbox"})  # containerd
    assert is_pod_sandbox({"io.kubernetes.cri-o.ContainerType": "sandbox"})  # CRI-O
    assert not is_pod_sandbox({"io.kubernetes.cri.container-type": "container"})
    assert not is_pod_sandbox({})


def test_an_unconfigured_namespace_has_nothing_to_mirror():
    name = f"edera-t-{uuid.uuid4().hex[:8]}"
    ip("netns", "add", name)
    try:
        assert network.read_interfaces(f"/run/netns/{name}") == []
    finally:
        ip("netns", "del", name)


def test_each_network_namespace_is_scanned_once_named_ones_first(tmp_path, monkeypatch):
    """list --orphans and delete --force look for a lost zone's tc redirects in every network
    namespace: each once (processes share them), by the name an engine gave it if any."""
    from edera_oci.zone import network as net

    named = tmp_path / "netns"
    named.mkdir()
    proc = tmp_path / "proc"
    shared = tmp_path / "ns-shared"
    shared.write_text("")
    own = tmp_path / "ns-own"
    own.write_text("")
    os.link(shared, named / "engine")
    for pid, target in ((1, own), (20, shared), (300, shared), (4000, own)):
        (proc / str(pid) / "ns").mkdir(parents=True)
        os.link(target, proc / str(pid) / "ns" / "net")
    (proc / "self").mkdir()
    monkeypatch.setattr(net, "NAMED_NETNS_DIRS", (str(named), str(tmp_path / "absent")))
    assert net.network_namespaces(str(proc)) == [str(named / "engine"), f"{proc}/1/ns/net"]


def test_a_redirects_target_is_read_from_its_filter_as_the_kernel_sends_it():
    """The filter a zone puts on an engine's interface (matchall + mirred redirect), encoded
    and decoded by pyroute2 as a dump returns it: its target is what tells a redirect that
    leads nowhere."""
    from pyroute2.netlink.rtnl.tcmsg import cls_matchall, tcmsg

    from edera_oci.zone import network as net

    msg = tcmsg()
    msg.update(family=0, index=3, handle=net.redirect_mark("edera-x-c1"), parent=0xFFFF0000,
               info=0)
    msg["attrs"] = [["TCA_KIND", "matchall"], ["TCA_OPTIONS", cls_matchall.get_parameters(
        {"action": {"kind": "mirred", "direction": "egress", "action": "redirect",
                    "ifindex": 7}})]]
    msg.encode()
    dumped = tcmsg(msg.data)
    dumped.decode()
    assert net._mirred_targets(dumped) == [7]
    plain = tcmsg()
    plain.update(family=0, index=3, handle=1, parent=0xFFFF0000, info=0)
    plain["attrs"] = [["TCA_KIND", "matchall"]]
    plain.encode()
    dumped = tcmsg(plain.data)
    dumped.decode()
    assert net._mirred_targets(dumped) == []


def test_a_namespace_path_must_be_a_namespace_of_its_type(tmp_path):
    """runtime-tools' linux_ns_path_type: a path to a namespace of another type, a file that
    is no namespace, a missing path: each an error naming linux.namespaces[i].path."""
    from edera_oci.spec import Namespace
    from edera_oci.zone import network as net

    net.check_namespace_paths([Namespace("mount"), Namespace("ipc", "/proc/self/ns/ipc"),
                               Namespace("network", "/proc/self/ns/net"),
                               Namespace("uts", "/proc/self/ns/uts")])
    plain = tmp_path / "file"
    plain.write_text("")
    for namespaces, message in (
            ([Namespace("cgroup", "/proc/self/ns/ipc")],
             r"linux.namespaces\[0\].path: /proc/self/ns/ipc is a namespace of type ipc, not "
             r"cgroup"),
            ([Namespace("pid"), Namespace("network", str(plain))],
             r"linux.namespaces\[1\].path: .*/file is not a namespace"),
            ([Namespace("uts", str(tmp_path / "gone"))],
             r"linux.namespaces\[0\].path: .*/gone does not exist")):
        with pytest.raises(ValueError, match=message):
            net.check_namespace_paths(namespaces)
