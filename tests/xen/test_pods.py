"""A pod in one zone, driven as containerd's CRI plugin drives the runtime: a sandbox bundle
with the CRI annotations, then container bundles with container-type=container and the
sandbox's id, each with its own pid file and stdout.

One pod zone is shared by every check (module fixture): the zone's boot is the dear part.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from edera_oci.zone.pod import POD_CONTAINER_MEMORY_MB

from .bundles import make_bundle
from .dom0 import domains, dump_diagnostics, leftovers
from .test_zone_runtime import new_id, oci

pytestmark = pytest.mark.xen

PR_SET_CHILD_SUBREAPER = 36
CRI_TYPE = "io.kubernetes.cri.container-type"
CRI_SANDBOX = "io.kubernetes.cri.sandbox-id"


class Pod:
    """The pod's state root, its sandbox, and the containers created in it; the test process
    is a subreaper, as containerd's shim is, so it reaps the containers' monitors."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "state"
        self.sandbox = new_id()
        self.sandbox_pid = 0

    def create(self, cid: str, bundle: Path) -> tuple[int, Path]:
        """create + start with stdout and stderr to files (as the shim's fifos); the pid."""
        out = self.base / f"{cid}.out"
        pid_file = self.base / f"{cid}.pid"
        with open(out, "wb") as stdout, open(self.base / f"{cid}.err", "w+") as err:
            res = subprocess.run(
                ["edera-oci", "--root", str(self.root), "create", "--bundle", str(bundle),
                 "--pid-file", str(pid_file), cid],
                stdin=subprocess.DEVNULL, stdout=stdout, stderr=err, timeout=300)
            err.seek(0)
            assert res.returncode == 0, err.read()
        started = oci(self.root, "start", cid, timeout=60)
        assert started.returncode == 0, started.stderr
        return int(pid_file.read_text()), out

    def container_bundle(self, name: str, script: str, **extra) -> Path:
        ns = [{"type": "mount"}, {"type": "pid"},
              {"type": "network", "path": f"/proc/{self.sandbox_pid}/ns/net"},
              {"type": "ipc", "path": f"/proc/{self.sandbox_pid}/ns/ipc"},
              {"type": "uts", "path": f"/proc/{self.sandbox_pid}/ns/uts"}]
        return make_bundle(self.base / name, ["sh", "-c", script],
                           **{"annotations": {CRI_TYPE: "container", CRI_SANDBOX: self.sandbox},
                              "linux.namespaces": ns, "root.readonly": False, **extra})

    def status(self, cid: str) -> str:
        res = oci(self.root, "state", cid)
        return json.loads(res.stdout)["status"] if res.returncode == 0 else "gone"


def zone_memory_mb(name: str) -> int:
    """What the zone has now (`xl list`'s Mem: the pages it holds, so after its balloon)."""
    out = subprocess.run(["xl", "list", name], capture_output=True, text=True).stdout
    return int(out.splitlines()[1].split()[2])


def zone_memory_near(name: str, want: int, timeout: float = 60) -> int:
    """The zone's memory once its balloon is within 4 MiB of want; the last seen at timeout."""
    deadline = time.monotonic() + timeout
    while abs((have := zone_memory_mb(name)) - want) > 4 and time.monotonic() < deadline:
        time.sleep(0.5)
    return have


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def pod(tmp_path_factory):
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1) == 0
    p = Pod(tmp_path_factory.mktemp("pod"))
    bundle = make_bundle(p.base / "sandbox", ["sleep", "1000000"],
                         **{"annotations": {CRI_TYPE: "sandbox", CRI_SANDBOX: p.sandbox}})
    t0 = time.monotonic()
    p.sandbox_pid, _ = p.create(p.sandbox, bundle)
    print(f"sandbox (the pod's zone) created and started in {time.monotonic() - t0:.1f} s")
    yield p
    dump_diagnostics(p.root)
    if p.root.exists():
        for d in p.root.iterdir():
            oci(p.root, "delete", "--force", d.name)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0)


