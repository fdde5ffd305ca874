"""Every config.json fixture under spec-fixtures/ is accepted or refused as its name says."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edera_oci.errors import ConfigError
from edera_oci.validate import load_bundle, read_json_file, validate_config
from tests.unit.conftest import REPO

FIXTURES = REPO / "spec-fixtures"
VALID = sorted((FIXTURES / "valid").glob("*.json"))
INVALID = sorted((FIXTURES / "invalid").glob("*.json"))


def test_fixture_sets_are_not_empty():
    assert len(VALID) >= 10
    assert len(INVALID) >= 30
    names = {p.name for p in VALID}
    assert {"docker-20.10.json", "podman-4.3.json", "runc-1.1-spec-default.json"} <= names
    for v in ("1.0.0", "1.0.2", "1.1.0", "1.2.0"):
        assert f"oci-{v}.json" in names


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_fixture_is_accepted(path):
    validate_config(json.loads(path.read_text()), for_create=True, source=path.name)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixture_is_refused_with_its_message(path):
    expect = path.with_suffix(".expect").read_text().splitlines()[0]
    with pytest.raises(ConfigError) as err:
        validate_config(read_json_file(str(path), "config file"), source=str(path))
    assert expect in str(err.value)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixture_is_refused_from_a_bundle(path, tmp_path):
    bundle = tmp_path / "b"
    (bundle / "rootfs").mkdir(parents=True)
    shutil.copy(path, bundle / "config.json")
    expect = path.with_suffix(".expect").read_text().splitlines()[0]
    with pytest.raises(ConfigError) as err:
        load_bundle(str(bundle))
    assert expect in str(err.value)
    assert str(bundle / "config.json") in str(err.value)


@pytest.mark.parametrize("name", ["docker-20.10.json", "podman-4.3.json"])
def test_engine_fixtures_type_correctly(name, tmp_path):
    cfg = json.loads((FIXTURES / "valid" / name).read_text())
    rootfs = tmp_path / "merged"
    rootfs.mkdir()
    cfg["root"]["path"] = str(rootfs)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(cfg))
    spec = load_bundle(str(bundle))
    assert spec.root.path == str(rootfs)
    assert spec.process.args == ("echo", "hello")
    assert spec.linux.seccomp["defaultAction"] == "SCMP_ACT_ERRNO"
    net = spec.linux.namespace("network")
    if name.startswith("docker"):
        assert len(spec.mounts) == 10
        assert net is not None and net.path is None
        assert spec.hooks.prestart[0].args[0] == "libnetwork-setkey"
        assert spec.linux.cgroups_path.startswith("/docker/")
    else:
        assert len(spec.mounts) == 11
        assert net.path.startswith("/run/netns/")
        assert "/run/.containerenv" in [m.destination for m in spec.mounts]
        assert spec.annotations["io.container.manager"] == "libpod"
        assert spec.linux.resources.pids_limit == 2048


def test_every_invalid_fixture_has_an_expect_file():
    for path in INVALID:
        assert path.with_suffix(".expect").is_file(), path.name
    for expect in (FIXTURES / "invalid").glob("*.expect"):
        assert Path(expect).with_suffix(".json").exists(), expect.name
