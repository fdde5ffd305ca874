"""``ps``: the host pids that belong to a container (its monitors; the rest is in the zone)."""

from __future__ import annotations

from edera_oci.lifecycle.common import Runtime, require_status


def pids(rt: Runtime, container_id: str) -> list[int]:
    with rt.store.locked(container_id):
        st = rt.store.load(container_id)
        require_status(rt, st, ("created", "running", "paused"), "list the processes of")
        return sorted(int(p) for p in rt.backend().pids(st))
