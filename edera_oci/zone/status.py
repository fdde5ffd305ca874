"""A container's status from state.json and XenStore alone: cheap enough for `state` polling.

`state` is called once a second per container by engines; this answers with one XenStore read
and no import beyond the XenStore client (the full backend costs ~35 ms to import).
"""

from __future__ import annotations

LIVE_STATUSES = ("created", "running", "paused")


def status(raw: dict) -> str | None:
    """Status of a container whose monitor is alive; None when XenStore cannot tell."""
    from edera_oci.xen.xenstore import XenStore

    zone = raw.get("zone") or {}
    domid, name = zone.get("domid"), zone.get("name")
    pod = zone.get("pod") if isinstance(zone.get("pod"), dict) else {}
    if pod.get("role") == "container":  # a pod's container runs in its pod's zone
        domid, name = pod.get("domid"), pod.get("zone_name")
    if domid is None or not name:
        return None
    try:
        with XenStore() as xs:
            if xs.try_read(f"/local/domain/{domid}/name") != name:
                return "stopped"  # the zone is gone (ids are reused: the name must match)
    except OSError:
        return None
    recorded = raw.get("status")
    return recorded if recorded in LIVE_STATUSES else "stopped"
