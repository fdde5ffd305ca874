"""``list``: the State of every container under ``--root``, statuses reconciled.

One broken container never hides the others: a container whose record is corrupt
(``StateCorrupt``) or whose status cannot be told (any other ``EderaError``) is listed with
status ``unknown`` and pid 0, with what it has of its record, and a warning saying why goes to
the log (stderr without ``--log``).
"""

from __future__ import annotations

from typing import Any

from edera_oci import OCI_VERSION
from edera_oci.errors import EderaError, NotFound
from edera_oci.lifecycle.common import Runtime, current_status
from edera_oci.lifecycle.container_state import settled_status
from edera_oci.logs import log
from edera_oci.state import ContainerState, StateCorrupt, read_state_file

UNKNOWN = "unknown"


def broken_entry(container_id: str, raw: dict[str, Any] | None = None) -> dict[str, Any]:
    """The row of a container whose state cannot be read or told."""
    raw = raw or {}
    return {
        "ociVersion": OCI_VERSION,
        "id": container_id,
        "pid": 0,
        "status": UNKNOWN,
        "bundle": raw.get("bundle", ""),
        "rootfs": raw.get("rootfs", ""),
        "created": raw.get("created", ""),
        "owner": raw.get("owner", ""),
    }


def list_containers(rt: Runtime) -> list[dict[str, Any]]:
    out = []
    for container_id in rt.store.list_ids():
        try:
            raw = read_state_file(rt.root, container_id)
        except StateCorrupt as e:
            log.warning(f"{e}; listed as {UNKNOWN}")
            out.append(broken_entry(container_id))
            continue
        if raw is None:
            continue  # being created or deleted right now
        try:
            raw, _ = settled_status(rt.root, raw)  # a create finishing is not "stopped"
            st = ContainerState.from_dict(raw)
            out.append(st.oci_state(current_status(rt, st)))
        except NotFound:
            continue  # deleted meanwhile
        except EderaError as e:
            log.warning(f'container "{container_id}": cannot tell its status: {e}; '
                        f"listed as {UNKNOWN}")
            out.append(broken_entry(container_id, raw))
    return out
