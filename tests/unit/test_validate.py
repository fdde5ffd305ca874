"""Schema plumbing (vendored files, offline $refs, jsonschema quirks) and the typed Spec."""

from __future__ import annotations

import json
import warnings

import pytest

import edera_oci
from edera_oci.errors import ConfigError
from edera_oci.spec import Hooks, Spec
from edera_oci.validate import (
    SCHEMA_DIR,
    _validator,
    check_oci_version,
    format_path,
    schema_errors,
    schema_refs,
    schema_store,
    schema_version,
    store_for,
    validate_config,
    validate_process,
    validate_resources,
)
from tests.unit.conftest import REPO, minimal_config, run_cli, tree

FIXTURES = REPO / "spec-fixtures" / "valid"
REQUIRED_FILES = {
    "config-schema.json", "config-linux.json", "defs.json", "defs-linux.json",
    "state-schema.json", "features-schema.json", "features-linux.json",
}


def test_vendored_version_is_the_runtimes():
    assert schema_version() == "1.2.0" == edera_oci.OCI_VERSION
    assert set(schema_store()) >= REQUIRED_FILES


def test_every_ref_resolves_inside_the_vendored_store():
    for name, schema in schema_store().items():
        for ref in schema_refs(schema):
            target = ref if not ref.startswith("#") else name + ref
            file_part = target.split("#", 1)[0]
            assert file_part in schema_store(), f"{name}: {ref}"
            validator = _validator(target)  # resolving it must work offline
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                list(validator.iter_errors({}))  # resolves the $ref, offline


def test_each_platform_section_is_checked_offline():
    cfg = minimal_config(windows={"layerFolders": "x"}, vm={"kernel": {}}, solaris={"anet": 1},
                         zos={"devices": [{"path": "/dev/x"}]})
    errors = schema_errors(cfg, "config-schema.json")
    assert any(e.startswith("windows.layerFolders") for e in errors)
    assert any(e.startswith("vm.kernel: 'path' is a required property") for e in errors)
    assert any(e.startswith("solaris.anet") for e in errors)
    assert any(e.startswith("zos.devices[0]") for e in errors)


def test_a_linux_config_reads_only_the_files_it_reaches():
    linux = set(store_for("config-schema.json", minimal_config(linux={})))
    assert linux == {"config-schema.json", "defs.json", "config-linux.json", "defs-linux.json"}
    windows = set(store_for("config-schema.json", minimal_config(linux={}, windows={})))
    assert windows - linux == {"config-windows.json", "defs-windows.json"}
    assert set(store_for("config-schema.json")) == {
        n for n in schema_store() if n.startswith(("config-", "defs"))}


def test_no_warning_escapes(recwarn):
    warnings.simplefilter("error")
    try:
        validate_config(minimal_config())
        with pytest.raises(ConfigError):
            validate_config(minimal_config(linux={"resources": {"pids": {}}}))
    finally:
        warnings.resetwarnings()


def test_all_errors_reported_sorted_and_capped():
    cfg = minimal_config(
        hostname=1, domainname=2, mounts=[{"destination": 3}], annotations={"a": 4},
        process={"cwd": 5, "args": [6], "terminal": 7})
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, source="/b/config.json")
    text = str(err.value)
    assert text.startswith("invalid /b/config.json: ")
    assert "(and 2 more)" in text
    assert text.index("annotations") < text.index("domainname") < text.index("hostname")


@pytest.mark.parametrize("version", ["1.0.0", "1.0.1", "1.0.2", "1.0.2-dev", "1.1.0-rc.3",
                                     "1.1.0", "1.2.0", "1.2.1", "1.3.0", "1.0.0+build.1"])
def test_accepted_versions(version):
    check_oci_version(version)


@pytest.mark.parametrize("version,reason", [
    ("0.5.0", "is not supported"), ("2.0.0", "is not supported"), ("1.0", "is not a version"),
    ("v1.0.0", "is not a version"), ("", "is not a version"), (None, "is not of type"),
])
def test_refused_versions(version, reason):
    with pytest.raises(ConfigError, match=reason):
        check_oci_version(version)


