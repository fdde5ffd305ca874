"""A corrupt or truncated ``state.json`` never blocks other containers.

Two containers exist (on the fake backend, whose monitors are real processes); one's state
is then broken in one of many ways. ``list`` shows the broken one as ``unknown`` and the other
with its real status; ``state`` of the broken one is a clear error naming it; every verb
answers with one line and a non-zero status, never a traceback; loading raises
``StateCorrupt`` (an ``EderaError``) carrying the id.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from edera_oci.errors import EderaError
from edera_oci.lifecycle.common import Runtime
from edera_oci.lifecycle.container_list import list_containers
from edera_oci.lifecycle.container_state import container_state
from edera_oci.state import MAX_STATE_FILE, StateCorrupt, read_state_file
from tests.unit.conftest import run_cli


def good_state(**changes) -> dict:
    raw = {"id": "bad", "bundle": "/b", "rootfs": "/b/rootfs", "created": "t",
           "status": "running", "pid": 1, "pid_start": None, "annotations": {}, "owner": "root",
           "oci_version": "1.2.0", "hooks": {}, "started": None, "zone": {}}
    raw.update(changes)
    return raw


def without(key: str) -> dict:
    raw = good_state()
    del raw[key]
    return raw


def as_json(doc) -> bytes:
    return json.dumps(doc).encode()


# name -> bytes for state.json, or a callable(path) that makes state.json
CORRUPTIONS = {
    "empty": b"",
    "whitespace": b" \n",
    "truncated": as_json(good_state())[:25],
    "not json": b"this is not json",
    "binary": bytes(range(256)) * 4,
    "nul bytes": b"\0" * 100,
    "invalid utf-8": b'{"id": "\xff"}',
    "a list": b"[]",
    "null": b"null",
    "a string": b'"bad"',
    "a number": b"42",
    "other id": as_json(good_state(id="other")),
    "id missing": as_json(without("id")),
    "bundle missing": as_json(without("bundle")),
    "status missing": as_json(without("status")),
    "status unknown": as_json(good_state(status="zombie")),
    "status a list": as_json(good_state(status=["running"])),
    "pid a string": as_json(good_state(pid="12")),
    "pid a bool": as_json(good_state(pid=True)),
    "pid negative": as_json(good_state(pid=-5)),
    "pid a float": as_json(good_state(pid=1.5)),
    "pid_start a string": as_json(good_state(pid_start="x")),
    "zone a list": as_json(good_state(zone=[])),
    "zone domid a string": as_json(good_state(zone={"domid": "7"})),
    "zone monitor_pid a dict": as_json(good_state(zone={"monitor_pid": {}})),
    "zone state_dir a number": as_json(good_state(zone={"state_dir": 3})),
    "annotations a list": as_json(good_state(annotations=["a"])),
    "annotation value a number": as_json(good_state(annotations={"a": 1})),
    "hooks a list": as_json(good_state(hooks=[])),
    "hook kind a dict": as_json(good_state(hooks={"poststop": {"path": "/x"}})),
    "hook without path": as_json(good_state(hooks={"poststop": [{"args": ["x"]}]})),
    "hook args not strings": as_json(good_state(hooks={"poststop": [{"path": "/x",
                                                                      "args": [1]}]})),
    "hook timeout a string": as_json(good_state(hooks={"poststop": [{"path": "/x",
                                                                      "timeout": "1"}]})),
    "bundle a number": as_json(good_state(bundle=5)),
    "created null": as_json(good_state(created=None)),
    "started a number": as_json(good_state(started=5)),
    "deep nesting": b'{"id": "bad", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "NaN pid": as_json(good_state()).replace(b'"pid": 1', b'"pid": NaN'),
    "huge number": as_json(good_state()).replace(b'"pid": 1', b'"pid": 1e999'),
    "huge int": as_json(good_state()).replace(b'"pid": 1', b'"pid": ' + b"9" * 5000),
    "lone surrogate": as_json(good_state()).replace(b'"/b"', b'"\\udcff"'),
    "too large": as_json(good_state(annotations={"a": "x" * MAX_STATE_FILE})),
    "a directory": lambda p: p.mkdir(),
    "a fifo": os.mkfifo,
    "a symlink to a good state": lambda p: (
        p.with_name("elsewhere.json").write_bytes(as_json(good_state())),
        os.symlink(p.with_name("elsewhere.json"), p)),
    "a dangling symlink": lambda p: os.symlink("/nonexistent", p),
    "a symlink to /dev/zero": lambda p: os.symlink("/dev/zero", p),
}


@pytest.fixture
def two(capsys, cli_fake, root, make_bundle):
    """Containers ``good`` (running) and ``bad`` (created), through the CLI."""
    for cid in ("good", "bad"):
        code, _, err = run_cli(capsys, "--root", root, "create", "-b", make_bundle(), cid)
        assert code == 0, err
    assert run_cli(capsys, "--root", root, "start", "good")[0] == 0
    return root


def corrupt(root, how) -> None:
    path = root / "bad" / "state.json"
    path.unlink()
    if callable(how):
        how(path)
    else:
        path.write_bytes(how)


def one_line_error(err: str) -> bool:
    return err.startswith("edera-oci: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("how", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_corrupt_state_blocks_nobody_else(capsys, two, how):
    root = two
    corrupt(root, how)

    code, out, err = run_cli(capsys, "--root", root, "list", "--format", "json")
    assert code == 0, err
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows["good"]["status"] == "running"
    assert rows["bad"]["status"] == "unknown" and rows["bad"]["pid"] == 0
    assert 'state of container "bad" is corrupt' in err and "listed as unknown" in err
    code, out, err = run_cli(capsys, "--root", root, "list")
    assert code == 0
    assert re.search(r"^bad\s+0\s+unknown", out, re.M), out
    assert run_cli(capsys, "--root", root, "list", "-q")[1] == "bad\ngood\n"

    for verb in (["state", "bad"], ["state", "--", "bad"], ["start", "bad"],
                 ["kill", "bad", "KILL"], ["pause", "bad"], ["ps", "bad"],
                 ["events", "--stats", "bad"], ["exec", "bad", "true"],
                 ["update", "--memory", "1g", "bad"], ["delete", "bad"]):
        code, out, err = run_cli(capsys, "--root", root, *verb)
        assert code == 1, (verb, out, err)
        assert out == "" and one_line_error(err), (verb, err)
        assert 'state of container "bad" is corrupt' in err, (verb, err)
        assert str(root / "bad" / "state.json") in err

    code, out, err = run_cli(capsys, "--root", root, "state", "good")
    assert code == 0 and json.loads(out)["status"] == "running"
    with pytest.raises(StateCorrupt) as info:
        read_state_file(str(root), "bad")
    assert info.value.container_id == "bad"
    assert isinstance(info.value, EderaError)
    assert info.value.path == str(root / "bad" / "state.json")


def test_the_fast_state_path_reports_it_too(capsys, two):
    corrupt(two, b"{trunc")
    code, out, err = run_cli(capsys, "--root", two, "state", "bad")
    assert (code, out) == (1, "")
    assert err == (f'edera-oci: state of container "bad" is corrupt: {two}/bad/state.json is '
                   "not valid JSON (Expecting property name enclosed in double quotes: line 1 "
                   "column 2 (char 1))\n")


def test_a_status_that_cannot_be_told_is_unknown_in_list(two, fake, monkeypatch):
    """Any error telling one container's status (xenstored down, ...) lists it unknown."""
    from edera_oci.errors import ZoneError

    real = fake.status

    def status(state):
        if state.id == "good":
            raise ZoneError("cannot reach xenstored")
        return real(state)

    monkeypatch.setattr(fake, "status", status)
    rows = {r["id"]: r for r in list_containers(Runtime(str(two), backend=fake))}
    assert rows["good"]["status"] == "unknown" and rows["good"]["bundle"]
    assert rows["bad"]["status"] == "created"


