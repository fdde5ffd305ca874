"""Test-suite wiring: tests marked `xen` need real Xen and run inside the lab's dom0.

Outside a Xen dom0 such a test fails (it is never skipped): the way to run them is
`make test-xen`, which boots the lab and runs `pytest -m xen` there.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def in_xen_dom0() -> bool:
    caps = Path("/proc/xen/capabilities")
    try:
        return "control_d" in caps.read_text()
    except OSError:
        return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("xen") and not in_xen_dom0():
        pytest.fail(
            "this test needs real Xen (a dom0): run it in the lab with `make test-xen` "
            "(./lab/run python3 -m pytest -m xen)",
            pytrace=False,
        )
