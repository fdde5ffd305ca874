"""Errors the runtime reports to its caller.

Every error the CLI prints is one of these: the message is what the user (or containerd,
which reads the last ``"level":"error"`` line of ``--log``) sees, so it must say what went
wrong in plain words. All of them exit 1, like runc. Engines match some texts exactly:
``does not exist`` (no such container) and ``container not running`` (kill of a stopped
container); keep those words where they are used.
"""

from __future__ import annotations


class EderaError(Exception):
    """Base class: a runtime error with a user-facing message (exit status 1)."""

    exit_code = 1


class UsageError(EderaError):
    """Bad command-line input: a malformed id, an unknown signal, conflicting options."""


class ConfigError(EderaError):
    """The bundle or its config.json is missing, unparsable or invalid."""


class NotFound(EderaError):
    """No container with that id exists under --root."""

    def __init__(self, container_id: str):
        super().__init__(f'container "{container_id}" does not exist')
        self.container_id = container_id


class AlreadyExists(EderaError):
    """A container with that id already exists under --root."""

    def __init__(self, container_id: str):
        super().__init__(f'container "{container_id}" already exists')
        self.container_id = container_id


class WrongState(EderaError):
    """The operation is not allowed in the container's current state."""


class NotRunning(WrongState):
    """Signal to a container that is not created, running or paused (containerd's exact words)."""

    def __init__(self, container_id: str):
        super().__init__(f'container "{container_id}": container not running')
        self.container_id = container_id


class Unsupported(EderaError):
    """A verb, option or configuration that edera-oci does not implement (yet)."""


class HookError(EderaError):
    """An OCI hook failed, timed out or could not be started."""


class BackendUnavailable(EderaError):
    """The zone backend cannot work here (not a Xen dom0, or its module is missing)."""


class ZoneError(EderaError):
    """The zone backend failed to build, start, signal or destroy a zone."""
