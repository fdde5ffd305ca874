"""``exec``: start another process in a created or running container's zone.

The process is either a whole runtime-spec Process (``--process FILE``, what containerd
and conmon pass) or the container's own process with ``args`` replaced and the flags
applied (``--env``, ``--cwd``, ``--user``, ``--additional-gids``, ``--tty``), like runc.
Options that would silently lose their meaning are refused: ``--env``/``--cwd``/``--user``/
``--additional-gids`` with ``--process``, or ``--tty`` when the process file says
``terminal: false``.

The container lock is held only while the status is checked: an attached exec can last as
long as the process does, and must not block ``kill`` or ``state``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from edera_oci import support
from edera_oci.errors import UsageError
from edera_oci.lifecycle.backend import ExecRequest
from edera_oci.lifecycle.common import (
    Runtime,
    check_console_socket,
    check_pid_file,
    check_preserve_fds,
    check_terminal,
    require_status,
    write_pid_file,
)
from edera_oci.logs import log
from edera_oci.validate import read_json_file, validate_process


@dataclass
class ExecOptions:
    """The ``exec`` command line, before it becomes a Process."""

    args: tuple[str, ...] = ()
    process_file: str | None = None
    detach: bool = False
    pid_file: str | None = None
    console_socket: str | None = None
    tty: bool = False
    env: tuple[str, ...] = ()
    cwd: str | None = None
    user: str | None = None
    additional_gids: tuple[int, ...] = ()
    preserve_fds: int = 0


def parse_user(text: str) -> tuple[int, int | None]:
    """``uid`` or ``uid:gid``, numbers only (names would need the container's passwd)."""
    uid_text, sep, gid_text = text.partition(":")
    try:
        uid = int(uid_text)
        gid = int(gid_text) if sep else None
    except ValueError:
        raise UsageError(f"--user {text!r}: expected uid[:gid] as numbers") from None
    if uid < 0 or (gid is not None and gid < 0):
        raise UsageError(f"--user {text!r}: ids must not be negative")
    return uid, gid


def build_process(base: dict[str, Any] | None, opts: ExecOptions) -> dict[str, Any]:
    """The Process document to run, from ``--process`` or from the container's process."""
    if opts.process_file:
        if opts.args:
            raise UsageError("give the command either in --process or as arguments, not both")
        for flag, value in (
            ("--env", opts.env),
            ("--cwd", opts.cwd),
            ("--user", opts.user),
            ("--additional-gids", opts.additional_gids),
        ):
            if value:
                raise UsageError(f"{flag} cannot be combined with --process")
        proc = read_json_file(opts.process_file, "process file")
        if opts.tty and isinstance(proc, dict) and not proc.get("terminal", False):
            raise UsageError("--tty given but the --process file says terminal: false")
        return proc
    if not opts.args:
        raise UsageError("exec needs a command (arguments after the container id) or --process")
    proc = copy.deepcopy(base or {})
    proc.setdefault("cwd", "/")
    proc["args"] = list(opts.args)
    proc["terminal"] = opts.tty
    proc.pop("consoleSize", None)
    if opts.env:
        proc["env"] = list(proc.get("env") or []) + list(opts.env)
    if opts.cwd:
        proc["cwd"] = opts.cwd
    user = dict(proc.get("user") or {})
    user.setdefault("uid", 0)
    user.setdefault("gid", 0)
    if opts.user:
        uid, gid = parse_user(opts.user)
        user["uid"] = uid
        if gid is not None:
            user["gid"] = gid
    if opts.additional_gids:
        user["additionalGids"] = list(opts.additional_gids)
    proc["user"] = user
    return proc


def exec_process(rt: Runtime, container_id: str, opts: ExecOptions) -> int:
    """Run the process; returns 0 after a detached start, else the process's exit status."""
    console_socket = check_console_socket(opts.console_socket)
    pid_path = check_pid_file(opts.pid_file)
    check_preserve_fds(opts.preserve_fds)
    with rt.store.locked(container_id):
        st = rt.store.load(container_id)
        require_status(rt, st, ("created", "running"), "exec in")
        base = rt.store.load_config(container_id).get("process")
    proc_doc = build_process(base, opts)
    process = validate_process(proc_doc, opts.process_file or "exec process")
    if opts.process_file:  # the container's own process was warned about at create
        for line in support.warnings(proc_doc, "process"):
            log.warning(f"{opts.process_file}: {line}")
    check_terminal(process.terminal, console_socket, opts.detach, "process")
    req = ExecRequest(
        process=process,
        detach=opts.detach,
        console_socket=console_socket,
        preserve_fds=opts.preserve_fds,
    )
    result = rt.backend().exec(st, req)
    if opts.detach:
        if pid_path:
            write_pid_file(pid_path, result)
        return 0
    return result
