"""The table of truth (``edera_oci.support``): it covers every config.json field, refused
fields fail ``create`` naming the field and leave nothing behind, ignored fields warn, and
``features``, the README and ``edera-oci-create(8)`` agree with it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from edera_oci import support
from edera_oci.features import features
from edera_oci.support import APPLIED, IGNORED, REFUSED
from edera_oci.validate import SCHEMA_DIR, schema_errors, validate_config
from edera_oci.zone import records
from tests.unit.conftest import REPO, minimal_config, run_cli, tree

VALID = sorted((REPO / "spec-fixtures" / "valid").glob("*.json"))
# Sections of other platforms: one row each stands for everything in them.
OTHER_PLATFORMS = ("solaris", "windows", "vm", "zos")


# -- every field of the runtime-spec and of the fixtures has a row -----------------------------


def schema_paths() -> set[str]:
    """Every member path the vendored runtime-spec schemas allow in a config, walked here
    from the schema files (not from the table): ``[]`` for array items."""
    files: dict[str, Any] = {}

    def load(name: str) -> Any:
        if name not in files:
            files[name] = json.loads((Path(SCHEMA_DIR) / name).read_text())
        return files[name]

    def resolve(ref: str, current: str) -> tuple[Any, str]:
        name, _, pointer = ref.partition("#")
        name = name or current
        node = load(name)
        for part in filter(None, pointer.split("/")):
            node = node[part]
        return node, name

    out: set[str] = set()

    def visit(node: Any, path: str, current: str, depth: int = 0) -> None:
        assert depth < 40, path
        if "$ref" in node:
            target, name = resolve(node["$ref"], current)
            visit(target, path, name, depth + 1)
            return
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in node.get(key, ()):
                visit(sub, path, current, depth + 1)
        for key, sub in node.get("properties", {}).items():
            child = f"{path}.{key}" if path else key
            out.add(child)
            visit(sub, child, current, depth + 1)
        if isinstance(node.get("items"), dict):
            visit(node["items"], path + "[]", current, depth + 1)

    visit(load("config-schema.json"), "", "config-schema.json")
    return out


SCHEMA_PATHS = schema_paths()


def test_the_schema_walk_finds_the_spec():
    assert {"process.user.uid", "linux.resources.cpu.shares", "linux.seccomp.syscalls[].names",
            "mounts[].uidMappings[].size", "linux.intelRdt.closID",
            "process.ioPriority.class"} <= SCHEMA_PATHS
    assert len(SCHEMA_PATHS) > 200


@pytest.mark.parametrize("path", sorted(p for p in SCHEMA_PATHS
                                        if p.split(".")[0] not in OTHER_PLATFORMS))
def test_every_linux_field_of_the_spec_has_a_row(path):
    row = support.row_for(path)
    assert row is not None, f"{path}: no row in edera_oci/support.py"
    if not row.subtree:
        assert row.path in (path, support.generic(path))


def test_every_row_is_a_field_of_the_spec():
    for f in support.FIELDS:
        base = support.generic(f.path).removesuffix("[]")
        assert base in SCHEMA_PATHS, f.path


def test_no_row_twice_and_each_says_why():
    paths = [f.path for f in support.FIELDS]
    assert len(paths) == len(set(paths))
    for f in support.FIELDS:
        assert f.reason.strip(), f.path
        if f.status is APPLIED and not f.group:
            assert f.where, f"{f.path}: an applied row names the code that applies it"
        if f.group:
            assert f.status is APPLIED and not f.subtree, f.path


def fixture_fields(node: Any, path: str = "") -> list[str]:
    """Every member path of a config (``[]`` for array items), walked without the table."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{path}.{key}" if path else key
            out.append(child)
            out += fixture_fields(value, child)
    elif isinstance(node, list):
        for item in node:
            out += fixture_fields(item, path + "[]")
    return out


