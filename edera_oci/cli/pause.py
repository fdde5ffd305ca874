"""``edera-oci pause``."""

from __future__ import annotations

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, container_id_argument


@click.command("pause", context_settings=CONTEXT_SETTINGS)
@container_id_argument
@click.pass_obj
def command(g, container_id):
    """Pause a running container (its whole zone)."""
    from edera_oci.lifecycle.container_pause import pause

    pause(g.runtime(), container_id)