def test_a_state_dir_without_state_json_is_still_skipped(two):
    """A create that has claimed its id but not written its state yet: not listed."""
    (two / "bad" / "state.json").unlink()
    assert [r["id"] for r in list_containers(Runtime(str(two)))] == ["good"]
    with pytest.raises(EderaError, match='container "bad" does not exist'):
        container_state(str(two), "bad")


def test_a_create_finishing_between_read_and_lock_check_is_not_stopped(two, monkeypatch):
    """Reliability probe F1: ``state`` read ``creating``, then create saved ``created`` and
    let go of the lock before ``state`` looked at it: that is not a dead create."""
    from edera_oci.lifecycle import container_state as module

    path = two / "bad" / "state.json"
    created = json.loads(path.read_text())
    assert created["status"] == "created"
    path.write_text(json.dumps({**created, "status": "creating"}))

    def create_finishes_meanwhile(root, container_id):
        path.write_text(json.dumps(created))  # saved, then the lock released
        return False

    monkeypatch.setattr(module, "lock_busy", create_finishes_meanwhile)
    assert container_state(str(two), "bad")["status"] == "created"
    path.write_text(json.dumps({**created, "status": "creating"}))
    rows = {r["id"]: r["status"] for r in list_containers(Runtime(str(two)))}
    assert rows["bad"] == "created"
    monkeypatch.setattr(module, "lock_busy", lambda root, container_id: False)
    path.write_text(json.dumps({**created, "status": "creating"}))  # a create that died
    assert container_state(str(two), "bad")["status"] == "stopped"