@pytest.mark.parametrize("fixture", VALID, ids=lambda p: p.name)
def test_every_field_of_each_valid_fixture_has_a_row(fixture):
    cfg = json.loads(fixture.read_text())
    for path in fixture_fields(cfg):
        assert support.row_for(path) is not None, f"{fixture.name}: {path}"
    # and the walk the runtime uses finds none it does not know
    assert [f.location for f in support.walk(cfg) if f.row is None] == []


def test_the_engine_fixtures_are_walked_down_to_their_namespaces_and_options():
    cfg = json.loads((REPO / "spec-fixtures/valid/podman-4.3.json").read_text())
    found = {f.path: f for f in support.walk(cfg)}
    assert found["linux.namespaces[network]"].status is APPLIED
    assert found["linux.namespaces[network].path"].row.path == "linux.namespaces[network].path"
    assert found["mounts[].options[nosuid]"].status is APPLIED
    assert "linux.seccomp.syscalls" not in found  # under linux.seccomp's row


# -- one sample per refused or ignored row -----------------------------------------------------

DEV = {"major": 8, "minor": 0, "rate": 1}
MAPPING = [{"containerID": 0, "hostID": 100000, "size": 65536}]
# row -> (what the config gets, where the message points)
SAMPLES: dict[str, tuple[dict[str, Any], str]] = {
    # refused
    "mounts[].options[idmap]": ({"mounts": [{"destination": "/m", "type": "bind",
                                             "source": "/tmp", "options": ["idmap"]}]},
                                "mounts[0].options[0] (idmap)"),
    "mounts[].options[ridmap]": ({"mounts": [{"destination": "/m", "type": "bind",
                                              "source": "/tmp", "options": ["rbind", "ridmap"]}]},
                                 "mounts[0].options[1] (ridmap)"),
    "mounts[].uidMappings": ({"mounts": [{"destination": "/m", "type": "bind", "source": "/tmp",
                                          "uidMappings": MAPPING}]}, "mounts[0].uidMappings"),
    "mounts[].gidMappings": ({"mounts": [{"destination": "/m", "type": "bind", "source": "/tmp",
                                          "gidMappings": MAPPING}]}, "mounts[0].gidMappings"),
    "linux.namespaces[user]": ({"linux": {"namespaces": [{"type": "pid"}, {"type": "user"}]}},
                               "linux.namespaces[1]"),
    "linux.namespaces[time]": ({"linux": {"namespaces": [{"type": "time"}]}},
                               "linux.namespaces[0]"),
    "linux.uidMappings": ({"linux": {"uidMappings": MAPPING}}, "linux.uidMappings"),
    "linux.gidMappings": ({"linux": {"gidMappings": MAPPING}}, "linux.gidMappings"),
    "linux.timeOffsets": ({"linux": {"timeOffsets": {"monotonic": {"secs": 10}}}},
                          "linux.timeOffsets"),
    "linux.intelRdt": ({"linux": {"intelRdt": {"closID": "guaranteed"}}}, "linux.intelRdt"),
    "linux.personality": ({"linux": {"personality": {"domain": "LINUX32"}}},
                          "linux.personality"),
    # ignored
    "process.user.username": ({"process": {"user": {"uid": 0, "gid": 0, "username": "root"}}},
                              "process.user.username"),
    "process.commandLine": ({"process": {"commandLine": "true"}}, "process.commandLine"),
    "process.apparmorProfile": ({"process": {"apparmorProfile": "docker-default"}},
                                "process.apparmorProfile"),
    "process.selinuxLabel": ({"process": {"selinuxLabel": "system_u:system_r:container_t"}},
                             "process.selinuxLabel"),
    "process.scheduler": ({"process": {"scheduler": {"policy": "SCHED_BATCH"}}},
                          "process.scheduler"),
    "process.ioPriority": ({"process": {"ioPriority": {"class": "IOPRIO_CLASS_BE",
                                                       "priority": 4}}}, "process.ioPriority"),
    "mounts[].options[tmpcopyup]": ({"mounts": [{"destination": "/tmp", "type": "tmpfs",
                                                 "source": "tmpfs",
                                                 "options": ["nosuid", "tmpcopyup"]}]},
                                    "mounts[0].options[1] (tmpcopyup)"),
    "linux.namespaces[].path": ({"linux": {"namespaces": [
        {"type": "ipc", "path": "/proc/1/ns/ipc"}]}}, "linux.namespaces[0].path"),
    "linux.cgroupsPath": ({"linux": {"cgroupsPath": "/docker/abc"}}, "linux.cgroupsPath"),
    "linux.rootfsPropagation": ({"linux": {"rootfsPropagation": "slave"}},
                                "linux.rootfsPropagation"),
    "linux.mountLabel": ({"linux": {"mountLabel": "system_u:object_r:container_file_t"}},
                         "linux.mountLabel"),
    **{f"linux.resources.memory.{k}": ({"linux": {"resources": {"memory": {k: v}}}},
                                       f"linux.resources.memory.{k}")
       for k, v in (("kernel", 1 << 30),
                    ("kernelTCP", 1 << 20), ("swappiness", 0), ("disableOOMKiller", True),
                    ("useHierarchy", True), ("checkBeforeUpdate", True))},
    **{f"linux.resources.cpu.{k}": ({"linux": {"resources": {"cpu": {k: v}}}},
                                    f"linux.resources.cpu.{k}")
       for k, v in (("realtimePeriod", 1000000),
                    ("realtimeRuntime", 950000), ("burst", 10000), ("idle", 1))},
    **{f"linux.resources.blockIO.{k}": ({"linux": {"resources": {"blockIO": {k: v}}}},
                                        f"linux.resources.blockIO.{k}")
       for k, v in (("leafWeight", 500),
                    ("weightDevice", [{"major": 8, "minor": 0, "weight": 500}]),
                    ("throttleReadBpsDevice", [DEV]), ("throttleWriteBpsDevice", [DEV]),
                    ("throttleReadIOPSDevice", [DEV]), ("throttleWriteIOPSDevice", [DEV]))},
    **{f"linux.resources.{k}": ({"linux": {"resources": {k: v}}}, f"linux.resources.{k}")
       for k, v in (("hugepageLimits", [{"pageSize": "2MB", "limit": 1 << 21}]),
                    ("network", {"classID": 1048577}),
                    ("rdma", {"mlx5_0": {"hcaHandles": 3}}),
                    ("unified", {"memory.high": "1000000"}))},
    "solaris": ({"solaris": {"milestone": "svc:/milestone/container:default"}}, "solaris"),
    "windows": ({"windows": {"layerFolders": ["C:\\layers\\1"]}}, "windows"),
    "vm": ({"vm": {"kernel": {"path": "/boot/vmlinuz"}}}, "vm"),
    "zos": ({"zos": {"devices": [{"path": "/dev/x", "type": "c", "major": 1, "minor": 3}]}},
            "zos"),
}


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def sample_config(path: str) -> dict[str, Any]:
    return merged(minimal_config(), SAMPLES[path][0])


