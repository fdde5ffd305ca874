"""``kill``: send a signal to a created, running or paused container.

Anything else fails with "container not running" (containerd's shim matches these words
and then treats the container as already exited).
"""

from __future__ import annotations

from edera_oci.errors import NotRunning
from edera_oci.lifecycle.common import Runtime, current_status
from edera_oci.signals import parse_signal


def kill(rt: Runtime, container_id: str, signal: str | int = "TERM", all_processes: bool = False):
    signo = signal if isinstance(signal, int) else parse_signal(signal)
    with rt.store.locked(container_id):
        st = rt.store.load(container_id)
        if current_status(rt, st, locked=True) not in ("created", "running", "paused"):
            raise NotRunning(container_id)
        rt.backend().signal(st, signo, all_processes)
