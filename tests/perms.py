"""Find files the runtime made that others could read (host and lab tests share this).

Everything edera-oci creates under ``--root`` and in a zone's disk directory may hold a
secret (argv and env in ``spec.bin``, exec requests, logs, disk images with copies of the
rootfs and bind sources): nothing there may be readable, writable or searchable by the group
or others. A lab test imports :func:`exposed` and asserts it returns nothing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable


def exposed(*tops: str | os.PathLike, allow: Iterable[str] = ()) -> list[str]:
    """``path mode`` of each directory or file under (and including) ``tops`` whose mode
    gives the group or others any access; symlinks are not followed and not reported.

    ``allow``: paths (absolute) that may be exposed on purpose.
    """
    allowed = {os.path.abspath(p) for p in allow}
    found: list[str] = []
    for top in tops:
        top = os.path.abspath(top)
        if not os.path.lexists(top):
            continue
        paths = [top]
        if os.path.isdir(top) and not os.path.islink(top):
            for parent, dirs, files in os.walk(top):
                paths.extend(os.path.join(parent, name) for name in dirs + files)
        for path in paths:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode) or path in allowed:
                continue
            if st.st_mode & 0o077:
                found.append(f"{path} {stat.S_IMODE(st.st_mode):04o}")
    return sorted(found)