def rows(status) -> list[str]:
    return [f.path for f in support.FIELDS if f.status is status]


def test_every_refused_and_ignored_row_has_a_sample():
    assert set(SAMPLES) == set(rows(REFUSED)) | set(rows(IGNORED))


@pytest.mark.parametrize("path", sorted(SAMPLES))
def test_each_sample_passes_the_schema_and_reaches_its_row(path):
    cfg = sample_config(path)
    found = [f for f in support.walk(cfg) if f.row is not None and f.row.path == path]
    assert [f.location for f in found] == [SAMPLES[path][1]]
    assert schema_errors(cfg, "config-schema.json") == []  # refused by the table alone
    if support.field(path).status is IGNORED:
        validate_config(cfg)  # accepted


def run_create(capsys, root: Path, bundle: Path, cid: str = "c") -> tuple[int, str]:
    code, _out, err = run_cli(capsys, "--root", root, "create", "-b", bundle, cid)
    return code, err


@pytest.mark.parametrize("path", sorted(rows(REFUSED)))
def test_a_refused_field_fails_create_naming_it_and_leaves_nothing(
        path, capsys, cli_fake, root, make_bundle):
    bundle = make_bundle(sample_config(path))
    before = tree(bundle)
    code, err = run_create(capsys, root, bundle)
    location = SAMPLES[path][1]
    assert code == 1, err
    assert f"{location}: {support.field(path).reason}" in err, err
    assert "Traceback" not in err
    assert tree(root) == []
    assert [c for c in cli_fake.calls if c[0] == "create"] == []
    assert tree(bundle) == before


