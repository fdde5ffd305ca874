"""Leave the process without the interpreter's teardown.

When a command returns, its work is done and written: log entries are single ``write(2)``
calls, the monitor's log is line-buffered, and stdout and stderr are flushed here. Nothing in
edera-oci registers ``atexit`` handlers or starts threads. Tearing the interpreter down
(freeing every loaded module) would still cost each call about 0.3 s in the lab's emulated
dom0 (a few ms on real hardware), on the path of every call an engine makes.
"""

from __future__ import annotations

import os
import sys
from contextlib import suppress


# (no typing.NoReturn: importing typing alone costs `state` 5 ms on the host)
def exit_now(code: int | str | None) -> None:
    """``sys.exit(code)`` semantics (None is 0, a string is printed and is 1), then _exit.

    Never returns."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code & 0xFF
    else:
        with suppress(OSError, ValueError):
            print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


def call_and_exit(entry) -> None:
    """Run a ``main`` that returns or raises SystemExit, then :func:`exit_now` with its code."""
    try:
        code = entry()
    except SystemExit as e:
        code = e.code
    exit_now(code)
