"""``edera-oci kill``."""

from __future__ import annotations

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, container_id_argument


@click.command("kill", context_settings=CONTEXT_SETTINGS)
@click.option("--all", "-a", "all_processes", is_flag=True,
              help="send the signal to all processes of the container")
@container_id_argument
@click.argument("signal", default="TERM", metavar="[SIGNAL]")
@click.pass_obj
def command(g, container_id, signal, all_processes):
    """Send SIGNAL (a name like TERM or SIGTERM, or a number; default TERM) to a container."""
    from edera_oci.lifecycle.container_kill import kill
    from edera_oci.signals import parse_signal

    kill(g.runtime(), container_id, parse_signal(signal), all_processes)
