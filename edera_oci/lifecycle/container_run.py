"""``run``: ``create`` + ``start``, then (unless ``--detach``) wait and exit like the process.

In the foreground the monitor is this process's child (the backend's contract), so its exit
status is the container's: ``waitpid`` gives it, mapped like shells and engines do (code,
or 128 + signal). Signals sent to ``run`` meanwhile are forwarded to the container. After
the container exits it is deleted, unless ``--keep``. A failed ``start`` deletes the
container it created.
"""

from __future__ import annotations

import os
import signal
from contextlib import suppress

from edera_oci.errors import EderaError, ZoneError
from edera_oci.lifecycle.common import Runtime
from edera_oci.lifecycle.container_create import create
from edera_oci.lifecycle.container_delete import delete
from edera_oci.lifecycle.container_start import start
from edera_oci.logs import log
from edera_oci.phases import Phases
from edera_oci.state import ContainerState

FORWARDED_SIGNALS = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def exit_code(wait_status: int) -> int:
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def wait_for_monitor(rt: Runtime, st: ContainerState) -> int:
    """Wait for the monitor (our child), forwarding signals to the container meanwhile."""
    try:
        reaped, status = os.waitpid(st.pid, os.WNOHANG)
    except ChildProcessError:
        raise ZoneError(
            f"the zone backend did not keep the monitor (pid {st.pid}) as a child of run"
        ) from None
    if reaped:  # it had already exited: this call reaped it
        return exit_code(status)

    def forward(signo: int, _frame: object) -> None:
        try:
            rt.backend().signal(st, signo, False)
        except EderaError as e:
            log.warning(f"could not forward signal {signo}: {e}")

    previous = {s: signal.signal(s, forward) for s in FORWARDED_SIGNALS}
    try:
        _, status = os.waitpid(st.pid, 0)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return exit_code(status)


def run(
    rt: Runtime,
    container_id: str,
    bundle: str,
    *,
    pid_file: str | None = None,
    console_socket: str | None = None,
    preserve_fds: int = 0,
    no_pivot: bool = False,
    no_new_keyring: bool = False,
    detach: bool = False,
    keep: bool = False,
) -> int:
    st = create(
        rt,
        container_id,
        bundle,
        pid_file=pid_file,
        console_socket=console_socket,
        preserve_fds=preserve_fds,
        no_pivot=no_pivot,
        no_new_keyring=no_new_keyring,
        detach=detach,
    )
    clock = Phases()
    try:
        start(rt, container_id)
    except BaseException:
        with suppress(EderaError):
            delete(rt, container_id, force=True)
        if not detach:
            with suppress(ChildProcessError):
                os.waitpid(st.pid, 0)
        raise
    clock.mark("start")
    if detach:
        return 0
    try:
        code = wait_for_monitor(rt, st)
        clock.mark("wait")
    finally:
        if not keep:
            try:
                delete(rt, container_id, force=True)
            except EderaError as e:
                log.warning(f'could not delete container "{container_id}" after it exited: {e}')
            clock.mark("delete")
    log.debug(f"run phases (s): {clock.summary()}")
    return code
