"""``list``: the State of every container under ``--root``, statuses reconciled."""

from __future__ import annotations

from typing import Any

from edera_oci.lifecycle.common import Runtime, current_status
from edera_oci.state import ContainerState, read_state_file


def list_containers(rt: Runtime) -> list[dict[str, Any]]:
    out = []
    for container_id in rt.store.list_ids():
        raw = read_state_file(rt.root, container_id)
        if raw is None:
            continue  # being created or deleted right now
        st = ContainerState.from_dict(raw)
        out.append(st.oci_state(current_status(rt, st)))
    return out
