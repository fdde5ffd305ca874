"""The OCI config -> zone records mapping and the channel codec (pure logic, no Xen)."""

from __future__ import annotations

import pytest

from edera_oci.zone import protocol as p
from edera_oci.zone.records import (
    MAX_CONFIG_DEVICE_RULES,
    MAX_DEVICE_RULES,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MappingError,
    container_records,
    mount_flags,
    process_records,
)


def fields(value: bytes) -> list[str]:
    return value.decode().split("\0")


def by_tag(records, tag):
    return [v for t, v in p.decode_records(p.encode_records(records)) if t == tag]


def test_frames_round_trip_in_pieces():
    data = p.encode_frame(p.Msg.STDOUT, b"out") + p.encode_frame(p.Msg.EXIT, b"\x03\0\0\0")
    reader = p.FrameReader()
    got = []
    for i in range(len(data)):  # one byte at a time: frames split anywhere still parse
        got += list(reader.feed(data[i:i + 1]))
    assert [(f.type, f.payload) for f in got] == [(p.Msg.STDOUT, b"out"), (p.Msg.EXIT, b"\3\0\0\0")]
    assert p.exit_status(got[1].payload) == 3


def test_oversized_frame_is_a_protocol_error():
    reader = p.FrameReader()
    with pytest.raises(p.ProtocolError):
        list(reader.feed(p.FRAME_HEADER.pack(p.Msg.STDOUT, p.MAX_PAYLOAD + 1)))


def test_truncated_record_is_rejected():
    raw = p.encode_records([(p.Tag.ARG, "sh")])
    with pytest.raises(p.ProtocolError):
        p.decode_records(raw[:-1])


def test_mount_options_become_flags_and_data():
    flags, data = mount_flags(["nosuid", "noexec", "nodev", "mode=755", "size=65536k"])
    assert flags == MS_NOSUID | MS_NOEXEC | MS_NODEV
    assert data == "mode=755,size=65536k"
    flags, _ = mount_flags(["rbind", "ro", "rw"])
    assert flags == MS_BIND | MS_REC  # the later rw clears ro


def test_process_records_carry_user_rlimits_and_caps():
    recs = process_records({
        "args": ["sh", "-c", "true"], "env": ["A=1"], "cwd": "/w",
        "user": {"uid": 1000, "gid": 100, "additionalGids": [5, 6], "umask": 18},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}],
        "capabilities": {"bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"]},
        "noNewPrivileges": True, "oomScoreAdj": -100,
    })
    assert by_tag(recs, p.Tag.ARG) == [b"sh", b"-c", b"true"]
    assert by_tag(recs, p.Tag.CWD) == [b"/w"]
    assert by_tag(recs, p.Tag.ADDITIONAL_GID) == [b"5", b"6"]
    assert by_tag(recs, p.Tag.UMASK) == [b"18"]
    assert [fields(v) for v in by_tag(recs, p.Tag.RLIMIT)] == [["7", "10", "20"]]
    # CAP_CHOWN is bit 0, CAP_KILL bit 5
    assert fields(by_tag(recs, p.Tag.CAPS)[0]) == ["21", "20", "0", "0", "0"]
    assert by_tag(recs, p.Tag.NO_NEW_PRIVS) == [b""]
    assert by_tag(recs, p.Tag.OOM_SCORE_ADJ) == [b"-100"]


def test_unknown_capability_and_rlimit_name_the_field():
    with pytest.raises(MappingError, match=r"process.capabilities.bounding: unknown capability"):
        process_records({"args": ["x"], "capabilities": {"bounding": ["CAP_FLY"]}})
    with pytest.raises(MappingError, match=r"process.rlimits\[0\].type"):
        process_records({"args": ["x"], "rlimits": [{"type": "RLIMIT_X", "soft": 1, "hard": 1}]})
    with pytest.raises(MappingError, match="process.args"):
        process_records({"args": []})


