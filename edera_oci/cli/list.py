"""``edera-oci list``."""

from __future__ import annotations

import click

from edera_oci.cli.common import CONTEXT_SETTINGS, print_json

COLUMNS = ("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")


def table(rows: list[dict]) -> str:
    cells = [COLUMNS] + [
        (r["id"], str(r["pid"]), r["status"], r["bundle"], r["created"], r["owner"])
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    return "\n".join(lines)


@click.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="output format")
@click.option("--quiet", "-q", is_flag=True, help="print only the container ids")
@click.option("--orphans", is_flag=True,
              help="list what zones left that no container owns (delete --force ID removes it)")
@click.pass_obj
def command(g, fmt, quiet, orphans):
    """List the containers under --root."""
    if orphans:
        from edera_oci.lifecycle.container_orphans import find_orphans

        found = find_orphans(g.runtime())
        if fmt == "json":
            print_json(found)
        else:
            for row in found:
                click.echo(row["id"] if quiet else f"{row['id']}: {', '.join(row['leftovers'])}")
        return
    from edera_oci.lifecycle.container_list import list_containers

    rows = list_containers(g.runtime())
    if quiet:
        for row in rows:
            click.echo(row["id"])
    elif fmt == "json":
        print_json(rows)
    else:
        click.echo(table(rows))
