"""exec against real Xen, on one zone: the zone picks the exec channel's port (EXEC_PORT) and
frees it for the next exec, a fast exec keeps its output and status, and an exec too large for
the channel is refused by the CLI while the container keeps running.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from .bundles import make_bundle
from .dom0 import leftovers
from .test_zone_runtime import create, new_id, oci

pytestmark = pytest.mark.xen


def test_exec_ports_are_reused_and_fast_execs_keep_their_output(root, bundle_dir, tmp_path):  # noqa: F811
    make_bundle(bundle_dir, ["sleep", "600"])
    cid = new_id()
    res = create(root, bundle_dir, cid)
    assert res.returncode == 0, res.stderr
    assert oci(root, "start", cid).returncode == 0
    for n in range(4):
        ex = oci(root, "exec", cid, "sh", "-c", f"echo one; echo two >&2; exit {n + 2}",
                 timeout=120)
        assert (ex.returncode, ex.stdout, ex.stderr) == (n + 2, "one\n", "two\n")
    log = (root / cid / "monitor.log").read_text()
    assert "refused" not in log
    # The zone's vchan servers while an exec runs: port 1 and the exec's. Its key goes when
    # its channel closes, and the next exec gets the same port: 2, every time.
    domid = json.loads((root / cid / "state.json").read_text())["zone"]["domid"]
    seen = []
    for _ in range(2):
        running = subprocess.Popen(["edera-oci", "--root", str(root), "exec", cid, "sleep", "4"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ports: list[str] = []
        deadline = time.monotonic() + 90
        while len(ports) < 2 and running.poll() is None and time.monotonic() < deadline:
            ports = subprocess.run(["xenstore-list", f"/local/domain/{domid}/data/vchan/0"],
                                   capture_output=True, text=True).stdout.split()
            time.sleep(0.2)
        assert running.wait(timeout=120) == 0
        seen.append(sorted(ports))
    assert seen == [["1", "2"], ["1", "2"]], seen
    too_big = tmp_path / "process.json"
    too_big.write_text(json.dumps({"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                                   "env": ["X=" + "y" * (1 << 20)]}))
    refused = oci(root, "exec", "--process", str(too_big), cid, timeout=120)
    assert refused.returncode != 0
    assert "the zone channel takes at most" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert json.loads(oci(root, "state", cid).stdout)["status"] == "running"
    again = oci(root, "exec", cid, "echo", "still-here", timeout=120)
    assert (again.returncode, again.stdout) == (0, "still-here\n")
    assert oci(root, "delete", "--force", cid).returncode == 0
    assert leftovers(root) == []