def test_format_path():
    assert format_path([]) == ""
    assert format_path(["linux", "resources", "memory", "limit"]) == "linux.resources.memory.limit"
    assert format_path(["mounts", 3, "options", 0]) == "mounts[3].options[0]"
    assert format_path(["annotations", "io.x/y"]) == 'annotations["io.x/y"]'
    assert format_path(["args"], "process") == "process.args"


def test_process_and_resources_documents():
    proc = validate_process({"cwd": "/", "args": ["sh"], "env": ["A=1"], "terminal": True})
    assert proc.args == ("sh",) and proc.terminal and proc.env_dict() == {"A": "1"}
    with pytest.raises(ConfigError, match=r"process.user.uid: 'x' is not of type 'integer'"):
        validate_process({"cwd": "/", "args": ["sh"], "user": {"uid": "x"}})
    with pytest.raises(ConfigError, match=r"process: 'cwd' is a required property"):
        validate_process({"args": ["sh"]})
    with pytest.raises(ConfigError, match="must be a JSON object"):
        validate_process(["sh"])
    assert validate_resources({"cpu": {"quota": 1000}}) == {"cpu": {"quota": 1000}}
    with pytest.raises(ConfigError, match=r"linux.resources.cpu.quota: 'x' is not of type"):
        validate_resources({"cpu": {"quota": "x"}})


def test_spec_types_and_defaults(tmp_path):
    cfg = minimal_config(
        hostname="h",
        annotations={"k": "v"},
        mounts=[{"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/data", "source": "/srv", "options": ["rbind", "ro"]}],
        hooks={"prestart": [{"path": "/bin/a", "args": ["a", "1"], "timeout": 3}],
               "poststop": [{"path": "/bin/b", "env": []}]},
        linux={"namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/x"}],
               "resources": {"memory": {"limit": 1 << 30}, "cpu": {"shares": 2},
                             "pids": {"limit": 9}},
               "sysctl": {"net.ipv4.ip_forward": "1"},
               "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]},
    )
    cfg["process"].update(user={"uid": 1, "gid": 2, "additionalGids": [3]},
                          rlimits=[{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}],
                          capabilities={"bounding": ["CAP_KILL"]}, noNewPrivileges=True)
    spec = Spec.from_dict(cfg, bundle=str(tmp_path))
    assert spec.raw is cfg
    assert spec.root.path == str(tmp_path / "rootfs") and spec.root.readonly is False
    p = spec.process
    assert p.user.uid == 1 and p.user.additional_gids == (3,)
    assert p.rlimits[0].hard == 20 and p.capabilities.bounding == ("CAP_KILL",)
    assert p.capabilities.effective == () and p.no_new_privileges
    assert [m.is_bind for m in spec.mounts] == [False, True]
    assert spec.hooks.of("prestart")[0].timeout == 3
    assert spec.hooks.poststop[0].env == () and spec.hooks.prestart[0].env is None
    assert spec.hooks.poststart == ()
    with pytest.raises(KeyError):
        spec.hooks.of("nope")
    assert spec.linux.namespace("network").path == "/run/netns/x"
    assert spec.linux.namespace("ipc") is None
    assert spec.linux.resources.memory.limit == 1 << 30
    assert spec.linux.resources.cpu.shares == 2 and spec.linux.resources.pids_limit == 9
    assert spec.linux.sysctl == {"net.ipv4.ip_forward": "1"}
    assert spec.annotations == {"k": "v"} and spec.hostname == "h"
    assert Hooks.from_dict(None) == Hooks()
    absolute = Spec.from_dict(minimal_config(root={"path": "/abs"}), bundle="/b")
    assert absolute.root.path == "/abs"


def test_schema_files_are_plain_json():
    import os

    for name in os.listdir(SCHEMA_DIR):
        if name.endswith(".json"):
            with open(os.path.join(SCHEMA_DIR, name)) as f:
                assert isinstance(json.load(f), dict)


