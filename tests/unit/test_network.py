"""The netlink side of edera_oci.zone.network, against a real network namespace on the host.

An engine hands the runtime a namespace with a configured interface; these tests make one the
same way (a veth pair, one end inside, an address and a default route) and read it back.
"""

from __future__ import annotations

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
