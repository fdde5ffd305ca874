"""``edera-oci events``."""

from __future__ import annotations

import json
import math
import re

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, container_id_argument

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """A Go duration (``5s``, ``1m30s``, ``500ms``) or plain seconds, in seconds."""
    from edera_oci.errors import UsageError

    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pos, seconds = 0, 0.0
        for m in _PART.finditer(text):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if pos != len(text) or not text:
            raise UsageError(f"--interval {text!r}: not a duration (like 5s, 500ms, 1m)") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"--interval {text!r}: must be a positive, finite duration")
    return seconds


@click.command("events", context_settings=CONTEXT_SETTINGS)
@click.option("--stats", is_flag=True, help="print one statistics event and exit")
@click.option("--interval", default="5s", show_default=True, metavar="DURATION",
              help="time between statistics events")
@container_id_argument
@click.pass_obj
def command(g, container_id, stats, interval):
    """Print resource statistics of a container as JSON events, until it stops."""
    from edera_oci.lifecycle.container_events import stats_event, stream_events

    seconds = parse_duration(interval)
    rt = g.runtime()
    if stats:
        click.echo(json.dumps(stats_event(rt, container_id)))
        return
    stream_events(rt, container_id, seconds, lambda ev: click.echo(json.dumps(ev)))
