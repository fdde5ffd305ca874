"""OCI hooks, run on the host (dom0) with the container's state JSON on stdin.

When (see ``edera_oci/lifecycle``):

* ``create``: ``prestart``, ``createRuntime``, ``createContainer``, in the runtime-spec's
  order, once the zone's monitor exists (its pid is the state's ``pid``; docker's prestart
  hook ``libnetwork-setkey`` needs it). The state they get says ``created``: the spec's
  lifecycle runs them after the create step, and runtime-tools checks that prestart sees
  ``created``.
* ``start``: ``startContainer`` (on the host, not inside the zone: there is no host-side
  process in the container's namespaces to run it in), then the workload is released,
  then ``poststart`` (state ``running``) before ``start`` returns.
* ``delete``: ``poststop`` after the zone is gone (state ``stopped``).

A hook is ``path`` exec'd with ``args`` as its argv (``[path]`` when absent) and ``env`` as
its whole environment (the runtime's own environment when ``env`` is absent, as runc does).
``timeout`` (seconds) kills the hook (its whole process group) and fails. A non-zero exit
fails the operation, except for ``poststart`` and ``poststop``: as the runtime-spec says, their
failures only log a warning, and the next hooks and the lifecycle go on. The hook's output is
captured in a temp file (not a pipe, so a daemon it leaves behind cannot hang us) and quoted
in the error.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterable
from typing import Any

from edera_oci.errors import HookError
from edera_oci.logs import log
from edera_oci.spec import HOOK_KINDS, Hook

OUTPUT_TAIL = 2000
# runtime-spec: "If any poststart hook fails, the runtime MUST log a warning, but the remaining
# hooks and lifecycle continue as if the hook had succeeded" (and the same for poststop).
WARN_ONLY_KINDS = ("poststart", "poststop")


def _env(hook: Hook) -> dict[str, str]:
    if hook.env is None:
        return dict(os.environ)
    env: dict[str, str] = {}
    for item in hook.env:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def _tail(f: Any) -> str:
    f.seek(0)
    text = f.read().decode("utf-8", "replace").strip()
    return text[-OUTPUT_TAIL:]


def run_hook(kind: str, hook: Hook, state: dict[str, Any]) -> None:
    """Run one hook; HookError if it cannot start, fails or times out."""
    argv = list(hook.args) if hook.args else [hook.path]
    data = json.dumps(state).encode()
    import tempfile  # only when a hook runs: its imports cost 60 ms of every start in the lab

    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(
                argv,
                executable=hook.path,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=out,
                env=_env(hook),
                close_fds=True,
                start_new_session=True,
            )
        except OSError as e:
            raise HookError(f"{kind} hook {hook.path}: cannot run it: {e.strerror}") from None
        try:
            try:
                proc.stdin.write(data)
            except BrokenPipeError:
                pass  # the hook does not read its stdin: fine
            finally:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
            status = proc.wait(timeout=hook.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise HookError(
                f"{kind} hook {hook.path} timed out after {hook.timeout}s and was killed"
            ) from None
        except BaseException:
            _kill_group(proc)
            raise
        if status != 0:
            how = f"exit status {status}" if status > 0 else f"killed by signal {-status}"
            output = _tail(out)
            detail = f": {output}" if output else ""
            raise HookError(f"{kind} hook {hook.path} failed ({how}){detail}")
        log.debug(f"{kind} hook {hook.path} succeeded")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


def run_hooks(kind: str, hooks: Iterable[Hook], state: dict[str, Any]) -> None:
    """Run the hooks of one kind in order; poststart and poststop failures only warn."""
    if kind not in HOOK_KINDS:
        raise ValueError(f"unknown hook kind {kind!r}")
    for hook in hooks:
        try:
            run_hook(kind, hook, state)
        except HookError as e:
            if kind not in WARN_ONLY_KINDS:
                raise
            log.warning(str(e))