# Run in a fresh interpreter: validation works, and jsonschema's import left no stand-in
# behind (urllib.request, once imported, is the real module).
URLLIB_PROBE = r"""
import sys
from edera_oci.validate import schema_errors
assert schema_errors({"ociVersion": "1.0.2", "process": {"cwd": 1}}, "config-schema.json") \
    == ["process.cwd: 1 is not of type 'string'"]
loaded = sorted(m for m in ("urllib.request", "http.client", "ssl") if m in sys.modules)
import urllib.request
print(loaded, hasattr(urllib.request, "Request"))
"""


def run_urllib_probe() -> str:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", URLLIB_PROBE], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_validation_loads_no_http_client():
    assert run_urllib_probe() == "[] True"


# -- linux.resources.devices: what runc refuses, refused before anything is made ---------------

BAD_DEVICE_RULES = [
    ({"allow": True, "type": "u", "access": "rwm"}, "type: 'u' is not a, b or c"),
    ({"allow": True, "type": "c", "access": "rwx"},
     "access: 'rwx' is not a combination of r, w and m"),
    ({"allow": True, "type": "c"}, "access: must be given"),
    ({"allow": True, "type": "c", "major": -2, "access": "r"},
     "major: -2 is not a device number (0 to 4294967295, or -1 for any)"),
    ({"allow": True, "type": "c", "major": 1, "minor": 1 << 32, "access": "r"},
     f"minor: {1 << 32} is not a device number"),
    ({"allow": True, "type": "c", "major": "1", "access": "r"},
     "major: '1' is not of type 'integer'"),  # the schema's word
]


@pytest.mark.parametrize("rule, message", BAD_DEVICE_RULES)
def test_a_device_rule_runc_refuses_fails_create_naming_it_and_leaves_nothing(
        rule, message, capsys, cli_fake, root, make_bundle):
    cfg = minimal_config(linux={"resources": {"devices": [{"allow": False, "access": "rwm"},
                                                          rule]}})
    bundle = make_bundle(cfg)
    before = tree(bundle)
    code, _out, err = run_cli(capsys, "--root", root, "create", "-b", bundle, "c")
    assert code == 1, err
    assert f"linux.resources.devices[1].{message}" in err, err
    assert "Traceback" not in err
    assert tree(root) == [] and tree(bundle) == before
    assert [c for c in cli_fake.calls if c[0] == "create"] == []


def test_device_rules_runc_takes_are_valid():
    for fixture in ("docker-20.10.json", "podman-4.3.json", "runc-1.1-spec-default.json"):
        validate_config(json.loads((FIXTURES / fixture).read_text()))
    validate_config(minimal_config(linux={"resources": {"devices": [
        {"allow": True, "access": "rwm"},
        {"allow": False, "type": "b", "major": -1, "minor": -1, "access": "mmr"},
        {"allow": True, "type": "a", "major": 4294967295, "access": "w"}]}}))


def test_update_refuses_a_bad_device_rule_and_sends_the_configs_devices_with_a_good_one(
        capsys, cli_fake, root, make_bundle, tmp_path):
    null = {"path": "/dev/null", "type": "c", "major": 1, "minor": 3}
    bundle = make_bundle(minimal_config(linux={"devices": [null]}))
    assert run_cli(capsys, "--root", root, "create", "-b", bundle, "c")[0] == 0
    res = tmp_path / "r.json"
    res.write_text(json.dumps({"devices": [{"allow": True, "type": "x", "access": "r"}]}))
    code, _out, err = run_cli(capsys, "--root", root, "update", "-r", res, "c")
    assert code == 1 and "linux.resources.devices[0].type: 'x' is not a, b or c" in err, err
    assert [c for c in cli_fake.calls if c[0] == "update"] == []
    with pytest.raises(ConfigError, match=r"devices\[0\].access"):
        validate_resources({"devices": [{"allow": True, "access": "z"}]})
    rules = [{"allow": False, "access": "rwm"}]
    res.write_text(json.dumps({"devices": rules}))
    assert run_cli(capsys, "--root", root, "update", "-r", res, "c")[0] == 0
    assert cli_fake.calls[-1] == ("update", "c", {"devices": rules})
    # runc's default rule for /dev/null depends on linux.devices: the backend gets the config's
    assert cli_fake.update_linux_devices == [null]
