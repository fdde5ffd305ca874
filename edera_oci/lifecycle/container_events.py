"""``events``: resource statistics of a container, once (``--stats``) or every interval.

Each event is runc's shape: ``{"type": "stats", "id": ..., "data": {...}}``, where
``data`` is what the backend's ``stats`` returns. The stream ends when the container stops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edera_oci.errors import NotFound, WrongState
from edera_oci.lifecycle.common import Runtime, current_status, require_status, sleep


def stats_event(rt: Runtime, container_id: str) -> dict[str, Any]:
    with rt.store.locked(container_id):
        st = rt.store.load(container_id)
        require_status(rt, st, ("created", "running", "paused"), "get statistics of")
        data = rt.backend().stats(st)
    return {"type": "stats", "id": container_id, "data": data}


def stream_events(
    rt: Runtime,
    container_id: str,
    interval: float,
    emit: Callable[[dict[str, Any]], None],
    max_events: int | None = None,
) -> int:
    """Emit a stats event every ``interval`` seconds until the container stops."""
    if interval <= 0:
        raise ValueError("interval must be positive")
    sent = 0
    while max_events is None or sent < max_events:
        try:
            event = stats_event(rt, container_id)
        except WrongState:
            st = rt.store.load(container_id)
            if current_status(rt, st) == "stopped":
                return sent
            raise
        except NotFound:
            if sent:
                return sent  # deleted while we watched it
            raise
        emit(event)
        sent += 1
        if max_events is not None and sent >= max_events:
            break
        sleep(interval)
    return sent
