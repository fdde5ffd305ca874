"""``edera-oci check``: a preflight of this host (Xen, its daemons, backends, zone image, state)."""

from __future__ import annotations

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, print_json


@click.command("check", context_settings=CONTEXT_SETTINGS)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="one line per check, or a JSON document")
@click.pass_obj
def command(globals_, fmt: str) -> int:
    """Check that this host can run zones; exit 1 if any check fails."""
    from edera_oci.preflight import report_json, report_text, run_checks

    results = run_checks(globals_.root)
    if fmt == "json":
        print_json(report_json(results))
    else:
        click.echo(report_text(results))
    return 0 if all(r.ok for r in results) else 1
