"""``pause`` / ``resume``: freeze and thaw the whole zone.

``pause`` needs a running container, ``resume`` a paused one; the recorded status follows
(the backend's ``status`` remains the authority on the next read).
"""

from __future__ import annotations

from edera_oci.lifecycle.common import Runtime, require_status


def _transition(rt: Runtime, container_id: str, verb: str, before: str, after: str) -> None:
    with rt.store.locked(container_id):
        st = rt.store.load(container_id)
        require_status(rt, st, (before,), verb)
        getattr(rt.backend(), verb)(st)
        st.status = after
        rt.store.save(st)


def pause(rt: Runtime, container_id: str) -> None:
    _transition(rt, container_id, "pause", "running", "paused")


def resume(rt: Runtime, container_id: str) -> None:
    _transition(rt, container_id, "resume", "paused", "running")
