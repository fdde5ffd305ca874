"""``edera-oci create``."""

from __future__ import annotations

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, container_id_argument, unsupported_option


def create_options(f):
    """The options ``create`` and ``run`` share (runc's names)."""
    options = [
        click.option(
            "--bundle", "-b", default=".", metavar="PATH",
            help="bundle directory (holds config.json); default: current directory",
        ),
        click.option(
            "--console-socket", metavar="PATH",
            help="unix socket to send the terminal's master fd to (process.terminal: true)",
        ),
        click.option(
            "--pid-file", metavar="PATH", help="write the container's pid (its monitor) here"
        ),
        click.option(
            "--no-pivot", is_flag=True,
            help="accepted for compatibility; a zone has its own root, nothing to pivot",
        ),
        click.option(
            "--no-new-keyring", is_flag=True,
            help="accepted for compatibility; a zone has its own kernel keyrings",
        ),
        click.option(
            "--preserve-fds", type=click.IntRange(min=0), default=0, metavar="N",
            help="pass N extra file descriptors (3 .. 3+N-1) on to the container",
        ),
        click.option(
            "--pidfd-socket", metavar="PATH", expose_value=False,
            callback=unsupported_option("--pidfd-socket"),
            help="not supported (fails if given)",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.command("create", context_settings=CONTEXT_SETTINGS)
@create_options
@container_id_argument
@click.pass_obj
def command(g, container_id, bundle, console_socket, pid_file, no_pivot, no_new_keyring,
            preserve_fds):
    """Create a container: build its zone, run the create hooks, do not start the process."""
    from edera_oci.lifecycle.container_create import create

    create(
        g.runtime(), container_id, bundle,
        pid_file=pid_file, console_socket=console_socket, preserve_fds=preserve_fds,
        no_pivot=no_pivot, no_new_keyring=no_new_keyring,
    )
