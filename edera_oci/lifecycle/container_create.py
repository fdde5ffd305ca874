"""``create``: validate the bundle, claim the id, have the backend build the zone, run hooks.

Order matters and is the point of this module:

1. Everything that can be checked without side effects is checked first (id, bundle and
   config.json, console socket, pid file directory, preserved fds, duplicate id, backend
   availability): a bad request leaves nothing under ``--root`` and touches nothing else.
   Each config.json field a zone accepts but does not apply gets a warning line
   (``edera_oci.support``).
2. ``mkdir <root>/<id>`` claims the id atomically; its lock is held until ``create``
   returns. ``state.json`` says ``creating`` meanwhile.
3. The backend builds the zone and its monitor and calls back once the monitor exists; the
   callback records the pid and runs ``prestart``, ``createRuntime``, ``createContainer``.
4. The state becomes ``created``; the pid file is written last, atomically.

Any failure undoes everything: the backend cleans up after itself when ``create`` raises
(its contract), later failures call ``destroy``, and the state directory is removed. If a
hook failed, ``poststop`` hooks still run (the spec's lifecycle continues at "destroy").
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from edera_oci import support
from edera_oci.errors import AlreadyExists, EderaError, ZoneError
from edera_oci.hooks import run_hooks
from edera_oci.lifecycle.backend import CreateRequest, checkpoint
from edera_oci.lifecycle.common import (
    Runtime,
    check_console_socket,
    check_pid_file,
    check_preserve_fds,
    check_terminal,
    owner_name,
    write_pid_file,
)
from edera_oci.logs import log
from edera_oci.phases import Phases, seconds_since_process_start
from edera_oci.spec import Spec
from edera_oci.state import ContainerState, now_rfc3339, process_start_time, validate_id
from edera_oci.validate import load_bundle

CREATE_HOOKS = ("prestart", "createRuntime", "createContainer")
# Engines stop a runtime that passes their deadline; a terminal user presses ^C.
INTERRUPTING_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Interrupted(EderaError):
    """create was stopped by a signal; raised where it stood, so it undoes what it made."""


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM, SIGINT and SIGHUP raise Interrupted (once: the cleanup is not interrupted)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signo: int, _frame: object) -> None:
        for s in INTERRUPTING_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted(f"create was interrupted by {signal.Signals(signo).name}: "
                          "what it had made was removed")

    previous = {s: signal.signal(s, interrupt) for s in INTERRUPTING_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def create(
    rt: Runtime,
    container_id: str,
    bundle: str,
    *,
    pid_file: str | None = None,
    console_socket: str | None = None,
    preserve_fds: int = 0,
    no_pivot: bool = False,
    no_new_keyring: bool = False,
    detach: bool = True,
) -> ContainerState:
    clock = Phases()
    startup = seconds_since_process_start()  # interpreter and imports, until this call
    validate_id(container_id)
    bundle = os.path.abspath(bundle)
    spec = load_bundle(bundle, for_create=True)
    assert spec.process is not None and spec.root is not None  # load_bundle(for_create)
    for line in support.warnings(spec.raw):  # what a zone accepts and does not apply
        log.warning(f"config.json: {line}")
    console_socket = check_console_socket(console_socket)
    check_terminal(spec.process.terminal, console_socket, detach, "process")
    pid_path = check_pid_file(pid_file)
    check_preserve_fds(preserve_fds)
    if rt.store.exists(container_id):
        raise AlreadyExists(container_id)
    clock.mark("validate")
    backend = rt.backend()
    backend.check_available()

    with interruptible(), rt.store.claim(container_id) as state_dir:
        st = ContainerState(
            id=container_id,
            bundle=bundle,
            rootfs=spec.root.path,
            created=now_rfc3339(),
            status="creating",
            annotations=dict(spec.annotations),
            owner=owner_name(),
            oci_version=spec.oci_version,
            hooks=dict(spec.raw.get("hooks") or {}),
        )
        hooks_ran: list[str] = []
        hook_failed = False

        def run_create_hooks(monitor_state: ContainerState) -> None:
            nonlocal hook_failed
            if hooks_ran:
                raise ZoneError("internal error: the zone backend ran the create hooks twice")
            hooks_ran.append("yes")
            st.pid = monitor_state.pid
            st.pid_start = process_start_time(st.pid)
            rt.store.save(st)
            hook_input = st.oci_state("created")
            for kind in CREATE_HOOKS:
                try:
                    run_hooks(kind, spec.hooks.of(kind), hook_input)
                except BaseException:
                    hook_failed = True
                    raise

        def record_zone(zone: dict) -> None:
            st.zone = dict(zone)
            rt.store.save(st)

        zone = None
        try:
            rt.store.save_config(container_id, spec.raw)
            st.zone = {"state_dir": state_dir}  # what the zone's names derive from
            rt.store.save(st)
            checkpoint("claimed")
            req = CreateRequest(
                id=container_id,
                bundle=bundle,
                spec=spec,
                state_dir=state_dir,
                console_socket=console_socket,
                preserve_fds=preserve_fds,
                detach=detach,
                no_pivot=no_pivot,
                no_new_keyring=no_new_keyring,
                record_zone=record_zone,
            )
            clock.mark("prepare")
            zone = backend.create(req, run_create_hooks)
            clock.mark("zone")
            checkpoint("ready")
        except BaseException:
            if zone is not None:  # interrupted right after the backend returned
                st.zone = dict(zone)
                with suppress(Exception):
                    backend.destroy(st)
            rt.store.remove(container_id)
            if hook_failed:
                run_hooks("poststop", spec.hooks.poststop, st.oci_state("stopped"))
            raise

        try:
            try:
                monitor_pid = int(zone["monitor_pid"])
            except (KeyError, TypeError, ValueError):
                raise ZoneError(
                    "internal error: the zone backend returned no monitor_pid"
                ) from None
            st.zone = dict(zone)
            st.pid = monitor_pid
            st.pid_start = process_start_time(monitor_pid)
            if not hooks_ran:
                run_create_hooks(st)
            st.status = "created"
            rt.store.save(st)
            if pid_path:
                write_pid_file(pid_path, monitor_pid)
        except BaseException:
            with suppress(Exception):
                backend.destroy(st)
            rt.store.remove(container_id)
            if hook_failed:
                run_hooks("poststop", spec.hooks.poststop, st.oci_state("stopped"))
            raise
    clock.mark("finish")
    log.debug(f"cli phases (s): startup={startup:.3f} {clock.summary()}")
    log.debug(f'created container "{container_id}" (monitor pid {st.pid})')
    return st


def spec_of(rt: Runtime, container_id: str) -> Spec:
    """The config as it was at create (for exec and hooks)."""
    return Spec.from_dict(rt.store.load_config(container_id))
