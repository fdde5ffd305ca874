"""``edera-oci update``."""

from __future__ import annotations

import math
import sys

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, container_id_argument

_SUFFIXES = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_bytes(text: str, flag: str) -> int:
    """``512m``, ``1g``, ``1048576`` or ``-1`` (unlimited) -> bytes, like runc's flags."""
    from edera_oci.errors import UsageError

    raw = text.strip().lower()
    if raw == "-1":
        return -1
    for tail in ("ib", "b"):
        if raw.endswith(tail) and len(raw) > len(tail) and not raw[-len(tail) - 1].isdigit():
            raw = raw[: -len(tail)]
            break
    unit = raw[-1:] if raw[-1:] in _SUFFIXES else ""
    number = raw[: len(raw) - len(unit)] if unit else raw
    try:
        value = float(number)
    except ValueError:
        raise UsageError(f"{flag} {text!r}: not a size (like 512m, 1g or bytes)") from None
    if not math.isfinite(value):
        raise UsageError(f"{flag} {text!r}: not a finite size")
    if value < 0:
        raise UsageError(f"{flag} {text!r}: must not be negative (except -1)")
    return int(value * _SUFFIXES[unit])


def build_resources(resources_file, memory, memory_reservation, memory_swap, cpu_share,
                    cpu_period, cpu_quota, cpuset_cpus, cpuset_mems, pids_limit,
                    blkio_weight=None) -> dict:
    from edera_oci.errors import ConfigError, UsageError
    from edera_oci.validate import MAX_JSON_FILE, parse_json, read_json_file

    resources: dict = {}
    if resources_file == "-":
        # stdin is read up to the same cap as a --resources file, never to its end
        data = getattr(sys.stdin, "buffer", sys.stdin).read(MAX_JSON_FILE + 1)
        if len(data) > MAX_JSON_FILE:
            raise ConfigError(f"resources from stdin: larger than {MAX_JSON_FILE} bytes")
        resources = parse_json(data, "resources from stdin")
    elif resources_file:
        resources = read_json_file(resources_file, "resources file")
    if not isinstance(resources, dict):
        raise ConfigError("invalid resources: the document must be a JSON object")
    memory_part = {
        "limit": parse_bytes(memory, "--memory") if memory else None,
        "reservation": parse_bytes(memory_reservation, "--memory-reservation")
        if memory_reservation else None,
        "swap": parse_bytes(memory_swap, "--memory-swap") if memory_swap else None,
    }
    cpu_part = {
        "shares": cpu_share, "period": cpu_period, "quota": cpu_quota,
        "cpus": cpuset_cpus, "mems": cpuset_mems,
    }
    for key, part in (("memory", memory_part), ("cpu", cpu_part)):
        given = {k: v for k, v in part.items() if v is not None}
        if given:
            resources.setdefault(key, {}).update(given)
    if pids_limit is not None:
        resources["pids"] = {"limit": pids_limit}
    if blkio_weight is not None:
        resources.setdefault("blockIO", {})["weight"] = blkio_weight
    if not resources:
        raise UsageError("nothing to update: give --resources or at least one resource flag")
    return resources


@click.command("update", context_settings=CONTEXT_SETTINGS)
@click.option("--resources", "-r", "resources_file", metavar="FILE",
              help="LinuxResources JSON to apply ('-' reads stdin)")
@click.option("--memory", metavar="SIZE", help="memory limit (e.g. 512m, 1g)")
@click.option("--memory-reservation", metavar="SIZE", help="memory soft limit")
@click.option("--memory-swap", metavar="SIZE", help="memory plus swap limit (-1: unlimited)")
@click.option("--cpu-share", type=int, metavar="N", help="relative CPU weight")
@click.option("--cpu-period", type=int, metavar="USEC", help="CFS period (microseconds)")
@click.option("--cpu-quota", type=int, metavar="USEC", help="CFS quota per period")
@click.option("--cpuset-cpus", metavar="LIST", help="CPUs to use (e.g. 0-2,4)")
@click.option("--cpuset-mems", metavar="LIST", help="memory nodes to use")
@click.option("--pids-limit", type=int, metavar="N", help="maximum number of processes")
@click.option("--blkio-weight", type=int, metavar="N", help="relative block IO weight (10-1000)")
@container_id_argument
@click.pass_obj
def command(g, container_id, resources_file, memory, memory_reservation, memory_swap,
            cpu_share, cpu_period, cpu_quota, cpuset_cpus, cpuset_mems, pids_limit,
            blkio_weight):
    """Update the resource limits of a running container, live, in its zone's cgroup (flags
    apply on top of --resources). What the zone cannot change is refused by name."""
    from edera_oci.lifecycle.container_update import update

    resources = build_resources(resources_file, memory, memory_reservation, memory_swap,
                                cpu_share, cpu_period, cpu_quota, cpuset_cpus, cpuset_mems,
                                pids_limit, blkio_weight)
    update(g.runtime(), container_id, resources)