@pytest.mark.parametrize("path", sorted(rows(IGNORED)))
def test_an_ignored_field_is_accepted_with_one_warning_naming_it(
        path, capsys, cli_fake, root, make_bundle):
    bundle = make_bundle(sample_config(path))
    code, err = run_create(capsys, root, bundle)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    location = SAMPLES[path][1]
    assert warnings == [f"edera-oci: warning: config.json: {location}: ignored: "
                        f"{support.field(path).reason}"], err
    assert run_cli(capsys, "--root", root, "delete", "-f", "c")[0] == 0


def test_a_config_of_applied_fields_creates_without_a_warning(capsys, cli_fake, root,
                                                               make_bundle):
    cfg = minimal_config(
        hostname="h", domainname="d", annotations={"a": "b"},
        mounts=[{"destination": "/proc", "type": "proc", "source": "proc",
                 "options": ["nosuid", "noexec", "nodev", "defaults", "mode=755"]}],
        linux={"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup")]
               + [{"type": "network", "path": "/run/netns/x"}],
               "resources": {"memory": {"limit": 1 << 28}, "pids": {"limit": 10},
                             "cpu": {"shares": 512, "quota": 50000, "period": 100000},
                             "blockIO": {"weight": 0}},
               "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
               "sysctl": {"net.ipv4.ip_forward": "1"}, "uidMappings": []},
    )
    cfg["process"].update(noNewPrivileges=True, oomScoreAdj=0, apparmorProfile="",
                          rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}])
    code, err = run_create(capsys, root, make_bundle(cfg))
    assert code == 0 and err == "", err


def test_fields_the_table_does_not_know_are_ignored_with_a_warning(capsys, cli_fake, root,
                                                                   make_bundle):
    cfg = minimal_config(**{"io.example.vendor": {"x": 1}})
    cfg["linux"] = {"netDevices": {"eth1": {"name": "eth1"}}}
    cfg["hooks"] = {"beforeSunrise": [{"path": "/bin/true"}]}
    code, err = run_create(capsys, root, make_bundle(cfg))
    assert code == 0, err
    reason = support.UNKNOWN_REASON
    assert err.splitlines() == [f"edera-oci: warning: config.json: {where}: ignored: {reason}"
                                for where in ("io.example.vendor", "linux.netDevices",
                                              "hooks.beforeSunrise")]


def test_a_field_seen_many_times_is_one_warning_line():
    cfg = minimal_config(mounts=[
        {"destination": f"/t{i}", "type": "tmpfs", "options": ["tmpcopyup"]} for i in range(5)])
    assert support.warnings(cfg) == [
        "mounts[0].options[0] (tmpcopyup), mounts[1].options[0] (tmpcopyup), "
        "mounts[2].options[0] (tmpcopyup) and 2 more: ignored: "
        + support.field("mounts[].options[tmpcopyup]").reason]


def test_exec_process_files_are_refused_and_warned_through_the_table(capsys, cli_fake, root,
                                                                      make_bundle, tmp_path):
    assert run_cli(capsys, "--root", root, "create", "-b", make_bundle(), "c")[0] == 0
    proc = {"cwd": "/", "args": ["true"], "apparmorProfile": "docker-default"}
    (tmp_path / "p.json").write_text(json.dumps(proc))
    code, _out, err = run_cli(capsys, "--root", root, "exec", "-p", tmp_path / "p.json", "c")
    assert code == 0, err
    assert (f"edera-oci: warning: {tmp_path / 'p.json'}: process.apparmorProfile: ignored: "
            + support.field("process.apparmorProfile").reason) in err.splitlines()


