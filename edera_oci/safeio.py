"""Reading files and JSON that someone else may have planted or shaped.

Why: the runtime runs as root in dom0 and reads files whose path or content it does not
control: a bundle's ``config.json`` (a FIFO hangs a plain ``open``, ``/dev/zero`` grows a plain
``read`` to gigabytes), ``exec --process`` and ``update --resources`` files, and the state files
under ``--root`` (a symlink planted there must not redirect a read or a write). So:

* :func:`read_regular_file` opens without blocking (``O_NONBLOCK``: a FIFO's open returns at
  once), optionally without following a final symlink (``O_NOFOLLOW``) and relative to a
  directory descriptor, refuses anything but a regular file, and reads at most ``limit``
  bytes;
* :func:`loads_strict` parses JSON the way Go's decoder (runc's) does: no ``NaN`` or
  ``Infinity``, no number that overflows a float, no lone UTF-16 surrogate (``"\\udcff"``),
  and a document nested too deeply is an error, not a ``RecursionError``.

Both raise :class:`FileRefused` / ``ValueError`` with a short reason; callers wrap it in the
error type of their layer (``ConfigError``, ``StateCorrupt``) and name the file.

Cheap to import (``os``, ``json``, ``stat`` only): ``state`` loads it on its fast path.
"""

from __future__ import annotations

import json
import math
import os
import stat

MiB = 1 << 20

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a unix socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISLNK, "a symbolic link"),
)


class FileRefused(ValueError):
    """The file is missing, not a regular file, too large or unreadable (``reason`` says)."""

    def __init__(self, reason: str, missing: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


def kind_of(mode: int) -> str:
    """``a FIFO``, ``a unix socket``, ... for a non-regular file's ``st_mode``."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def read_regular_file(
    path: str, limit: int, *, dir_fd: int | None = None, follow: bool = True
) -> bytes:
    """The whole content of a regular file of at most ``limit`` bytes; FileRefused otherwise.

    With ``follow=False`` a symlink as the last component is refused (``O_NOFOLLOW``).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        raise FileRefused("not found", missing=True) from None
    except OSError as e:
        if e.errno == 40 and not follow:  # ELOOP: the last component is a symlink
            raise FileRefused("is a symbolic link (not followed)") from None
        raise FileRefused(f"cannot open it: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(f"is {kind_of(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise FileRefused(f"is {st.st_size} bytes, more than the limit of {_size(limit)}")
        chunks = []
        total = 0
        while True:  # the file may grow while we read: never read past the limit
            try:
                chunk = os.read(fd, min(limit + 1 - total, 1 << 20) or 1)
            except OSError as e:
                raise FileRefused(f"cannot read it: {e.strerror}") from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise FileRefused(f"is more than the limit of {_size(limit)}")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n % MiB == 0 else f"{n} bytes"


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def loads_strict(data: bytes | str) -> object:
    """``json.loads`` that accepts only what strict JSON decoders (Go's) accept.

    Raises ``ValueError`` (``json.JSONDecodeError`` keeps its position) for syntax errors,
    invalid UTF-8, NaN/Infinity, numbers out of range (a float overflow, an int of more than
    4300 digits), lone surrogates and documents nested too deeply to parse.
    """
    try:
        doc = json.loads(data, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 ({e.reason})") from None
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    # A lone surrogate comes from a \\uD800-\\uDFFF escape, or from bytes ED A0-BF xx that
    # json decodes with "surrogatepass": look only then.
    if b"\\ud" in raw or b"\\uD" in raw or b"\xed" in raw:
        where = lone_surrogate(doc)
        if where is not None:
            where = where.lstrip(".") or "(document)"
            raise ValueError(f"{where}: a string holds a lone UTF-16 surrogate")
    return doc


def lone_surrogate(doc: object) -> str | None:
    """The path of the first string (key or value) that is not valid Unicode, else None."""
    todo: list[tuple[object, str]] = [(doc, "")]
    while todo:
        node, where = todo.pop()
        if isinstance(node, str):
            if not _valid(node):
                return where
        elif isinstance(node, dict):
            for key, value in node.items():
                sub = f"{where}.{key}" if _valid(key) else f"{where}.{key!r}"
                if not _valid(key):
                    return sub
                todo.append((value, sub))
        elif isinstance(node, list):
            todo.extend((item, f"{where}[{i}]") for i, item in enumerate(node))
    return None


def _valid(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
