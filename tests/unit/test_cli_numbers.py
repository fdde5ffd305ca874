"""Numbers and stdin that the CLI takes from its arguments: never a traceback, never unbounded.

`update --memory inf` used to reach int(float('inf')) (OverflowError), `--memory nan` and
`events --interval nan` slipped past the sign checks, and `update --resources -` read all of
stdin into memory whatever its size."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from edera_oci.cli.events import parse_duration
from edera_oci.cli.update import build_resources, parse_bytes
from edera_oci.errors import ConfigError, UsageError


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "Infinity", "1e400", "NaNm", "infg"])
def test_sizes_that_are_not_finite_are_usage_errors(text):
    with pytest.raises(UsageError, match="--memory"):
        parse_bytes(text, "--memory")


def test_sizes_still_parse():
    assert parse_bytes("512m", "--memory") == 512 << 20
    assert parse_bytes("1.5g", "--memory") == 3 << 29
    assert parse_bytes("-1", "--memory") == -1


@pytest.mark.parametrize("text", ["nan", "inf", "1e400s", "nanms"])
def test_durations_that_are_not_finite_are_usage_errors(text):
    with pytest.raises(UsageError, match="--interval"):
        parse_duration(text)


def test_resources_from_stdin_are_strict_and_bounded(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"pids": {"limit": 5}}')))
    assert build_resources("-", *[None] * 9) == {"pids": {"limit": 5}}
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"memory": {"limit": NaN}}')))
    with pytest.raises(ConfigError, match="stdin"):
        build_resources("-", *[None] * 9)
    big = b'{"x": "' + b"a" * (5 << 20) + b'"}'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(big)))
    with pytest.raises(ConfigError, match="larger than"):
        build_resources("-", *[None] * 9)


def test_update_from_an_endless_stdin_stops(tmp_path):
    """`yes | edera-oci update --resources - x` ends with an error instead of growing forever."""
    yes = subprocess.Popen(["yes"], stdout=subprocess.PIPE)
    res = subprocess.run([sys.executable, "-m", "edera_oci", "--root", str(tmp_path / "r"),
                          "update", "--resources", "-", "x"], stdin=yes.stdout,
                         capture_output=True, text=True, timeout=60)
    yes.kill()
    yes.wait()
    assert res.returncode == 1 and "larger than" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
