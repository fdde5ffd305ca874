"""The only door from the lifecycle to zones: the ``ZoneBackend`` protocol.

The lifecycle (this package) owns the OCI semantics: ids, state files, locking, hooks, the
state machine and pid files. A backend owns everything Xen: domains, disk images, loop
devices, vifs, XenStore, the per-container monitor process. The real backend is
``edera_oci.zone.backend:XenZoneBackend`` (the Xen side of the project), imported lazily by
:func:`get_backend` so that commands which never touch a zone stay cheap.

Contract details the lifecycle relies on:

* ``create`` spawns the monitor as a child of the calling process that outlives it (the
  engine's shim/conmon is a subreaper and reaps it; ``run`` waits for it with ``waitpid``),
  calls ``run_hooks`` exactly once as soon as the monitor exists (its pid is the container's
  pid the hooks see; docker's prestart hook needs it and its netns), and returns the opaque
  ``zone`` dict, which must contain ``"monitor_pid"``. On any failure, including a
  ``HookError`` raised by ``run_hooks``, it removes everything it made and raises
  (``ZoneError``, or the ``HookError`` itself). Before each side effect it hands the zone
  dict, with the names of what it is about to make, to ``req.record_zone`` (write-ahead).
* ``destroy`` must work from a partial zone dict (a create killed half-way), deriving what
  was not recorded from ``zone["state_dir"]`` and the id.
* The monitor must close the descriptors it inherits from the runtime (the state lock is
  one of them); the console socket, stdio and ``preserve_fds`` are its to keep.
* ``status`` answers ``created | running | paused | stopped`` from Xen and the monitor. The
  lifecycle already reports ``stopped`` without asking when the monitor pid is gone.
* ``destroy`` is idempotent and leaves no domain, disk image, loop device, vif or XenStore
  subtree; it is called for stopped containers too (``delete``) and must not fail if the
  zone is already gone.
* Optional, for speed: ``state`` is polled once a second and must answer in a few tens of
  milliseconds, less than importing this backend takes. If a module
  ``edera_oci.zone.status`` exists with a function ``status(raw: dict) -> str | None``,
  ``state`` calls it (with the raw ``state.json`` dict, monitor known to be alive) instead
  of loading the full backend; it must import only cheap stdlib modules and answer like
  ``ZoneBackend.status``, or None to defer to the full backend.
* Errors are ``edera_oci.errors.ZoneError`` (or another ``EderaError``) with a message fit
  for the user.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from edera_oci.errors import BackendUnavailable, ZoneError
from edera_oci.spec import Process, Spec
from edera_oci.state import ContainerState

__all__ = [
    "BACKEND_PATH",
    "BackendUnavailable",
    "CreateRequest",
    "ExecRequest",
    "ZoneBackend",
    "ZoneError",
    "get_backend",
]

BACKEND_PATH = "edera_oci.zone.backend:XenZoneBackend"

# Tests only: ``EDERA_OCI_TEST_DIE_AT_PHASE=N`` (or ``N:TERM``, ``N:INT``) makes ``create``
# send itself SIGKILL (or that signal) on reaching the N-th phase of CREATE_PHASES (1-based),
# the way an engine whose deadline passed kills the runtime.
TEST_DIE_AT_PHASE = "EDERA_OCI_TEST_DIE_AT_PHASE"
CREATE_PHASES = ("claimed", "disk-dir", "disks", "monitor", "hooks", "domain", "network",
                 "booting", "ready")


def checkpoint(phase: str) -> None:
    """Where ``create`` stands; dies here when the test knob names this phase."""
    want = os.environ.get(TEST_DIE_AT_PHASE)
    if not want:
        return
    number, _, signame = want.partition(":")
    if number not in (str(CREATE_PHASES.index(phase) + 1), phase):
        return
    os.kill(os.getpid(), getattr(signal, "SIG" + (signame or "KILL").upper()))


@dataclass(frozen=True)
class CreateRequest:
    """Everything the backend needs to build a zone for one container.

    ``detach`` is False only for ``run`` in the foreground: then the monitor keeps the
    inherited stdio as the container's (a terminal when ``process.terminal`` is true and no
    console socket is given). The pid file is not here: the lifecycle writes it last.
    """

    id: str
    bundle: str
    spec: Spec
    state_dir: str
    console_socket: str | None = None
    preserve_fds: int = 0
    detach: bool = True
    no_pivot: bool = False
    no_new_keyring: bool = False
    # Write-ahead: the backend calls this with its zone dict before each side effect, and
    # the lifecycle records it in state.json, so a create killed anywhere names what it made.
    record_zone: Callable[[dict[str, Any]], None] | None = None


@dataclass(frozen=True)
class ExecRequest:
    """A process to start in a running zone (``exec``).

    ``process`` is a full runtime-spec Process (from ``--process`` or built from the
    container's own process and the exec flags). With ``detach`` the backend returns the
    pid of the exec's monitor (a child of the caller that outlives it; the lifecycle writes
    it to ``--pid-file``); without, it proxies stdio and returns the exit status
    (code, or 128 + signal).
    """

    process: Process
    detach: bool = False
    console_socket: str | None = None
    preserve_fds: int = 0


class ZoneBackend(Protocol):
    """What the lifecycle asks of zones (see the module docstring for the contract)."""

    def check_available(self) -> None:
        """Raise BackendUnavailable("this host is not a Xen dom0: ...") if zones can't run."""

    def create(
        self, req: CreateRequest, run_hooks: Callable[[ContainerState], None]
    ) -> dict[str, Any]:
        """Build the zone and its monitor; return the zone dict (with ``monitor_pid``)."""

    def start(self, state: ContainerState) -> None:
        """Release the workload (the zone runs ``process.args``)."""

    def signal(self, state: ContainerState, signo: int, all_processes: bool) -> None:
        """Deliver ``signo`` to the container process (or, with all_processes, to all)."""

    def status(self, state: ContainerState) -> str:
        """``created``, ``running``, ``paused`` or ``stopped``, from Xen and the monitor."""

    def destroy(self, state: ContainerState) -> None:
        """Tear everything down; idempotent."""

    def pause(self, state: ContainerState) -> None:
        """Pause the zone (all its vCPUs)."""

    def resume(self, state: ContainerState) -> None:
        """Undo ``pause``."""

    def pids(self, state: ContainerState) -> list[int]:
        """Host pids that belong to the container (its monitor(s))."""

    def stats(self, state: ContainerState) -> dict[str, Any]:
        """Resource usage, shaped like runc's ``events --stats`` ``data`` object."""

    def oom_kills(self, state: ContainerState) -> int:
        """How many of the container's processes the OOM killer ended so far (0: none)."""

    def update(self, state: ContainerState, resources: dict[str, Any],
               linux_devices: list[dict[str, Any]] | None = None) -> None:
        """Apply a validated LinuxResources document to the live zone, or raise: nothing is
        dropped silently. linux_devices: the config's ``linux.devices``, given when the
        document has device rules (runc's always-allowed rules depend on it)."""

    def exec(self, state: ContainerState, req: ExecRequest) -> int:
        """Start ``req.process`` in the zone; monitor pid (detach) or exit status."""


def get_backend() -> ZoneBackend:
    """The real backend, imported on first use; BackendUnavailable if it is not there."""
    module_name, _, class_name = BACKEND_PATH.partition(":")
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and (module_name == e.name or module_name.startswith(e.name + ".")):
            raise BackendUnavailable(
                f"zone backend not available: {module_name} is not installed"
            ) from None
        raise BackendUnavailable(f"zone backend not available: {e}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise BackendUnavailable(
            f"zone backend not available: {module_name} has no {class_name}"
        )
    return cls()
