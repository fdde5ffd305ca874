"""A restart on the same network namespace (issue 11), against real Xen: what the kubelet
does when it restarts a pod's container, and a failing `xl destroy`."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from .bundles import make_bundle
from .dom0 import domains, leftovers
from .test_robustness import SMALL, engine_netns, ingress_on_eth0, zone_of  # noqa: F401
from .test_zone_runtime import oci

pytestmark = pytest.mark.xen

RAW_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]


def test_restart_on_the_same_netns_and_a_failing_xl_destroy(root, bundle_dir, engine_netns,  # noqa: F811
                                                             tmp_path):
    """What the kubelet does on a restart: a second container in the pod's namespace after
    the first is deleted gets its network; so does one after a create that failed with an
    error (not a kill) once its network was up, which removes its tc state. A failing
    `xl destroy` fails delete, keeps the state and the zone, and a later delete succeeds."""
    ping = "ping -c 1 -W 5 10.251.0.1 >/dev/null && echo net-ok || echo net-down"
    netns = {"linux.namespaces": [{"type": "network", "path": f"/run/netns/{engine_netns}"}],
             # busybox ping opens a raw socket: CAP_NET_RAW, as `--cap-add NET_RAW` gives it
             "process.capabilities": {key: RAW_CAPS for key in ("bounding", "effective",
                                                                "permitted")}}
    make_bundle(bundle_dir, ["sh", "-c", ping], **SMALL, **netns)
    first = oci(root, "run", "--bundle", str(bundle_dir), "first", timeout=300)
    print(f"first: {first.returncode} {first.stdout!r} {first.stderr[-400:]!r}", flush=True)
    assert first.returncode == 0 and first.stdout == "net-ok\n", first.stdout + first.stderr
    assert not ingress_on_eth0(engine_netns)
    # A create that fails in the zone, after its vif was joined to eth0 (the network phase):
    # a sysctl the zone's kernel does not have fails the container's setup there.
    make_bundle(bundle_dir, ["true"], **SMALL, **netns,
                **{"linux.sysctl": {"net.ipv4.no_such_setting": "1"}})
    broken = oci(root, "create", "--bundle", str(bundle_dir), "broken", timeout=300)
    print(f"broken: {broken.returncode} {broken.stderr[-400:]!r}", flush=True)
    assert broken.returncode != 0 and "net.ipv4.no_such_setting" in broken.stderr, broken.stderr
    assert not ingress_on_eth0(engine_netns)  # its redirects went with it
    assert leftovers(root) == []
    make_bundle(bundle_dir, ["sh", "-c", ping + "; sleep 600"], **SMALL, **netns)
    out = tmp_path / "second.out"
    with open(out, "w") as f, open(tmp_path / "second.err", "w+") as err:
        res = subprocess.run(["edera-oci", "--root", str(root), "create", "--bundle",
                              str(bundle_dir), "second"], stdin=subprocess.DEVNULL,
                             stdout=f, stderr=err, text=True, timeout=400)
        err.seek(0)
        res.stderr = err.read()
    assert res.returncode == 0, res.stderr
    assert oci(root, "start", "second").returncode == 0
    deadline = time.monotonic() + 60
    while "net-" not in out.read_text():
        assert time.monotonic() < deadline, "the second container printed nothing"
        time.sleep(0.5)
    assert out.read_text() == "net-ok\n"
    name = zone_of(root, "second")["name"]
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "xl").write_text('#!/bin/sh\n[ "$1" = destroy ] && { echo "libxl: error: fake" >&2;'
                             ' exit 1; }\nexec /usr/sbin/xl "$@"\n')
    (fake / "xl").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    subprocess.run(["xl", "pause", name], check=True)  # it cannot power off by itself now
    failed = oci(root, "delete", "--force", "second", env=env, timeout=120)
    print(f"delete with a failing xl: {failed.returncode} {failed.stderr[-400:]!r}", flush=True)
    assert failed.returncode != 0 and "destroying zone" in failed.stderr, failed.stderr
    assert (root / "second" / "state.json").exists() and name in domains()
    assert oci(root, "delete", "--force", "second", timeout=120).returncode == 0
    assert not ingress_on_eth0(engine_netns)
    assert leftovers(root) == []
