"""man/ pages document exactly the options the CLI has, verb by verb."""

from __future__ import annotations

import importlib
import re

import click
import pytest

from edera_oci.cli.app import VERBS, cli
from tests.unit.conftest import REPO

MAN = REPO / "man"
OPTION = re.compile(r"\\fB((?:\\-){1,2}[A-Za-z0-9](?:[A-Za-z0-9]|\\-)*)\\fR")


def documented_options(page: str, section: str) -> set[str]:
    text = (MAN / page).read_text()
    body = text.split(f".SH {section}\n", 1)[1].split("\n.SH ", 1)[0]
    found = set()
    lines = body.splitlines()
    for i, line in enumerate(lines):
        if i > 0 and lines[i - 1] == ".TP":  # the tag line of an entry
            found.update(m.replace("\\-", "-") for m in OPTION.findall(line))
    return found


def click_options(command: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_verb_page_matches_its_options(verb):
    command = importlib.import_module(f"edera_oci.cli.{VERBS[verb][0]}").command
    assert documented_options(f"edera-oci-{verb}.8", "OPTIONS") == click_options(command)


def test_main_page_matches_the_global_options_and_lists_every_verb():
    assert documented_options("edera-oci.8", "GLOBAL OPTIONS") == click_options(cli)
    text = (MAN / "edera-oci.8").read_text()
    for verb in VERBS:
        assert f"\\fB{verb}\\fR" in text
        assert f"\\fBedera\\-oci\\-{verb}\\fR(8)" in text


def test_no_stray_pages():
    pages = {p.name for p in MAN.glob("*.8")}
    assert pages == {"edera-oci.8", "containerd-shim-edera-v2.8"} | {
        f"edera-oci-{v}.8" for v in VERBS}
    for page in pages:
        assert (MAN / page).read_text().startswith(".TH ")
