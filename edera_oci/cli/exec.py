"""``edera-oci exec``."""

from __future__ import annotations

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, unsupported_option

EXEC_CONTEXT = dict(CONTEXT_SETTINGS, allow_interspersed_args=False)


@click.command("exec", context_settings=EXEC_CONTEXT)
@click.option("--process", "-p", "process_file", metavar="FILE",
              help="runtime-spec Process JSON describing the process to run")
@click.option("--detach", "-d", is_flag=True, help="return once the process has started")
@click.option("--pid-file", metavar="PATH", help="write the pid of the exec's monitor here")
@click.option("--console-socket", metavar="PATH",
              help="unix socket to send the terminal's master fd to")
@click.option("--tty", "-t", is_flag=True, help="give the process a terminal")
@click.option("--env", "-e", multiple=True, metavar="KEY=VALUE",
              help="add an environment variable (repeatable)")
@click.option("--cwd", metavar="PATH", help="working directory in the container")
@click.option("--user", "-u", metavar="UID[:GID]", help="numeric user (and group) to run as")
@click.option("--additional-gids", "-g", type=int, multiple=True, metavar="GID",
              help="additional group (repeatable)")
@click.option("--preserve-fds", type=click.IntRange(min=0), default=0, metavar="N",
              help="pass N extra file descriptors (3 .. 3+N-1) on to the process")
@click.option("--pidfd-socket", metavar="PATH", expose_value=False,
              callback=unsupported_option("--pidfd-socket"),
              help="not supported (fails if given)")
@click.argument("container_id", metavar="CONTAINER_ID")
@click.argument("command_args", nargs=-1, type=click.UNPROCESSED, metavar="[COMMAND]...")
@click.pass_obj
def command(g, container_id, command_args, process_file, detach, pid_file, console_socket, tty,
            env, cwd, user, additional_gids, preserve_fds):
    """Run a new process in a created or running container."""
    from edera_oci.lifecycle.container_exec import ExecOptions, exec_process

    opts = ExecOptions(
        args=tuple(command_args), process_file=process_file, detach=detach, pid_file=pid_file,
        console_socket=console_socket, tty=tty, env=tuple(env), cwd=cwd, user=user,
        additional_gids=tuple(additional_gids), preserve_fds=preserve_fds,
    )
    return exec_process(g.runtime(), container_id, opts)
