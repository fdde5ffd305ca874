"""``edera-oci run``."""

from __future__ import annotations

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, container_id_argument
from edera_oci.cli.create import create_options


@click.command("run", context_settings=CONTEXT_SETTINGS)
@create_options
@click.option("--detach", "-d", is_flag=True, help="return once the container has started")
@click.option("--keep", is_flag=True, help="do not delete the container after it exits")
@container_id_argument
@click.pass_obj
def command(g, container_id, bundle, console_socket, pid_file, no_pivot, no_new_keyring,
            preserve_fds, detach, keep):
    """Create and start a container; without --detach, wait and exit with its status."""
    from edera_oci.lifecycle.container_run import run

    return run(
        g.runtime(), container_id, bundle,
        pid_file=pid_file, console_socket=console_socket, preserve_fds=preserve_fds,
        no_pivot=no_pivot, no_new_keyring=no_new_keyring, detach=detach, keep=keep,
    )
