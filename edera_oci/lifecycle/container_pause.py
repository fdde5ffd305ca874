"""``pause`` / ``resume``: freeze and thaw the whole zone.

``pause`` needs a running container, ``resume`` a paused one; the recorded status follows
(the backend's ``status`` remains the authority on the next read).
"""

from __future__ import annotations

from edera_oci.lifecycle.common import Runtime, require_status


def pause(rt: Runtime, container_id: str) -> None:
    with rt.store.locked(container_id):
        st = rt.store.load(container_id)
        require_status(rt, st, ("running",), "pause")
        rt.backend().pause(st)
        st.status = "paused"
        rt.store.save(st)


def resume(rt: Runtime, container_id: str) -> None:
    with rt.store.locked(container_id):
        st = rt.store.load(container_id)
        require_status(rt, st, ("paused",), "resume")
        rt.backend().resume(st)
        st.status = "running"
        rt.store.save(st)
