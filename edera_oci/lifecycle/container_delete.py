"""``delete``: destroy a container's zone and forget it; ``--force`` kills it first.

As runc and crun do (containerd's shim relies on it), a ``created`` container is killed and
deleted without ``--force``; a ``running`` or ``paused`` one needs ``--force``. The zone is
destroyed (the backend call is idempotent, and fails, keeping the state, when the zone may
still run), the state directory is removed, then ``poststop`` hooks run; their failures are
only warnings. An unknown id fails with "does not exist", which engines ignore on cleanup;
with ``--force`` it succeeds (runc's behaviour) after sweeping whatever a container of that
id under this ``--root`` would have left in dom0 (its domain, loop devices, disks). A
``state.json`` that cannot be read does not stop ``--force``: the zone's names derive from
``--root`` and the id.
"""

from __future__ import annotations

import os

from edera_oci.errors import AlreadyExists, EderaError, WrongState
from edera_oci.hooks import run_hooks
from edera_oci.lifecycle.common import Runtime, current_status
from edera_oci.logs import log
from edera_oci.spec import Hooks
from edera_oci.state import ContainerState, read_state_file, validate_id


def delete(rt: Runtime, container_id: str, force: bool = False) -> None:
    validate_id(container_id)
    if force and not rt.store.exists(container_id) and _sweep_unknown(rt, container_id):
        return
    with rt.store.locked(container_id) as state_dir:
        broken = False
        try:
            raw = read_state_file(rt.root, container_id)
            st = ContainerState.from_dict(raw) if raw is not None else None
        except Exception as e:  # noqa: BLE001 - whatever is wrong with the file
            if not force:
                if isinstance(e, EderaError):
                    raise
                raise EderaError(f'the state of container "{container_id}" is unreadable '
                                 f"({e}): use delete --force") from None
            log.warning(f'the state of container "{container_id}" is unreadable ({e}): '
                        "tearing its zone down by the names derived from --root and the id")
            st = ContainerState(id=container_id, bundle="", rootfs="", created="",
                                status="stopped")
            broken = True
        if st is None:
            # a directory a create left before it wrote any state (nothing to destroy), or the
            # claim of a delete --force cut off in its sweep: --force sweeps again
            if force:
                _sweep(rt, state_dir, container_id)
            rt.store.remove(container_id)
            return
        st.zone.setdefault("state_dir", state_dir)
        backend = rt.backend()
        try:
            status = "stopped" if broken else current_status(rt, st, locked=True)
        except EderaError as e:
            if not force:
                raise
            log.warning(f"{e}: killing and destroying it anyway (--force)")
            status = "unknown"
        if status != "stopped":
            if status != "created" and not force:
                raise WrongState(
                    f'cannot delete container "{container_id}" that is {status}: '
                    "stop it first, or use --force"
                )
            try:
                backend.signal(st, 9, True)
            except EderaError as e:
                log.debug(f"kill before delete: {e}")
        backend.destroy(st)
        rt.store.remove(container_id)
    run_hooks("poststop", Hooks.from_dict(st.hooks).poststop, st.oci_state("stopped"))


def _sweep_unknown(rt: Runtime, container_id: str) -> bool:
    """delete --force of an id with no state: remove what a container of this id would
    have left in dom0, holding the id meanwhile. False if the id was created meanwhile.
    An id that left nothing (an engine deleting again what its pod's end removed) is not
    claimed at all: a claim held through a sweep the engine cuts off would stay behind."""
    try:
        backend = rt.backend()
    except EderaError:
        return True
    left_traces = getattr(backend, "left_traces", None)
    if left_traces is not None and not left_traces(rt.store.dir(container_id), container_id):
        return True
    try:
        if not os.path.isdir(rt.root):
            _sweep(rt, rt.store.dir(container_id), container_id)
            return True
        with rt.store.claim(container_id) as state_dir:
            try:
                _sweep(rt, state_dir, container_id)
            finally:
                rt.store.remove(container_id)
    except AlreadyExists:
        return False
    return True


def _sweep(rt: Runtime, state_dir: str, container_id: str) -> None:
    """The backend's sweep of what a container of this id would have left; its failure is a
    warning (the id has no state to keep)."""
    try:
        backend = rt.backend()
    except EderaError:
        return
    sweep = getattr(backend, "sweep", None)
    if sweep is None:
        return
    try:
        sweep(state_dir, container_id)
    except EderaError as e:
        log.warning(f'container "{container_id}" has no state; sweeping what it might '
                    f"have left failed: {e}")