# -- an applied row is applied: it reaches the zone's records, or the host does it --------------

# Applied on the host side, not through the zone's records; each names what shows it.
HOST_SIDE = {
    "ociVersion": "test_fixtures.py (oci-*.json accepted, 0.x and 2.x refused)",
    "root.path": "test_disks.py (the rootfs becomes the zone's ext4 disk)",
    "annotations": "test_lifecycle.py (state and hooks carry them)",
    "mounts[].source": "test_shares.py, test_create_shares.py (bind sources shared live)",
    **{f"hooks.{kind}": "test_hooks.py, test_lifecycle.py" for kind in (
        "prestart", "createRuntime", "createContainer", "startContainer", "poststart",
        "poststop")},
    "linux.namespaces[network]": "test_network.py (the zone's NIC mirrors the namespace)",
    "linux.namespaces[network].path": "test_network.py",
}
PROC = {"process": {"args": ["/bin/true"], "cwd": "/"}}
# row -> (a config without the field, the same config with it): their zone records differ
RECORD_SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "root.readonly": ({}, {"root": {"readonly": True}}),
    "linux.seccomp": ({}, {"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO"}}}),
    "linux.resources.memory.reservation": ({}, {"linux": {"resources": {"memory": {
        "reservation": 1 << 20}}}}),
    "linux.resources.memory.swap": ({"linux": {"resources": {"memory": {"limit": 1 << 28}}}},
                                    {"linux": {"resources": {"memory": {"swap": 1 << 29}}}}),
    "linux.resources.cpu.cpus": ({}, {"linux": {"resources": {"cpu": {"cpus": "0"}}}}),
    "linux.resources.cpu.mems": ({}, {"linux": {"resources": {"cpu": {"mems": "0"}}}}),
    "linux.resources.blockIO.weight": ({}, {"linux": {"resources": {"blockIO": {
        "weight": 500}}}}),
    "hostname": ({}, {"hostname": "h"}),
    "domainname": ({}, {"domainname": "d"}),
    "process.args": ({}, {"process": {"args": ["/bin/sh", "-c", "x"]}}),
    "process.env": ({}, {"process": {"env": ["A=1"]}}),
    "process.cwd": ({}, {"process": {"cwd": "/tmp"}}),
    "process.terminal": ({}, {"process": {"terminal": True}}),
    "process.consoleSize": ({"process": {"terminal": True}},
                            {"process": {"consoleSize": {"height": 24, "width": 80}}}),
    "process.user.uid": ({}, {"process": {"user": {"uid": 7}}}),
    "process.user.gid": ({}, {"process": {"user": {"gid": 7}}}),
    "process.user.additionalGids": ({}, {"process": {"user": {"additionalGids": [5]}}}),
    "process.user.umask": ({}, {"process": {"user": {"umask": 0o27}}}),
    **{f"process.capabilities.{kind}": ({"process": {"capabilities": {}}},
                                        {"process": {"capabilities": {kind: ["CAP_KILL"]}}})
       for kind in ("bounding", "effective", "inheritable", "permitted", "ambient")},
    "process.rlimits": ({}, {"process": {"rlimits": [
        {"type": "RLIMIT_NOFILE", "soft": 8, "hard": 8}]}}),
    "process.noNewPrivileges": ({}, {"process": {"noNewPrivileges": True}}),
    "process.oomScoreAdj": ({}, {"process": {"oomScoreAdj": 100}}),
    "mounts[].destination": ({"mounts": [{"destination": "/a", "type": "tmpfs"}]},
                             {"mounts": [{"destination": "/b", "type": "tmpfs"}]}),
    "mounts[].type": ({"mounts": [{"destination": "/a", "type": "tmpfs"}]},
                      {"mounts": [{"destination": "/a", "type": "proc"}]}),
    "mounts[].options": ({"mounts": [{"destination": "/a", "type": "tmpfs"}]},
                         {"mounts": [{"destination": "/a", "type": "tmpfs",
                                      "options": ["size=1m"]}]}),
    "linux.namespaces[].type": ({"linux": {"namespaces": [{"type": "pid"}]}},
                                {"linux": {"namespaces": [{"type": "ipc"}]}}),
    **{f"linux.namespaces[{ns}]": ({"linux": {"namespaces": []}},
                                   {"linux": {"namespaces": [{"type": ns}]}})
       for ns in ("mount", "pid", "ipc", "uts", "cgroup")},
    "linux.devices": ({}, {"linux": {"devices": [{"path": "/dev/fuse", "type": "c",
                                                  "major": 10, "minor": 229}]}}),
    "linux.sysctl": ({}, {"linux": {"sysctl": {"net.ipv4.ip_forward": "1"}}}),
    "linux.maskedPaths": ({}, {"linux": {"maskedPaths": ["/proc/kcore"]}}),
    "linux.readonlyPaths": ({}, {"linux": {"readonlyPaths": ["/proc/sys"]}}),
    "linux.resources.memory.limit": ({}, {"linux": {"resources": {"memory": {
        "limit": 1 << 28}}}}),
    "linux.resources.cpu.shares": ({}, {"linux": {"resources": {"cpu": {"shares": 512}}}}),
    "linux.resources.cpu.quota": ({}, {"linux": {"resources": {"cpu": {"quota": 50000}}}}),
    "linux.resources.cpu.period": ({"linux": {"resources": {"cpu": {"quota": 50000}}}},
                                   {"linux": {"resources": {"cpu": {"period": 200000}}}}),
    "linux.resources.pids.limit": ({}, {"linux": {"resources": {"pids": {"limit": 10}}}}),
    "linux.resources.devices": ({}, {"linux": {"resources": {"devices": [
        {"allow": False, "access": "rwm"}]}}}),
}


