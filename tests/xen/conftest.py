"""Each Xen test must leave dom0 as it found it; a test that does not fails, and is swept."""

from __future__ import annotations

import time

import pytest

from .dom0 import dump_diagnostics, leftovers, sweep
from .test_zone_runtime import oci

LEFTOVER_GRACE = 15.0  # seconds


@pytest.fixture(autouse=True)
def no_leftovers(request):
    yield
    if request.node.get_closest_marker("xen") is None:
        return
    # An engine may finish its cleanup just after its CLI returns (dockerd removes a
    # container, and the shim runs `delete`, on its own time): what lingers past a grace is left.
    deadline = time.monotonic() + LEFTOVER_GRACE
    while (found := leftovers()) and time.monotonic() < deadline:
        time.sleep(0.5)
    if found:
        sweep()
        pytest.fail(f"left behind in dom0 after the test: {found}", pytrace=False)


@pytest.fixture
def root(tmp_path):
    """A state root per test; whatever the test left in it is force-deleted afterwards."""
    r = tmp_path / "state"
    yield r
    dump_diagnostics(r)
    if r.exists():
        for d in r.iterdir():
            oci(r, "delete", "--force", d.name)


@pytest.fixture
def bundle_dir(tmp_path):
    return tmp_path / "bundle"
