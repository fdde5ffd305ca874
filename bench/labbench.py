"""What the lab benchmarks share: run from the host, each boots the lab once and runs itself
there with --inside (the measuring part), passing its --runs on."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rerun_inside_lab(script: str, runs: int, timeout: int | None = None) -> int:
    """`lab/run [--timeout T] python3 bench/SCRIPT --inside --runs N`; returns its exit status."""
    argv = [str(REPO / "lab/run")]
    if timeout is not None:
        argv += ["--timeout", str(timeout)]
    rel = Path(script).resolve().relative_to(REPO)
    return subprocess.run([*argv, "python3", str(rel), "--inside", "--runs",
                           str(runs)]).returncode
