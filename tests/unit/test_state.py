"""The on-disk state: ids, atomic writes, locks, liveness of the recorded monitor."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from edera_oci.errors import AlreadyExists, NotFound, UsageError
from edera_oci.state import (
    MAX_ID_LENGTH,
    ContainerState,
    StateStore,
    process_alive,
    process_start_time,
    validate_id,
    write_file_atomic,
)
from edera_oci.validate import validate_state


@pytest.mark.parametrize("good", ["a", "A-b_c.d+e", "0" * 64, "x" * MAX_ID_LENGTH,
                                  "3f2b9c0d-8e7a-4b5c-9d3e-2f1a0b9c8d7e", "..."])
def test_valid_ids(good):
    assert validate_id(good) == good


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "x/..", "a/b", "/", "a b", "x\n",
                                 "x" * (MAX_ID_LENGTH + 1), "ü", "a:b", "a*"])
def test_invalid_ids(bad):
    with pytest.raises(UsageError):
        validate_id(bad)


def make_state(cid="c", **kw):
    return ContainerState(id=cid, bundle="/b", rootfs="/b/rootfs", created="t", status="created",
                          **kw)


def test_state_round_trip_and_oci_view(tmp_path):
    store = StateStore(str(tmp_path / "root"))
    st = make_state(pid=42, pid_start=7, annotations={"k": "v"}, owner="root",
                    zone={"domid": 3, "disks": ["a"]}, hooks={"poststop": []})
    with store.claim("c"):
        store.save(st)
    again = store.load("c")
    assert again == st
    oci = again.oci_state("running")
    assert oci == {"ociVersion": "1.2.0", "id": "c", "pid": 42, "status": "running",
                   "bundle": "/b", "rootfs": "/b/rootfs", "created": "t", "owner": "root",
                   "annotations": {"k": "v"}}
    assert validate_state(oci) == []
    assert again.oci_state("stopped")["pid"] == 0
    assert "annotations" not in make_state().oci_state()


def test_state_file_ignores_unknown_keys(tmp_path):
    store = StateStore(str(tmp_path))
    with store.claim("c") as d:
        raw = make_state().to_dict()
        raw["from_the_future"] = 1
        with open(os.path.join(d, "state.json"), "w") as f:
            json.dump(raw, f)
    assert store.load("c").id == "c"


def test_claim_is_exclusive_and_load_of_unknown_fails(tmp_path):
    store = StateStore(str(tmp_path / "r"))
    with store.claim("c"), pytest.raises(AlreadyExists), store.claim("c"):
        pass
    with pytest.raises(NotFound, match='container "x" does not exist'):
        store.load("x")
    with pytest.raises(NotFound), store.locked("x"):
        pass


def test_root_and_dirs_are_not_world_writable(tmp_path):
    store = StateStore(str(tmp_path / "r"))
    with store.claim("c") as d:
        store.save(make_state())
    assert os.stat(tmp_path / "r").st_mode & 0o022 == 0
    assert os.stat(d).st_mode & 0o022 == 0
    assert os.stat(os.path.join(d, "state.json")).st_mode & 0o077 == 0


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "f"
    write_file_atomic(str(target), b"one")
    write_file_atomic(str(target), b"two")
    assert target.read_bytes() == b"two"
    assert sorted(os.listdir(tmp_path)) == ["f"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f"
    write_file_atomic(str(target), b"old")

    def broken_fsync(fd):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_file_atomic(str(target), b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["f"]


def test_remove_and_list(tmp_path):
    store = StateStore(str(tmp_path / "r"))
    for cid in ("b", "a"):
        with store.claim(cid):
            store.save(make_state(cid))
    os.mkdir(tmp_path / "r" / ".hidden")
    assert store.list_ids() == ["a", "b"]
    store.remove("a")
    assert store.list_ids() == ["b"]
    assert sorted(os.listdir(tmp_path / "r")) == [".hidden", "b"]
    store.remove("a")  # idempotent


def test_process_liveness_and_start_time():
    me = os.getpid()
    start = process_start_time(me)
    assert start is not None and start > 0
    assert process_alive(me, start)
    assert process_alive(me, None)
    assert not process_alive(me, start + 1)  # a different process with the same pid
    assert not process_alive(0, None)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    pid = child.pid
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert not process_alive(pid, None)
    child.wait()
    assert process_start_time(pid) is None


@pytest.mark.parametrize("content", [b"{trunc", b"[]", b'{"id": "other"}'])
def test_corrupt_state_file_is_reported_not_crashed_on(tmp_path, content):
    from edera_oci.errors import EderaError
    from edera_oci.lifecycle.container_state import container_state

    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "state.json").write_bytes(content)
    with pytest.raises(EderaError, match="is corrupt"):
        container_state(str(tmp_path), "c")
