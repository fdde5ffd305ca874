"""``edera-oci spec``."""

from __future__ import annotations

import json
import os

import click

from edera_oci.cli.common import CONTEXT_SETTINGS


@click.command("spec", context_settings=CONTEXT_SETTINGS)
@click.option("--bundle", "-b", default=".", metavar="PATH",
              help="bundle directory to write config.json into; default: current directory")
@click.option("--rootless", is_flag=True, help="not supported (fails if given)")
def command(bundle, rootless):
    """Write a default config.json for a zone (refuses to overwrite an existing one)."""
    from edera_oci.default_spec import default_config
    from edera_oci.errors import ConfigError, Unsupported
    from edera_oci.state import write_file_atomic

    if rootless:
        raise Unsupported("--rootless is not supported: zones are created by root in dom0")
    if not os.path.isdir(bundle):
        raise ConfigError(f"bundle directory {bundle} not found")
    path = os.path.join(bundle, "config.json")
    if os.path.lexists(path):
        raise ConfigError(f"{path} already exists; remove it first")
    data = json.dumps(default_config(), indent="\t") + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise ConfigError(f"{path} already exists; remove it first") from None
    os.close(fd)
    write_file_atomic(path, data.encode(), mode=0o644)
