"""``edera-oci start``."""

from __future__ import annotations

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, container_id_argument


@click.command("start", context_settings=CONTEXT_SETTINGS)
@container_id_argument
@click.pass_obj
def command(g, container_id):
    """Start the process of a created container."""
    from edera_oci.lifecycle.container_start import start

    start(g.runtime(), container_id)
