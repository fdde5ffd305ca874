"""``edera-oci features``."""

from __future__ import annotations

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, print_json


@click.command("features", context_settings=CONTEXT_SETTINGS)
def command():
    """Print what this runtime supports (runtime-spec Features JSON)."""
    from edera_oci.features import features

    print_json(features())
