"""The click application: global options and a group that imports verb modules on demand."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass

import click

from edera_oci import OCI_VERSION, __version__
from edera_oci.errors import EderaError, Unsupported
from edera_oci.logs import log

DEFAULT_ROOT = "/run/edera-oci"

# verb -> (module in edera_oci.cli, one-line help). The help is here so that ``--help``
# of the group does not have to import every verb.
VERBS: dict[str, tuple[str, str]] = {
    "check": ("check", "check that this host can run zones (a preflight)"),
    "create": ("create", "create a container (a zone) from a bundle"),
    "delete": ("delete", "delete a stopped container and its zone"),
    "events": ("events", "show resource statistics of a container"),
    "exec": ("exec", "run a new process in a container"),
    "features": ("features", "show the runtime's features (runtime-spec Features JSON)"),
    "kill": ("kill", "send a signal to a container"),
    "list": ("list", "list containers"),
    "pause": ("pause", "pause a running container"),
    "ps": ("ps", "show the host processes of a container"),
    "resume": ("resume", "resume a paused container"),
    "run": ("run", "create and start a container, and wait for it"),
    "spec": ("spec", "write a default config.json for a zone"),
    "start": ("start", "start the process of a created container"),
    "state": ("state", "show the state of a container"),
    "update": ("update", "update the resources of a container"),
}

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


@dataclass
class Globals:
    """The global options, handed to every verb as click's ``obj``."""

    root: str = DEFAULT_ROOT
    log: str | None = None
    log_format: str = "text"
    debug: bool = False
    systemd_cgroup: bool = False
    rootless: str = "auto"

    def runtime(self):  # -> edera_oci.lifecycle.common.Runtime
        from edera_oci.lifecycle.common import Runtime

        return Runtime(self.root)


class LazyGroup(click.Group):
    """A group whose subcommands live in ``edera_oci.cli.<module>`` and load when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = VERBS.get(cmd_name)
        if entry is None:
            return None
        import importlib

        module = importlib.import_module(f"edera_oci.cli.{entry[0]}")
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, VERBS[name][1]) for name in sorted(VERBS)])


def print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"edera-oci version {__version__}\nspec: {OCI_VERSION}")
    ctx.exit(0)


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--root",
    default=DEFAULT_ROOT,
    show_default=True,
    metavar="PATH",
    help="directory for the state of containers",
)
@click.option("--log", metavar="PATH", help="append log entries to PATH (default: stderr only)")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="format of the entries in --log",
)
@click.option("--debug", is_flag=True, help="also log debug messages")
@click.option(
    "--systemd-cgroup",
    is_flag=True,
    help="accepted for compatibility with runc; zones are not placed in systemd cgroups",
)
@click.option(
    "--rootless",
    type=click.Choice(["true", "false", "auto"]),
    default="auto",
    show_default=True,
    help="rootless mode: only false/auto (edera-oci needs root in dom0)",
)
@click.option(
    "--version",
    "-v",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=print_version,
    help="print the version and exit",
)
@click.pass_context
def cli(
    ctx: click.Context,
    root: str,
    log: str | None,
    log_format: str,
    debug: bool,
    systemd_cgroup: bool,
    rootless: str,
) -> None:
    """edera-oci: an OCI runtime (like runc) that runs each container in its own Xen zone."""
    from edera_oci.logs import log as logger

    logger.configure(log, log_format, debug)
    if rootless == "true":
        raise Unsupported("rootless mode is not supported: edera-oci needs root in a Xen dom0")
    if systemd_cgroup:
        logger.debug("--systemd-cgroup accepted; zones do not use host cgroups")
    ctx.obj = Globals(root, log, log_format, debug, systemd_cgroup, rootless)


def run_app(argv: list[str], early_globals: dict[str, object] | None) -> int:
    """Run the click app; every failure is logged and becomes exit status 1."""
    if early_globals is not None:
        # so that errors found while parsing the verb's arguments reach --log too
        log.configure(
            early_globals["--log"],  # type: ignore[arg-type]
            str(early_globals["--log-format"]),
            bool(early_globals["--debug"]),
        )
    try:
        result = cli.main(args=argv, prog_name="edera-oci", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.Abort:
        log.error("aborted")
        return 1
    except click.ClickException as e:
        message = e.format_message()
        ctx = getattr(e, "ctx", None)
        if ctx is not None and isinstance(e, click.UsageError):
            message += f" (see '{ctx.command_path} --help')"
        log.error(message)
        return 1
    except EderaError as e:
        log.error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except BrokenPipeError:
        return 1
    except OSError as e:
        from edera_oci.cli.main import os_error_message

        log.error(os_error_message(e))
        return 1
    finally:
        with contextlib.suppress(BrokenPipeError, ValueError):
            sys.stdout.flush()
    if isinstance(result, int):
        return result
    return 0