def test_container_records_map_mounts_and_binds():
    config = {
        "process": {"args": ["true"]},
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "h",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["ro", "nosuid"]},
            {"destination": "/etc/hosts", "type": "bind", "source": "/var/x/hosts",
             "options": ["rbind", "ro"]},
        ],
        "linux": {"sysctl": {"net.ipv4.ip_forward": "1"}, "maskedPaths": ["/proc/kcore"],
                  "readonlyPaths": ["/proc/sys"]},
    }
    recs = container_records(config, {2: "/run/edera/binds/2"}, ("edera-binds", "trans=xen"))
    mounts = [fields(v) for v in by_tag(recs, p.Tag.MOUNT)]
    assert mounts[0] == ["/proc", "proc", "proc", "0", ""]
    assert mounts[1] == ["/sys/fs/cgroup", "cgroup2", "cgroup", str(MS_RDONLY | MS_NOSUID), ""]
    assert mounts[2] == ["/etc/hosts", "bind", "/run/edera/binds/2",
                         str(MS_BIND | MS_REC | MS_RDONLY), ""]
    assert [fields(v) for v in by_tag(recs, p.Tag.BINDS_SHARE)] == [["edera-binds", "trans=xen"]]
    assert by_tag(recs, p.Tag.BINDS_DISK) == []
    assert by_tag(recs, p.Tag.HOSTNAME) == [b"h"]
    assert [fields(v) for v in by_tag(recs, p.Tag.SYSCTL)] == [["net.ipv4.ip_forward", "1"]]
    assert by_tag(recs, p.Tag.MASKED_PATH) == [b"/proc/kcore"]
    assert by_tag(recs, p.Tag.ROOT_READONLY) == [b""]


def test_bind_without_a_zone_source_and_foreign_fs_are_refused():
    config = {"process": {"args": ["true"]},
              "mounts": [{"destination": "/x", "type": "bind", "source": "/y"}]}
    with pytest.raises(MappingError, match=r"mounts\[0\]"):
        container_records(config, {}, None)
    config["mounts"] = [{"destination": "/x", "type": "nfs", "source": "srv:/"}]
    with pytest.raises(MappingError, match=r"mounts\[0\].type"):
        container_records(config, {}, None)


def test_namespaces_and_devices_become_records():
    config = {
        "process": {"args": ["sh"]},
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/x"},
                           {"type": "ipc", "path": "/proc/1/ns/ipc"}, {"type": "mount"},
                           {"type": "uts"}, {"type": "cgroup"}],
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
                        {"path": "/dev/sdz", "type": "b", "major": 8, "minor": 0,
                         "fileMode": 0o100660, "uid": 0, "gid": 6},
                        {"path": "/dev/ttyX", "type": "u", "major": 4, "minor": 7}],
        },
    }
    recs = container_records(config, {}, None)
    # network is the zone's own stack, not a namespace inside it; a path cannot be joined
    # from a zone: the workload gets a new namespace of that type
    assert [fields(v) for v in by_tag(recs, p.Tag.NAMESPACE)] == [
        ["pid"], ["ipc"], ["mount"], ["uts"], ["cgroup"]]
    assert [fields(v) for v in by_tag(recs, p.Tag.DEVICE)] == [
        ["/dev/fuse", "c", "10", "229", "438", "0", "0"],
        ["/dev/sdz", "b", "8", "0", "432", "0", "6"],
        ["/dev/ttyX", "c", "4", "7", "438", "0", "0"]]
    with pytest.raises(MappingError, match=r"linux.devices\[0\].type"):
        container_records({"process": {"args": ["sh"]},
                           "linux": {"devices": [{"path": "/dev/x", "type": "z"}]}}, {}, None)
    with pytest.raises(MappingError, match=r"linux.devices\[0\].path"):
        container_records({"process": {"args": ["sh"]},
                           "linux": {"devices": [{"path": "x", "type": "c"}]}}, {}, None)


def test_features_list_the_namespaces_the_workload_gets():
    from edera_oci.features import features
    from edera_oci.zone.records import ZONE_NAMESPACES

    assert features()["linux"]["namespaces"] == sorted((*ZONE_NAMESPACES, "network"))
    assert set(ZONE_NAMESPACES) == {"mount", "pid", "ipc", "uts", "cgroup"}


def test_resources_become_cgroup_records():
    config = {"process": {"args": ["sh"]}, "linux": {"resources": {
        "memory": {"limit": 256 << 20}, "pids": {"limit": 64},
        "cpu": {"quota": 50000, "period": 100000, "shares": 1024}}}}
    got = [fields(v) for v in by_tag(container_records(config, {}, None), p.Tag.CGROUP)]
    assert got == [["memory.max", str(256 << 20)], ["pids.max", "64"],
                   ["cpu.max", "50000 100000"], ["cpu.weight", "39"]]
    unlimited = {"process": {"args": ["sh"]}, "linux": {"resources": {"pids": {"limit": -1}}}}
    assert [fields(v) for v in by_tag(container_records(unlimited, {}, None),
                                      p.Tag.CGROUP)] == [["pids.max", "max"]]


