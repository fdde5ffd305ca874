"""Entry point of ``edera-oci`` (console script ``edera_oci.cli.main:main``).

Start-up cost matters: engines and runtime-tools poll ``state`` once per second per
container, and each call is a new interpreter. So ``main`` first tries a tiny hand parser
that understands exactly the global options and ``state <id>``; when it matches, the answer
comes from ``edera_oci.lifecycle.container_state`` and ``edera_oci.statefile`` alone, without
importing click (which alone costs more than the whole budget on this machine). Anything else
(other verbs, ``--help``, unusual spellings) goes through the full click app in ``app.py``,
which loads verb modules lazily. Both paths print the same JSON and the same errors.

The umask is 077 before anything else: every file and directory the runtime and its children
(the zone monitors, which inherit it) create is private to root unless it is made otherwise
on purpose. They hold secrets: the container's argv and env (``spec.bin``, exec requests),
logs, and disk images with copies of the rootfs and of bind sources.
"""

from __future__ import annotations

import json
import os
import sys

UMASK = 0o077

ROOT_DEFAULT = "/run/edera-oci"
_VALUE_OPTIONS = {"--root", "--log", "--log-format", "--rootless"}
_FLAG_OPTIONS = {"--debug", "--systemd-cgroup"}


def parse_globals(argv: list[str]) -> tuple[dict[str, object], list[str]] | None:
    """Split leading global options from the verb; None if anything is unusual."""
    opts: dict[str, object] = {
        "--root": ROOT_DEFAULT,
        "--log": None,
        "--log-format": "text",
        "--debug": False,
        "--systemd-cgroup": False,
        "--rootless": "auto",
    }
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-"):
            break
        name, eq, value = arg.partition("=")
        if name in _FLAG_OPTIONS and not eq:
            opts[name] = True
            i += 1
        elif name in _VALUE_OPTIONS:
            if not eq:
                if i + 1 >= len(argv):
                    return None
                value = argv[i + 1]
                i += 1
            opts[name] = value
            i += 1
        else:
            return None
    if opts["--log-format"] not in ("text", "json") or opts["--rootless"] not in (
        "auto",
        "false",
    ):
        return None
    return opts, argv[i:]


def _fast_state(opts: dict[str, object], rest: list[str]) -> int | None:
    if len(rest) != 2 or rest[0] != "state" or rest[1].startswith("-"):
        return None
    from edera_oci.errors import EderaError
    from edera_oci.lifecycle.container_state import container_state
    from edera_oci.logs import log

    log.configure(opts["--log"], opts["--log-format"], bool(opts["--debug"]))  # type: ignore[arg-type]
    try:
        doc = container_state(str(opts["--root"]), rest[1])
    except EderaError as e:
        log.error(str(e))
        return e.exit_code
    except OSError as e:
        log.error(os_error_message(e))
        return 1
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    return 0


def os_error_message(e: OSError) -> str:
    """One line for an OSError that nothing more specific caught (never a traceback)."""
    where = f" ({e.filename})" if e.filename else ""
    return f"{e.strerror or e}{where}"


def main(argv: list[str] | None = None) -> None:
    os.umask(UMASK)
    args = list(sys.argv[1:] if argv is None else argv)
    parsed = parse_globals(args)
    if parsed is not None:
        code = _fast_state(*parsed)
        if code is not None:
            sys.exit(code)
    from edera_oci.cli.app import run_app

    sys.exit(run_app(args, parsed[0] if parsed else None))


def console_main() -> None:
    """The ``edera-oci`` console script: :func:`main`, then exit without interpreter teardown."""
    from edera_oci.process_exit import call_and_exit

    call_and_exit(main)


if __name__ == "__main__":
    console_main()
