"""``edera-oci resume``."""

from __future__ import annotations

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, container_id_argument


@click.command("resume", context_settings=CONTEXT_SETTINGS)
@container_id_argument
@click.pass_obj
def command(g, container_id):
    """Resume a paused container."""
    from edera_oci.lifecycle.container_pause import resume

    resume(g.runtime(), container_id)
