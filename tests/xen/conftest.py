"""Each Xen test must leave dom0 as it found it; a test that does not fails, and is swept."""

from __future__ import annotations

import pytest

from .dom0 import leftovers, sweep


@pytest.fixture(autouse=True)
def no_leftovers(request):
    yield
    if request.node.get_closest_marker("xen") is None:
        return
    found = leftovers()
    if found:
        sweep()
        pytest.fail(f"left behind in dom0 after the test: {found}", pytrace=False)