def test_pod_containers_share_one_zone_and_localhost(pod):
    """Two containers in the sandbox's zone: one zone in `xl list`, busybox httpd in one
    reached on 127.0.0.1 from the other; exec runs in a container's own root; events --stats
    reads a container's own cgroup; the zone grows by each container's memory limit (the
    server has none: POD_CONTAINER_MEMORY_MB), and again by the client's new limit when
    `update` gives it one (its own cgroup takes it), and gives the server's back at its delete;
    killing one reports its status and leaves the other running; a replacement works;
    deleting the sandbox leaves nothing."""
    zone = domains()[0]
    booted = zone_memory_mb(zone)
    t0 = time.monotonic()
    server = new_id()
    server_pid, _ = pod.create(server, pod.container_bundle(
        "server", "mkdir -p /www && echo hello-from-server > /www/index.html && "
                  "exec httpd -f -p 127.0.0.1:8080 -h /www"))
    client = new_id()
    _, client_out = pod.create(client, pod.container_bundle(
        "client", "n=0; while :; do n=$((n+1)); echo tick-$n; "
                  "timeout 5 wget -q -O - http://127.0.0.1:8080/ 2>/dev/null; sleep 1; done",
        **{"linux.resources": {"pids": {"limit": 20}, "memory": {"limit": 64 << 20}}}))
    print(f"two pod containers created and started in {time.monotonic() - t0:.1f} s")
    assert domains() == [zone]  # the pod's zone, and nothing else
    # The zone ballooned up, above the memory it booted with, by what its containers ask.
    grown = booted + POD_CONTAINER_MEMORY_MB + 64
    have = zone_memory_near(zone, grown)
    assert abs(have - grown) <= 4, f"the pod's zone booted with {booted} MiB: {have}, not {grown}"
    assert pod.status(server) == pod.status(client) == "running"
    wait_for(lambda: b"hello-from-server" in client_out.read_bytes(), 60,
             "the client fetching the server's page over localhost")
    # exec joins the container's own mount namespace: only the server has /www.
    ex = oci(pod.root, "exec", server, "cat", "/www/index.html", timeout=120)
    assert (ex.returncode, ex.stdout) == (0, "hello-from-server\n"), ex.stderr
    ex = oci(pod.root, "exec", client, "sh", "-c", "ls /www 2>&1; hostname", timeout=120)
    assert "No such file" in ex.stdout, ex
    # events --stats is each container's own cgroup: the client's pids limit, not the server's.
    stats = {cid: oci(pod.root, "events", "--stats", cid, timeout=60) for cid in (server, client)}
    assert all(res.returncode == 0 for res in stats.values()), stats
    pids = {cid: json.loads(res.stdout)["data"]["pids"] for cid, res in stats.items()}
    assert pids[client].get("limit") == 20 and pids[server].get("limit") != 20, pids
    # update of one container (the CRI's UpdateContainerResources): its own cgroup takes the
    # new limits, and the pod's zone grows by its new memory limit first
    res = oci(pod.root, "update", "--memory", "128m", "--pids-limit", "30", client, timeout=120)
    assert res.returncode == 0, res.stderr
    grown = booted + POD_CONTAINER_MEMORY_MB + 128
    have = zone_memory_near(zone, grown)
    assert abs(have - grown) <= 4, f"after update: {have} MiB, not {grown}"
    stats = {cid: oci(pod.root, "events", "--stats", cid, timeout=60) for cid in (server, client)}
    data = {cid: json.loads(res.stdout)["data"] for cid, res in stats.items()}
    assert data[client]["pids"]["limit"] == 30, data[client]
    assert data[client]["memory"]["usage"]["limit"] == 128 << 20, data[client]
    assert data[server]["pids"].get("limit") != 30, data[server]

    # Killing the server: its monitor reports 137, the client keeps running.
    assert oci(pod.root, "kill", server, "KILL").returncode == 0
    _, status = os.waitpid(server_pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 137
    assert pod.status(server) == "stopped"
    ticks = client_out.read_bytes().count(b"tick-")
    wait_for(lambda: client_out.read_bytes().count(b"tick-") >= ticks + 2, 30,
             "the client going on after the server was killed")
    assert pod.status(client) == "running" and pod.status(pod.sandbox) == "running"
    assert oci(pod.root, "delete", server).returncode == 0
    # The server's delete gives its memory back: the zone balloons down to what the client asks.
    have = zone_memory_near(zone, booted + 128)
    assert abs(have - (booted + 128)) <= 4, f"the pod's zone: {have} MiB, not {booted + 128}"

    # The kubelet's restart: a new container in the same sandbox serves again.
    served = client_out.read_bytes().count(b"hello-from-server")
    replacement = new_id()
    pod.create(replacement, pod.container_bundle(
        "replacement", "mkdir -p /www && echo hello-from-server > /www/index.html && "
                       "exec httpd -f -p 127.0.0.1:8080 -h /www"))
    wait_for(lambda: client_out.read_bytes().count(b"hello-from-server") > served, 60,
             "the client fetching from the replacement")
    assert len(domains()) == 1, domains()

    # The sandbox's end is the pod's end: its zone, its containers, their state and disks.
    deleted = oci(pod.root, "delete", "--force", pod.sandbox, timeout=120)
    assert deleted.returncode == 0, deleted.stderr
    for cid in (client, replacement):
        assert pod.status(cid) == "gone"
    assert leftovers(pod.root) == []


def test_a_container_whose_sandbox_is_gone_is_refused(pod):
    """Once the pod is gone, a container for it fails with the reason and leaves nothing."""
    oci(pod.root, "delete", "--force", pod.sandbox, timeout=120)  # done above, unless it failed
    bundle = pod.container_bundle("late", "true")
    cid = new_id()
    res = oci(pod.root, "create", "--bundle", str(bundle), cid, timeout=120)
    assert res.returncode != 0
    assert f'its pod sandbox "{pod.sandbox}"' in res.stderr and "does not exist" in res.stderr
    assert "Traceback" not in res.stderr
    assert leftovers(pod.root) == []
