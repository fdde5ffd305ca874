"""Diagnostics: stderr and the ``--log`` file, in runc's formats.

containerd's shim passes ``--log <bundle>/log.json --log-format json`` and, after a failed
command, shows the user the ``msg`` of the last line whose ``"level"`` is ``"error"``. So:

* with ``--log FILE``: every entry goes to FILE (opened ``O_APPEND``, one ``write`` per
  entry), as ``{"level": ..., "msg": ..., "time": RFC 3339}`` with ``--log-format json`` or
  as logrus-style ``time="..." level=... msg="..."`` text;
* errors are *also* printed on stderr as ``edera-oci: <msg>`` (conmon and runtime-tools read
  stderr); other levels go to stderr only when there is no ``--log``;
* ``debug`` entries are dropped unless ``--debug`` was given.

Kept free of heavy imports: ``state`` loads this module on its fast path.
"""

from __future__ import annotations

import json
import os
import sys
import time

LEVELS = ("debug", "info", "warning", "error")
PROG = "edera-oci"


def _rfc3339_now() -> str:
    now = time.time()
    frac = int((now % 1) * 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{frac:09d}Z"


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


class Logger:
    """Process-wide logger configured from the global CLI options."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.format = "text"
        self.debug_enabled = False
        self._fd: int | None = None
        self._file_failed = False

    def configure(self, path: str | None, log_format: str = "text", debug: bool = False) -> None:
        if log_format not in ("text", "json"):
            raise ValueError(f"unknown log format {log_format!r}")
        self.close()
        self.path = path or None
        self.format = log_format
        self.debug_enabled = debug
        self._file_failed = False

    def close(self) -> None:
        if self._fd is not None:
            try:  # noqa: SIM105 - contextlib costs start-up time on the state fast path
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None

    def _file_fd(self) -> int | None:
        if self.path is None or self._file_failed:
            return None
        if self._fd is None:
            try:
                self._fd = os.open(
                    self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644
                )
            except OSError as e:
                self._file_failed = True
                self._stderr(f"warning: cannot open log file {self.path}: {e.strerror}")
                return None
        return self._fd

    @staticmethod
    def _stderr(line: str) -> None:
        try:
            sys.stderr.write(f"{PROG}: {line}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass

    def format_entry(self, level: str, msg: str) -> str:
        when = _rfc3339_now()
        if self.format == "json":
            entry = {"level": level, "msg": msg, "time": when}
            return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        return f'time="{when}" level={level} msg={_quote(msg)}'

    def log(self, level: str, msg: str) -> None:
        if level not in LEVELS:
            raise ValueError(f"unknown log level {level!r}")
        if level == "debug" and not self.debug_enabled:
            return
        fd = self._file_fd()
        if fd is not None:
            data = (self.format_entry(level, msg) + "\n").encode("utf-8", "replace")
            try:  # noqa: SIM105 - see above
                os.write(fd, data)
            except OSError:
                pass
        if level == "error":
            self._stderr(msg)
        elif fd is None:
            self._stderr(f"{level}: {msg}")

    def debug(self, msg: str) -> None:
        self.log("debug", msg)

    def info(self, msg: str) -> None:
        self.log("info", msg)

    def warning(self, msg: str) -> None:
        self.log("warning", msg)

    def error(self, msg: str) -> None:
        self.log("error", msg)


log = Logger()
