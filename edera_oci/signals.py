"""Parse a signal the way runc's ``kill`` does: ``TERM``, ``SIGTERM``, ``term`` or ``15``.

runtime-tools passes names without ``SIG``, containerd and podman pass numbers. Real-time
signals can be named ``RTMIN``, ``RTMIN+3``, ``RTMAX-1``.
"""

from __future__ import annotations

import signal

from edera_oci.errors import UsageError


def parse_signal(raw: str) -> int:
    text = raw.strip()
    if not text:
        raise UsageError("unknown signal ''")
    rtmin, rtmax = signal.SIGRTMIN.value, signal.SIGRTMAX.value
    if text.isdigit():
        signo = int(text)
        if 1 <= signo <= rtmax:
            return signo
        raise UsageError(f"unknown signal {raw!r}: numbers go from 1 to {rtmax}")
    name = text.upper()
    if name.startswith("SIG"):
        name = name[3:]
    for base, value, sign in (("RTMIN", rtmin, 1), ("RTMAX", rtmax, -1)):
        if name == base:
            return value
        if name.startswith(base) and name[len(base) : len(base) + 1] in ("+", "-"):
            offset = name[len(base) + 1 :]
            if offset.isdigit() and name[len(base)] == ("+" if sign > 0 else "-"):
                signo = value + sign * int(offset)
                if rtmin <= signo <= rtmax:
                    return signo
            raise UsageError(f"unknown signal {raw!r}")
    member = getattr(signal.Signals, "SIG" + name, None)
    if member is None or name in ("RTMIN", "RTMAX"):
        raise UsageError(f"unknown signal {raw!r}")
    return int(member)


def signal_name(signo: int) -> str:
    try:
        return signal.Signals(signo).name
    except ValueError:
        return str(signo)
