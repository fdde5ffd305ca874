"""``start``: release the workload of a ``created`` container.

Only from ``created``: starting a running, paused or stopped container fails and changes
nothing. ``startContainer`` hooks run (on the host) before the workload is released,
``poststart`` after it, before ``start`` returns. A failing ``startContainer`` hook kills
the container (it will read ``stopped``) and fails the command; a failing ``poststart`` hook
is only a warning (runtime-spec): the next hooks run and the container keeps running.
"""

from __future__ import annotations

from edera_oci.errors import HookError
from edera_oci.hooks import run_hooks
from edera_oci.lifecycle.common import Runtime, kill_quietly, require_status
from edera_oci.spec import Hooks
from edera_oci.state import now_rfc3339


def start(rt: Runtime, container_id: str) -> None:
    with rt.store.locked(container_id):
        st = rt.store.load(container_id)
        require_status(rt, st, ("created",), "start")
        hooks = Hooks.from_dict(st.hooks)
        backend = rt.backend()
        try:
            run_hooks("startContainer", hooks.startContainer, st.oci_state("created"))
        except HookError:
            kill_quietly(rt, st)
            raise
        backend.start(st)
        st.status = "running"
        st.started = now_rfc3339()
        rt.store.save(st)
        run_hooks("poststart", hooks.poststart, st.oci_state("running"))
