"""Wall time per phase of a call, for ``--debug`` logs and the benchmarks in ``bench/``."""

from __future__ import annotations

import os
import time

from edera_oci.statefile import process_start_time


def seconds_since_process_start() -> float:
    """How long this process has existed: interpreter start-up and imports included."""
    start_ticks = process_start_time(os.getpid()) or 0
    return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")


class Phases:
    """Consecutive phases: ``mark(name)`` ends the phase that began at the previous mark."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.phases: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        now = time.monotonic()
        self.phases.append((name, now - self.last))
        self.last = now

    def summary(self) -> str:
        return " ".join(f"{name}={secs:.3f}" for name, secs in self.phases)
