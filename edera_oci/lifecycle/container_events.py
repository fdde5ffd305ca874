"""``events``: resource statistics of a container, once (``--stats``) or every interval.

Each event is runc's shape: ``{"type": "stats", "id": ..., "data": {...}}``, where
``data`` is what the backend's ``stats`` returns; and, as runc's, ``{"type": "oom", "id": ...}``
when the OOM killer has ended a process of the container since the stream began (counted from
the container's start, so an OOM kill that ended the container is reported before the stream
ends). The stream ends when the container stops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edera_oci.errors import NotFound, WrongState, ZoneError
from edera_oci.lifecycle.common import Runtime, current_status, require_status, sleep

# A request that fails as the container exits: asked again this many times, this far apart,
# before the failure is taken for what it says.
EXIT_RETRIES = 5
EXIT_SETTLE = 0.2


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
    """Emit a stats event every ``interval`` seconds until the container stops, and an oom
    event whenever the OOM killer has ended more of its processes."""
    if interval <= 0:
        raise ValueError("interval must be positive")
    sent = 0
    ooms_seen = 0

    def report_ooms(st) -> None:
        nonlocal ooms_seen
        ooms = rt.backend().oom_kills(st)
        if ooms > ooms_seen:
            emit({"type": "oom", "id": container_id})
            ooms_seen = ooms

    retries = 0
    while max_events is None or sent < max_events:
        try:
            event = stats_event(rt, container_id)
            report_ooms(rt.store.load(container_id))
        except (WrongState, ZoneError):  # ZoneError: it exited while its monitor was asked
            try:
                st = rt.store.load(container_id)
            except NotFound:
                return sent  # deleted as it stopped
            if current_status(rt, st) == "stopped":
                report_ooms(st)
                return sent
            retries += 1
            if retries > EXIT_RETRIES:
                raise
            sleep(EXIT_SETTLE)  # its monitor may be between the exit and going away
            continue
        except NotFound:
            if sent:
                return sent  # deleted while we watched it
            raise
        retries = 0
        emit(event)
        sent += 1
        if max_events is not None and sent >= max_events:
            break
        sleep(interval)
    return sent
