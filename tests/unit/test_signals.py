from __future__ import annotations

import signal

import pytest

from edera_oci.errors import UsageError
from edera_oci.signals import parse_signal, signal_name


@pytest.mark.parametrize("text,expected", [
    ("TERM", signal.SIGTERM), ("SIGTERM", signal.SIGTERM), ("term", signal.SIGTERM),
    ("sigkill", signal.SIGKILL), ("9", 9), ("15", 15), ("USR1", signal.SIGUSR1),
    ("WINCH", signal.SIGWINCH), ("RTMIN", signal.SIGRTMIN), ("RTMIN+2", signal.SIGRTMIN + 2),
    ("SIGRTMAX-1", signal.SIGRTMAX - 1), (str(int(signal.SIGRTMAX)), signal.SIGRTMAX),
])
def test_parse(text, expected):
    assert parse_signal(text) == int(expected)


@pytest.mark.parametrize("text", ["", "FOO", "SIGFOO", "0", "-9", "999", "RTMIN-1", "RTMAX+1",
                                  "RTMIN+x", "9x", "SIG"])
def test_unknown(text):
    with pytest.raises(UsageError, match="unknown signal"):
        parse_signal(text)


def test_names():
    assert signal_name(9) == "SIGKILL"
    assert signal_name(1000) == "1000"
