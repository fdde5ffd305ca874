"""``update``: apply new Linux resources (cpu, memory, pids, ...) to a live container.

The zone writes them into the container's cgroup while it runs; a paused container's zone is
paused (its vCPUs stopped) and cannot, so update refuses it, as it refuses a stopped one.
"""

from __future__ import annotations

from typing import Any

from edera_oci.lifecycle.common import Runtime, require_status
from edera_oci.validate import validate_resources


def update(rt: Runtime, container_id: str, resources: dict[str, Any]) -> None:
    resources = validate_resources(resources)
    with rt.store.locked(container_id):
        st = rt.store.load(container_id)
        require_status(rt, st, ("created", "running"), "update")
        rt.backend().update(st, resources)
