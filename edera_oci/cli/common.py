"""Small helpers shared by the verb modules."""

from __future__ import annotations

import json
from typing import Any

import click

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

container_id_argument = click.argument("container_id", metavar="CONTAINER_ID")


def print_json(doc: Any) -> None:
    """JSON on stdout the way runc prints it (two-space indent)."""
    click.echo(json.dumps(doc, indent=2))


def unsupported_option(name: str):
    """An option runc has that edera-oci refuses when it is actually used."""

    def check(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value:
            from edera_oci.errors import Unsupported

            raise Unsupported(f"{name} is not supported by edera-oci")
        return value

    return check
