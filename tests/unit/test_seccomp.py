"""linux.seccomp: the host's checks and records (edera_oci.zone.seccomp), and the zone init
applying real profiles (docker's and podman's, from spec-fixtures/valid) to the workload and to
exec'd processes, driven through build/edera-init-host in a user namespace (where it holds
CAP_SYS_ADMIN, as the zone init does in a zone).

The probe (zone_image/init/tests/syscall_probe.c) prints ``name=0``, ``name=1`` (a positive
result) or ``name=-errno`` per syscall it makes, and ``status=<Seccomp mode>``.
"""

from __future__ import annotations

import errno
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from edera_oci.validate import validate_config
from edera_oci.zone.protocol import Msg, Tag, decode_records, encode_records, exec_payload
from edera_oci.zone.records import container_records, process_records
from edera_oci.zone.seccomp import ACTIONS, ARCHITECTURES, FLAGS, OPERATORS, seccomp_records
from tests.unit.conftest import REPO, minimal_config, run_cli, tree
from tests.unit.test_zone_init import (  # noqa: F401  (fixtures)
    INIT_DIR,
    ExecChannel,
    _unshare,
    host_init,
    summarize,
    unit_run,
    zone,
)

PROBE = INIT_DIR / "build" / "syscall-probe"
FIXTURES = REPO / "spec-fixtures" / "valid"
ENGINES = ["docker-20.10.json", "podman-4.3.json"]
# What the docker profile must block, allow, or answer with its own errno.
BLOCKED = ["unshare-user", "keyctl", "add_key", "personality:0x20000"]
ALLOWED = ["personality:0xffffffff", "personality:8", "getpid", "uname"]
SIGSYS_STATUS = 128 + signal.SIGSYS  # 159


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def _probe_records(cfg: dict[str, Any], probes: list[str], nnp: bool | None = None) -> list:
    """The fixture's process (capabilities, env, ...) running the probe. Without its user and
    rlimits: ``unshare --map-root-user`` denies setgroups in the test's user namespace, and
    podman's RLIMIT_NOFILE is over the host's hard limit (the zone's real root may do both)."""
    proc = dict(cfg["process"], args=[str(PROBE), *probes], terminal=False)
    if nnp is not None:
        proc["noNewPrivileges"] = nnp
    return [(t, v) for t, v in process_records(proc)
            if t not in (Tag.UID, Tag.GID, Tag.ADDITIONAL_GID, Tag.RLIMIT)]


def _results(out: bytes) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split("=", 1) for line in out.decode().splitlines())}


def _in_userns(zone):  # noqa: F811
    if not PROBE.exists():
        pytest.fail(f"{PROBE} was not built (make -C zone_image/init test)", pytrace=False)
    return zone(wrapper=_unshare("--user", "--map-root-user"))


def _run(z, records: list) -> dict:
    z.create(records)
    z.start()
    return z.wait_exit()


# --- host side: checks, records, features -------------------------------------------------

def test_engine_profiles_map_to_records() -> None:
    cfg = _fixture("docker-20.10.json")
    recs = seccomp_records(cfg["linux"]["seccomp"])
    assert recs[0] == (Tag.SECCOMP_DEFAULT, ["SCMP_ACT_ERRNO", "1"])
    assert [v for t, v in recs if t == Tag.SECCOMP_ARCH] == [
        "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    rules = [v for t, v in recs if t == Tag.SECCOMP_SYSCALL]
    assert len(rules) == len(cfg["linux"]["seccomp"]["syscalls"])
    assert ["SCMP_ACT_ALLOW", "", "personality", 0, 8, 0, "SCMP_CMP_EQ"] in rules
    assert ["SCMP_ACT_ALLOW", "", "clone", 0, 2114060288, 0, "SCMP_CMP_MASKED_EQ"] in rules
    assert ["SCMP_ACT_ERRNO", "38", "clone3"] in rules
    # The SPEC carries them (after the process records) as NUL-separated fields.
    cfg["mounts"] = []
    spec = encode_records(container_records(cfg, {}, None))
    decoded = [(t, v) for t, v in decode_records(spec) if t >= Tag.SECCOMP_DEFAULT]
    assert decoded[0] == (Tag.SECCOMP_DEFAULT, b"SCMP_ACT_ERRNO\x001")
    assert (Tag.SECCOMP_SYSCALL, b"SCMP_ACT_ERRNO\x0038\x00clone3") in decoded
    # No linux.seccomp: no records, no filter.
    assert seccomp_records(None) == []
    assert not [t for t, _ in container_records(minimal_config(), {}, None)
                if t >= Tag.SECCOMP_DEFAULT]


@pytest.mark.parametrize("seccomp, message", [
    ({"defaultAction": "SCMP_ACT_NOTIFY"},
     "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not supported"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]},
     "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/a.sock"},
     "linux.seccomp.listenerPath"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_M68K"]},
     "linux.seccomp.architectures[1]"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SIMILAR"}]}]},
     "linux.seccomp.syscalls[0].args[0].op"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 65536}]},
     "linux.seccomp.syscalls[0].errnoRet: 65536 is not an errno"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read,write"], "action": "SCMP_ACT_ALLOW"}]},
     "linux.seccomp.syscalls[0].names[0]"),
])
def test_unsupported_seccomp_is_refused_naming_the_field(seccomp, message) -> None:
    from edera_oci.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        validate_config(minimal_config(linux={"seccomp": seccomp}))
    assert message in str(err.value)
    with pytest.raises(ValueError):
        seccomp_records(seccomp)


