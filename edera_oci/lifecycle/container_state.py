"""``state``: the runtime-spec State of one container, with its status reconciled.

Cheap on purpose (engines poll it): the recorded status, the lock and the monitor's pid
answer most questions with only ``edera_oci.statefile``; the typed state and the zone
backend are loaded only when the monitor is alive and the zone must be asked.
"""

from __future__ import annotations

from edera_oci.errors import NotFound
from edera_oci.statefile import lock_busy, oci_state, process_alive, read_state_file, validate_id


def quick_status(root: str, raw: dict, *, locked: bool = False) -> str | None:
    """The status if it can be told without the backend, else None."""
    recorded = raw.get("status")
    if recorded == "stopped":
        return "stopped"
    if recorded == "creating":
        if not locked and lock_busy(root, raw["id"]):
            return "creating"
        return "stopped"  # the create that wrote this died before finishing
    if not process_alive(raw.get("pid", 0), raw.get("pid_start")):
        return "stopped"  # the monitor is gone, so is the container
    return None


LIGHT_STATUS_MODULE = "edera_oci.zone.status"
BACKEND_STATUSES = ("created", "running", "paused", "stopped")


def light_status(raw: dict) -> str | None:
    """Ask the backend's optional cheap status module (see ``lifecycle/backend.py``)."""
    try:
        from importlib import import_module

        module = import_module(LIGHT_STATUS_MODULE)
    except ImportError:
        return None
    status = module.status(raw)
    return status if status in BACKEND_STATUSES else None


def container_state(root: str, container_id: str, rt: object | None = None) -> dict:
    """State JSON of ``container_id``; NotFound if there is no such container."""
    validate_id(container_id)
    raw = read_state_file(root, container_id)
    if raw is None:
        raise NotFound(container_id)
    status = quick_status(root, raw)
    if status == "stopped" and raw.get("status") == "creating":
        # The create may have finished between our read of state.json and our look at its
        # lock: what it wrote last tells (never a transient "stopped" while it finishes).
        raw = read_state_file(root, container_id)
        if raw is None:
            raise NotFound(container_id)
        status = quick_status(root, raw)
    if status is None and rt is None:
        status = light_status(raw)
    if status is None:
        from edera_oci.lifecycle.common import Runtime, current_status
        from edera_oci.state import ContainerState

        runtime = rt if isinstance(rt, Runtime) else Runtime(root)
        status = current_status(runtime, ContainerState.from_dict(raw))
    return oci_state(raw, status)