RUNC_DEFAULTS = [["1", "c", "-1", "-1", "m"], ["1", "b", "-1", "-1", "m"],
                 ["1", "c", "1", "3", "rwm"], ["1", "c", "1", "8", "rwm"],
                 ["1", "c", "1", "7", "rwm"], ["1", "c", "5", "0", "rwm"],
                 ["1", "c", "1", "5", "rwm"], ["1", "c", "1", "9", "rwm"],
                 ["1", "c", "136", "-1", "rwm"], ["1", "c", "5", "2", "rwm"],
                 ["1", "c", "10", "200", "rwm"]]


def device_rules(devices, linux_devices=None) -> list[list[str]]:
    linux = {"resources": {"devices": devices}}
    if linux_devices is not None:
        linux["devices"] = linux_devices
    config = {"process": {"args": ["sh"]}, "linux": linux}
    return [fields(v) for v in by_tag(container_records(config, {}, None), p.Tag.DEVICE_RULE)]


def test_device_rules_become_records_in_order_then_runcs_defaults():
    """runc's order on cgroup v2: config.json's rules (type a and -1 for any when absent),
    then the devices runc always allows; the zone compiles them, the last match deciding."""
    got = device_rules([{"allow": False, "access": "rwm"},
                        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                        {"allow": True, "type": "b", "major": 8, "access": "r"},
                        {"allow": False, "type": "c", "minor": 0, "access": "mw"}])
    assert got == [["0", "a", "-1", "-1", "rwm"], ["1", "c", "1", "3", "rwm"],
                   ["1", "b", "8", "-1", "r"], ["0", "c", "-1", "0", "mw"], *RUNC_DEFAULTS]
    # docker's privileged list: everything, and runc's rules change nothing
    assert device_rules([{"allow": True, "access": "rwm"}])[0] == ["1", "a", "-1", "-1", "rwm"]
    assert device_rules([{"allow": True, "type": "", "access": "r"}])[0] == [
        "1", "a", "-1", "-1", "r"]  # runc reads an empty type as absent
    # the records come after the CGROUP ones, before the process's
    tags = [t for t, _ in container_records(
        {"process": {"args": ["sh"]}, "linux": {"resources": {
            "pids": {"limit": 5}, "devices": [{"allow": False, "access": "rwm"}]}}}, {}, None)]
    assert tags.index(p.Tag.CGROUP) < tags.index(p.Tag.DEVICE_RULE) < tags.index(p.Tag.ARG)


def test_no_device_rules_no_records():
    """Without a list (or with an empty one) the zone keeps allowing every device but its own
    plumbing: no DEVICE_RULE record, not even runc's defaults."""
    assert device_rules([]) == []
    assert device_rules(None) == []
    assert by_tag(container_records({"process": {"args": ["sh"]}}, {}, None),
                  p.Tag.DEVICE_RULE) == []


def test_a_default_rule_for_a_node_linux_devices_makes_is_left_out():
    """As runc: a default device (with a path) that linux.devices lists is not allowed by
    runc's rule; the config's rules decide it."""
    got = device_rules([{"allow": False, "access": "rwm"}],
                       [{"path": "/dev/zero", "type": "c", "major": 1, "minor": 5},
                        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}])
    assert ["1", "c", "1", "5", "rwm"] not in got
    assert got[1:] == [r for r in RUNC_DEFAULTS if r != ["1", "c", "1", "5", "rwm"]]


@pytest.mark.parametrize("rule, field", [
    ({"allow": True, "type": "u", "access": "rwm"}, "type"),
    ({"allow": True, "type": "p", "access": "rwm"}, "type"),
    ({"allow": True, "access": "rwx"}, "access"),
    ({"allow": True, "access": ""}, "access"),
    ({"allow": True}, "access"),
    ({"allow": True, "major": -2, "access": "r"}, "major"),
    ({"allow": True, "minor": 1 << 32, "access": "r"}, "minor"),
    ({"allow": True, "major": True, "access": "r"}, "major"),
])
def test_a_rule_runc_refuses_is_refused_by_name(rule, field):
    with pytest.raises(MappingError, match=rf"^linux.resources.devices\[1\]\.{field}: "):
        device_rules([{"allow": False, "access": "rwm"}, rule])


def test_the_zone_takes_a_bounded_number_of_rules():
    rule = {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"}
    assert len(device_rules([rule] * MAX_CONFIG_DEVICE_RULES)) == MAX_DEVICE_RULES
    with pytest.raises(MappingError, match=r"linux.resources.devices: 1014 rules; a zone takes "
                                           "at most 1013"):
        device_rules([rule] * (MAX_CONFIG_DEVICE_RULES + 1))
    # -1 is runc's "any", and the largest number it takes is taken
    assert device_rules([{"allow": True, "type": "c", "major": -1, "minor": (1 << 32) - 1,
                          "access": "m"}])[0] == ["1", "c", "-1", str((1 << 32) - 1), "m"]
