"""lab/run's contract, on the host: the command's exit status comes back, a hung command is
killed with the lab (exit 124) and no QEMU is left behind. Each test boots the lab (~25-70 s),
so there are two: any status (7) comes back, and a timeout's 124."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB_RUN = REPO / "lab" / "run"

pytestmark = pytest.mark.lab


def qemu_processes() -> list[str]:
    out = subprocess.run(["pgrep", "-af", "qemu-system-x86_64"], capture_output=True, text=True)
    return [ln for ln in out.stdout.splitlines() if str(REPO) in ln]


def test_exit_status_and_streams_come_back():
    res = subprocess.run(
        [str(LAB_RUN), "sh", "-c", "xl info | grep -E '^xen_(major|minor)'; echo to-err >&2; "
         "test -x /usr/local/bin/edera-oci && pwd; exit 7"],
        capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 7, res.stderr
    assert "xen_major              : 4" in res.stdout
    assert "xen_minor              : 17" in res.stdout
    assert res.stdout.strip().endswith(str(REPO))  # the checkout is the working directory
    assert res.stderr.strip().endswith("to-err")
    console = (REPO / "lab/out/latest/console.log").read_text()
    assert "LAB-READY" in console and "LAB-DONE status=7" in console
    assert qemu_processes() == []


def test_timeout_kills_the_lab():
    res = subprocess.run([str(LAB_RUN), "--timeout", "60", "sleep", "1000"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 124, res.stderr
    assert "timed out" in res.stderr
    assert qemu_processes() == []
    timing = json.loads((REPO / "lab/out/latest/timing.json").read_text())
    assert timing["status"] == 124