def test_create_with_a_refused_profile_leaves_nothing(capsys, cli_fake, root, make_bundle) -> None:
    bundle = make_bundle(minimal_config(linux={"seccomp": {
        "defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/seccomp-agent.sock"}}))
    before = tree(bundle)
    code, out, err = run_cli(capsys, "--root", root, "create", "-b", bundle, "c1")
    assert code == 1 and out == ""
    assert err.startswith("edera-oci: ") and "linux.seccomp.listenerPath" in err
    assert "Traceback" not in err
    assert tree(root) == [] and tree(bundle) == before
    assert not [c for c in cli_fake.calls if c[0] == "create"] and cli_fake.zones == {}


def test_features_list_what_the_zone_applies() -> None:
    from edera_oci.features import features

    doc = features()["linux"]["seccomp"]
    assert doc["enabled"] is True
    assert doc["actions"] == list(ACTIONS) and "SCMP_ACT_NOTIFY" not in doc["actions"]
    assert doc["archs"] == list(ARCHITECTURES)
    assert doc["operators"] == list(OPERATORS)
    assert doc["supportedFlags"] == list(FLAGS)
    assert set(doc["supportedFlags"]) < set(doc["knownFlags"])
    # Every advertised name is accepted by validation and mapped to records.
    every = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": doc["archs"],
             "flags": doc["supportedFlags"],
             "syscalls": [{"names": ["getpid"], "action": a} for a in doc["actions"]]
             + [{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 1, "op": op}]} for op in doc["operators"]]}
    validate_config(minimal_config(linux={"seccomp": every}))
    assert len(seccomp_records(every)) == 1 + len(doc["archs"]) + len(doc["supportedFlags"]) \
        + len(doc["actions"]) + len(doc["operators"])


# --- the zone init applying real profiles ---------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_engine_profile_blocks_what_it_lists(zone, engine) -> None:  # noqa: F811
    """docker's/podman's profile with noNewPrivileges (filter loaded just before execve, after
    the capabilities dropped CAP_SYS_ADMIN): blocked calls get EPERM (defaultErrnoRet 1),
    clone3 its errnoRet ENOSYS, personality only the listed values; without the profile the
    same calls work."""
    cfg = _fixture(engine)
    probes = [*ALLOWED, "clone3", "close_range", "status", *BLOCKED]
    res = _run(_in_userns(zone), _probe_records(cfg, probes, nnp=True)
               + seccomp_records(cfg["linux"]["seccomp"]))
    assert res["status"] == 0, res
    got = _results(res["stdout"])
    assert got["status"] == 2
    for name in BLOCKED:
        assert got[name] == -errno.EPERM, (name, got)
    assert got["clone3"] == -errno.ENOSYS
    # close_range (436) is newer than every syscall the profile names (clone3, 435): the
    # ENOSYS stub answers, as under runc, so libc falls back instead of failing on EPERM.
    assert got["close_range"] == -errno.ENOSYS
    assert got["personality:0xffffffff"] >= 0 and got["personality:8"] >= 0
    assert got["getpid"] == 1 and got["uname"] == 0

    free = _run(_in_userns(zone), _probe_records(cfg, probes, nnp=True))
    assert free["status"] == 0, free
    got = _results(free["stdout"])
    assert got["status"] == 0
    for name in BLOCKED:
        assert got[name] >= 0, (name, got)
    assert got["clone3"] == got["close_range"] == -errno.EINVAL


def test_without_nnp_the_filter_is_loaded_before_the_user_and_capabilities(zone) -> None:  # noqa: F811
    """As runc: without noNewPrivileges the filter goes in while the process still has
    CAP_SYS_ADMIN, before the bounding set, setgroups/setuid and capset. docker's real profile
    allows those calls (the fixture's is shortened): with them it runs, though docker's
    capabilities lack CAP_SYS_ADMIN; with the shortened one the bounding set's prctl is already
    filtered (runc fails the same way)."""
    cfg = _fixture("docker-20.10.json")
    assert "CAP_SYS_ADMIN" not in cfg["process"]["capabilities"]["effective"]
    assert not cfg["process"].get("noNewPrivileges")
    full = json.loads(json.dumps(cfg["linux"]["seccomp"]))
    full["syscalls"].append({"names": ["setgroups", "setresgid", "setresuid", "prctl"],
                             "action": "SCMP_ACT_ALLOW"})
    res = _run(_in_userns(zone), _probe_records(cfg, ["status", "keyctl"])
               + seccomp_records(full))
    assert res["status"] == 0, res
    assert _results(res["stdout"]) == {"status": 2, "keyctl": -errno.EPERM}

    short = _run(_in_userns(zone), _probe_records(cfg, ["status"])
                 + seccomp_records(cfg["linux"]["seccomp"]))
    assert short["status"] == 1
    assert b"from the bounding set: Operation not permitted" in short["stderr"], short