def zone_records(cfg: dict[str, Any]) -> list:
    return records.container_records(merged(PROC, cfg), {}, None)


def test_every_applied_row_shows_how_it_is_applied():
    applied = {f.path for f in support.FIELDS if f.status is APPLIED and not f.group
               and not f.path.startswith("mounts[].options[")}
    assert set(RECORD_SAMPLES) | set(HOST_SIDE) == applied
    assert not set(RECORD_SAMPLES) & set(HOST_SIDE)


@pytest.mark.parametrize("path", sorted(RECORD_SAMPLES))
def test_an_applied_field_reaches_the_zone(path):
    without, extra = RECORD_SAMPLES[path]
    with_field = merged(without, extra)
    assert support.warnings(merged(minimal_config(), with_field)) == []
    assert zone_records(with_field) != zone_records(without)


@pytest.mark.parametrize("option", support.mount_options())
def test_an_applied_mount_option_is_a_flag_not_data(option):
    assert records.mount_flags([option])[1] == ""


def test_the_config_spec_writes_creates_without_a_warning():
    from edera_oci.default_spec import default_config

    assert support.warnings(default_config()) == [] == support.refusals(default_config())


# -- features, the zone mapping, the README and the man page agree with the table ---------------


def test_features_derive_from_the_table():
    doc = features()
    assert doc["linux"]["namespaces"] == sorted(
        p.removeprefix("linux.namespaces[").removesuffix("]") for p in rows(APPLIED)
        if p.startswith("linux.namespaces[") and p.endswith("]") and "." not in p[17:])
    assert doc["mountOptions"] == sorted(
        p.removeprefix("mounts[].options[").removesuffix("]") for p in rows(APPLIED)
        if p.startswith("mounts[].options["))
    for name, path in (("seccomp", "linux.seccomp"), ("apparmor", "process.apparmorProfile"),
                       ("selinux", "process.selinuxLabel"), ("intelRdt", "linux.intelRdt")):
        assert doc["linux"][name]["enabled"] is (support.field(path).status is APPLIED)
    assert doc["linux"]["mountExtensions"]["idmap"]["enabled"] is False
    assert doc["hooks"] == [p.removeprefix("hooks.") for p in rows(APPLIED)
                            if p.startswith("hooks.")]
    # what features says, the table says, whatever the table's state
    assert "user" not in doc["linux"]["namespaces"]
    assert "tmpcopyup" not in doc["mountOptions"] and "idmap" not in doc["mountOptions"]


