"""``delete``: destroy a stopped container's zone and forget it; ``--force`` kills first.

Per the runtime-spec, deleting a container that is not ``stopped`` (``created`` included:
runc and crun get that wrong) fails and leaves it alone. The zone is destroyed (the backend
call is idempotent), the state directory is removed, then ``poststop`` hooks run; their
failures are only warnings. An unknown id fails with "does not exist", which engines
ignore on cleanup.
"""

from __future__ import annotations

from edera_oci.errors import EderaError, WrongState
from edera_oci.hooks import run_hooks
from edera_oci.lifecycle.common import Runtime, current_status
from edera_oci.logs import log
from edera_oci.spec import Hooks
from edera_oci.state import ContainerState, read_state_file, validate_id


def delete(rt: Runtime, container_id: str, force: bool = False) -> None:
    validate_id(container_id)
    with rt.store.locked(container_id):
        raw = read_state_file(rt.root, container_id)
        if raw is None:
            # a directory a create left behind before it wrote any state: nothing to destroy
            rt.store.remove(container_id)
            return
        st = ContainerState.from_dict(raw)
        status = current_status(rt, st, locked=True)
        backend = rt.backend()
        if status != "stopped":
            if not force:
                raise WrongState(
                    f'cannot delete container "{container_id}" that is {status}: '
                    "stop it first, or use --force"
                )
            try:
                backend.signal(st, 9, True)
            except EderaError as e:
                log.debug(f"kill before forced delete: {e}")
        backend.destroy(st)
        rt.store.remove(container_id)
    run_hooks("poststop", Hooks.from_dict(st.hooks).poststop, st.oci_state("stopped"))
