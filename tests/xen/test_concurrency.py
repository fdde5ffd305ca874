"""Concurrent creates against real Xen (issue 11): different ids at once each get their own
zone; one id at once: exactly one create wins, the others say so, and nothing leaks. Six at
once, as the issue asks (about two minutes of the lab: each zone is 15-30 s of its two vCPUs).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from .bundles import make_bundle
from .dom0 import leftovers
from .test_robustness import SMALL, create_quiet, zone_of
from .test_zone_runtime import oci

pytestmark = pytest.mark.xen

N = 6


def test_concurrent_creates(root, bundle_dir):
    """6 creates of different ids at once all succeed; 6 of one id: exactly one does, the
    others say "already exists", and nothing leaks."""
    make_bundle(bundle_dir, ["sleep", "600"], **SMALL)
    ids = [f"par-{i}" for i in range(N)]
    with ThreadPoolExecutor(N) as pool:
        results = list(pool.map(lambda cid: create_quiet(root, bundle_dir, cid), ids))
    print(f"{N} ids at once: {[(r.returncode, r.stderr[-200:]) for r in results]}", flush=True)
    assert [r.returncode for r in results] == [0] * N, [r.stderr for r in results]
    assert len({zone_of(root, cid)["name"] for cid in ids}) == N
    with ThreadPoolExecutor(N) as pool:
        deleted = list(pool.map(lambda cid: oci(root, "delete", "--force", cid), ids))
    assert [r.returncode for r in deleted] == [0] * N, [r.stderr for r in deleted]
    assert leftovers(root) == []
    with ThreadPoolExecutor(N) as pool:
        same = list(pool.map(lambda _: create_quiet(root, bundle_dir, "same"), range(N)))
    codes = sorted(r.returncode for r in same)
    print(f"{N} of one id: {[(r.returncode, r.stderr[-200:]) for r in same]}", flush=True)
    assert codes == [0] + [1] * (N - 1), [r.stderr for r in same]
    assert all('container "same" already exists' in r.stderr for r in same if r.returncode)
    assert oci(root, "delete", "--force", "same").returncode == 0
    assert leftovers(root) == []