def test_the_table_and_the_zone_mapping_agree():
    made_in_zone = {ns for ns in support.namespaces() if ns != "network"}
    assert made_in_zone == set(records.ZONE_NAMESPACES)
    options = {p.removeprefix("mounts[].options[").removesuffix("]")
               for p in (f.path for f in support.FIELDS) if p.startswith("mounts[].options[")}
    # every option the mapping knows has a row; those it drops are not applied (or "defaults")
    assert set(records.MOUNT_OPTIONS) <= options
    assert options - set(records.MOUNT_OPTIONS) == records.IGNORED_OPTIONS
    for opt in records.IGNORED_OPTIONS - {"defaults"}:
        assert support.field(f"mounts[].options[{opt}]").status is not APPLIED, opt
    # an ignored mount option really is not passed on to the mount
    assert records.mount_flags(["tmpcopyup", "nosuid"]) == (records.MS_NOSUID, "")


def test_the_readme_section_is_the_table():
    text = (REPO / "README.md").read_text()
    assert support.between(text, support.README_MARKERS) == support.markdown(), (
        "README.md drifted from edera_oci/support.py: run python3 -m edera_oci.support "
        "--update")
    for f in support.documented():
        assert f"| `{f.path}` | {f.status.value} |" in text


def test_the_create_man_page_section_is_the_table():
    text = (REPO / "man" / "edera-oci-create.8").read_text()
    assert support.between(text, support.MAN_MARKERS) == support.man(), (
        "man/edera-oci-create.8 drifted from edera_oci/support.py: run python3 -m "
        "edera_oci.support --update")
    assert ".SH CONFIG.JSON" in text


def test_update_rewrites_only_between_the_markers(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    man = tmp_path / "create.8"
    readme.write_text("head\n" + "".join(support.README_MARKERS[:1]) + "stale\n"
                      + support.README_MARKERS[1] + "tail\n")
    man.write_text(".TH X\n" + support.MAN_MARKERS[0] + support.MAN_MARKERS[1] + ".SH END\n")
    monkeypatch.setattr(support, "README", readme)
    monkeypatch.setattr(support, "CREATE_MAN", man)
    assert support.update() == [readme, man]
    assert readme.read_text() == ("head\n" + support.README_MARKERS[0] + support.markdown()
                                  + support.README_MARKERS[1] + "tail\n")
    assert man.read_text().endswith(support.man() + support.MAN_MARKERS[1] + ".SH END\n")
    assert support.update() == []  # nothing left to change


def test_the_generator_command_line(capsys):
    assert support.main(["--markdown"]) == 0
    assert capsys.readouterr().out == support.markdown()
    assert support.main(["--man"]) == 0
    assert capsys.readouterr().out == support.man()
    assert support.main(["--bogus"]) == 2
    assert "usage" in capsys.readouterr().err


def test_inert_values_ask_for_nothing():
    cfg = minimal_config(linux={"uidMappings": [], "seccomp": None, "cgroupsPath": "",
                                "resources": {"blockIO": {"weight": 0},
                                              "memory": {"disableOOMKiller": False}}})
    assert support.refusals(cfg) == [] and support.warnings(cfg) == []
    # but a zero that means something does warn: swappiness 0 is a setting
    cfg["linux"]["resources"]["memory"]["swappiness"] = 0
    assert [w.split(":")[0] for w in support.warnings(cfg)] == [
        "linux.resources.memory.swappiness"]

