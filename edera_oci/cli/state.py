"""``edera-oci state`` (``edera_oci.cli.main`` answers the common form without click)."""

from __future__ import annotations

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, container_id_argument, print_json


@click.command("state", context_settings=CONTEXT_SETTINGS)
@container_id_argument
@click.pass_obj
def command(g, container_id):
    """Print the state of a container (runtime-spec State JSON)."""
    from edera_oci.lifecycle.container_state import container_state

    print_json(container_state(g.root, container_id))
