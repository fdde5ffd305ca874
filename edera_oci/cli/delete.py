"""``edera-oci delete``."""

from __future__ import annotations

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, container_id_argument


@click.command("delete", context_settings=CONTEXT_SETTINGS)
@click.option("--force", "-f", is_flag=True,
              help="kill the container first if it is not stopped")
@container_id_argument
@click.pass_obj
def command(g, container_id, force):
    """Delete a stopped container: destroy its zone, forget its state, run poststop hooks."""
    from edera_oci.lifecycle.container_delete import delete

    delete(g.runtime(), container_id, force=force)