def test_errno_ret_unknown_names_and_kill_process(zone) -> None:  # noqa: F811
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV},
        # an unknown name is skipped; the rest of its rule applies (runc does the same)
        {"names": ["no_such_syscall_edera", "getpid"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["keyctl"], "action": "SCMP_ACT_ALLOW"},  # = the default: skipped
    ]}
    validate_config(minimal_config(linux={"seccomp": profile}))
    res = _run(_in_userns(zone), [(Tag.ARG, str(PROBE)), (Tag.ARG, "uname"),
                                   (Tag.ARG, "getpid"), (Tag.ARG, "keyctl"),
                                   (Tag.ARG, "close_range"), (Tag.ARG, "getppid"),
                                   (Tag.ARG, "status")]
               + seccomp_records(profile))
    assert res["status"] == SIGSYS_STATUS, res
    # close_range is past every named syscall, but the default allows: no ENOSYS stub
    assert _results(res["stdout"]) == {"uname": -errno.EXDEV, "getpid": -errno.EPERM,
                                       "keyctl": 1, "close_range": -errno.EINVAL}


def test_arg_conditions(zone) -> None:  # noqa: F811
    """Conditions decide per value; two on the same argument are two rules (either matches),
    as runc splits them; MASKED_EQ compares (arg & value) with valueTwo."""
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV,
         "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES,
         "args": [{"index": 0, "value": 0x100, "op": "SCMP_CMP_GT"}]},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS,
         "args": [{"index": 1, "value": 0xF0, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
    ]}
    probes = ["personality:3", "personality:4", "personality:5", "personality:8",
              "personality:0x200", "clone3"]
    res = _run(_in_userns(zone), [(Tag.ARG, str(PROBE)), *[(Tag.ARG, p) for p in probes]]
               + seccomp_records(profile))
    assert res["status"] == 0, res
    got = _results(res["stdout"])
    assert got["personality:3"] == got["personality:5"] == -errno.EXDEV
    assert got["personality:4"] >= 0 and got["personality:8"] >= 0
    assert got["personality:0x200"] == -errno.EACCES
    assert got["clone3"] == -errno.ENOSYS  # size 0: (0 & 0xf0) == 0


def test_exec_gets_the_containers_filter_or_its_own(zone) -> None:  # noqa: F811
    cfg = _fixture("docker-20.10.json")
    z = _in_userns(zone)
    z.create(_probe_records(cfg, ["status", "wait"], nnp=True)
             + seccomp_records(cfg["linux"]["seccomp"]))
    z.start()
    z.wait_output(b"waiting\n")
    exec_recs = _probe_records(cfg, ["status", "keyctl", "getpid"], nnp=True)
    z.send(Msg.EXEC, exec_payload(2, encode_records(exec_recs)))
    res = summarize(ExecChannel(z, 2).read_until(Msg.EXIT))
    assert res["status"] == 0, res
    assert _results(res["stdout"]) == {"status": 2, "keyctl": -errno.EPERM, "getpid": 1}
    # An EXEC with SECCOMP records of its own gets that filter instead.
    own = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]}
    z.send(Msg.EXEC, exec_payload(3, encode_records(exec_recs + seccomp_records(own))))
    res = summarize(ExecChannel(z, 3).read_until(Msg.EXIT))
    assert _results(res["stdout"]) == {"status": 2, "keyctl": 1, "getpid": -5}, res
    z.send(Msg.STDIN_EOF)
    assert z.wait_exit()["status"] == 0
    assert z.finish() == 0


def test_a_profile_libseccomp_refuses_fails_spec(zone) -> None:  # noqa: F811
    z = _in_userns(zone)
    z.send(Msg.SPEC, encode_records([(Tag.ARG, str(PROBE)),
                                     (Tag.SECCOMP_DEFAULT, ["SCMP_ACT_ERRNO", ""]),
                                     (Tag.SECCOMP_ARCH, "SCMP_ARCH_VAX")]))
    res = summarize(z.read_until(Msg.EXIT))
    assert res["types"] == [Msg.ERROR, Msg.EXIT] and res["status"] == 1
    assert 'spec: seccomp architecture "SCMP_ARCH_VAX" is not known' in res["error"]


def test_unfiltered_workload_has_seccomp_mode_0(zone, tmp_path: Path) -> None:  # noqa: F811
    res = _run(_in_userns(zone), [(Tag.ARG, str(PROBE)), (Tag.ARG, "status")])
    assert _results(res["stdout"]) == {"status": 0}
