"""``update``: apply new Linux resources (cpu, memory, pids, device rules, ...) to a live
container.

The zone writes them into the container's cgroup while it runs (device rules replace its
device program); a paused container's zone is paused (its vCPUs stopped) and cannot, so
update refuses it, as it refuses a stopped one.
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
        if not resources.get("devices"):
            rt.backend().update(st, resources)
        else:
            # New device rules replace the container's; which of runc's always-allowed rules
            # join them depends on the config's linux.devices, as at create.
            linux = rt.store.load_config(container_id).get("linux") or {}
            rt.backend().update(st, resources, linux_devices=linux.get("devices") or [])
        rt.store.save(st)  # what the backend recorded (a pod container's new demand)
