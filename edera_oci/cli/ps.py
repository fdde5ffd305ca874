"""``edera-oci ps``."""

from __future__ import annotations

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, container_id_argument, print_json


def table(pids: list[int]) -> str:
    import psutil

    rows = [("PID", "PPID", "USER", "CMD")]
    for pid in pids:
        try:
            p = psutil.Process(pid)
            with p.oneshot():
                rows.append((str(pid), str(p.ppid()), p.username(), " ".join(p.cmdline())))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3]
        for r in rows
    )


@click.command(
    "ps",
    context_settings=dict(CONTEXT_SETTINGS, allow_interspersed_args=False,
                          ignore_unknown_options=True),
)
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="output format")
@container_id_argument
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED, metavar="[PS_ARGS]...")
@click.pass_obj
def command(g, container_id, fmt, ps_args):
    """Show the host processes (monitors) of a container; its own processes are in the zone."""
    from edera_oci.errors import Unsupported
    from edera_oci.lifecycle.container_ps import pids

    if ps_args:
        raise Unsupported("ps arguments are not supported (the processes run inside the zone)")
    found = pids(g.runtime(), container_id)
    if fmt == "json":
        print_json(found)
    else:
        click.echo(table(found))
