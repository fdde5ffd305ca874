"""``edera-oci check`` on a host without Xen: each probe's verdicts, the report, the exit code.

What needs Xen (a healthy dom0, xenstored stopped, the zone image missing) is in
tests/xen/test_check.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from edera_oci import preflight
from edera_oci.preflight import CheckFailed, CheckResult


def test_state_root_that_does_not_exist_is_creatable(tmp_path):
    assert "will be created" in preflight.check_state_root(str(tmp_path / "a" / "b"))


def test_state_root_private_and_writable(tmp_path):
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    assert "private (mode 0700)" in preflight.check_state_root(str(root))


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o777, 0o701])
def test_state_root_readable_by_others_fails_with_the_fix(tmp_path, mode):
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(mode)
    with pytest.raises(CheckFailed) as e:
        preflight.check_state_root(str(root))
    assert f"mode {mode:04o}" in str(e.value)
    assert e.value.fix == f"chmod 700 {root}"


def test_state_root_symlink_or_file_or_relative_fails(tmp_path):
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)
    (tmp_path / "file").write_text("")
    for bad in (tmp_path / "link", tmp_path / "file"):
        with pytest.raises(CheckFailed, match="not a directory"):
            preflight.check_state_root(str(bad))
    for bad in ("", "relative/root"):
        with pytest.raises(CheckFailed, match="not an absolute path"):
            preflight.check_state_root(bad)


def test_state_root_owned_by_someone_else_fails(tmp_path):
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    os.chown(root, 1234, 1234)
    with pytest.raises(CheckFailed, match="owned by uid 1234"):
        preflight.check_state_root(str(root))


@pytest.mark.parametrize(("major", "minor", "ok"), [("4", "17", True), ("4", "19", True),
                                                    ("5", "0", True), ("4", "16", False)])
def test_xl_version(major, minor, ok):
    info = {"xen_major": major, "xen_minor": minor, "xen_extra": ".0"}
    if ok:
        assert f"Xen {major}.{minor}.0" in preflight.check_xl(info)
    else:
        with pytest.raises(CheckFailed, match="older than 4.17"):
            preflight.check_xl(info)
    with pytest.raises(CheckFailed, match="no Xen version"):
        preflight.check_xl({})


def test_memory_for_a_default_zone():
    assert "room for 4 default zones" in preflight.check_memory({"free_memory": "1100"})
    with pytest.raises(CheckFailed, match="Xen has 200 MiB free, a default zone needs 256"):
        preflight.check_memory({"free_memory": "200"})
    with pytest.raises(CheckFailed, match="no free_memory"):
        preflight.check_memory({"free_memory": "lots"})


def test_default_zone_memory_is_the_backends():
    from edera_oci.zone.backend import DEFAULT_MEMORY_MB

    assert preflight.DEFAULT_ZONE_MEMORY_MB == DEFAULT_MEMORY_MB


def test_zone_image_missing_and_from_another_version(tmp_path, monkeypatch):
    monkeypatch.setenv("EDERA_OCI_ZONE_IMAGE", str(tmp_path / "nowhere"))
    with pytest.raises(CheckFailed, match="no zone image found") as e:
        preflight.check_zone_image()
    assert "make zone-image" in e.value.fix
    image = tmp_path / "image"
    image.mkdir()
    (image / "manifest.json").write_text(json.dumps({"runtime_version": "0.0.1", "protocol": 1}))
    monkeypatch.setenv("EDERA_OCI_ZONE_IMAGE", str(image))
    with pytest.raises(CheckFailed, match="built for edera-oci 0.0.1"):
        preflight.check_zone_image()
    (image / "manifest.json").write_text("{not json")
    with pytest.raises(CheckFailed, match="manifest cannot be read"):
        preflight.check_zone_image()


def test_a_probe_that_hangs_fails_in_bounded_time(monkeypatch):
    monkeypatch.setattr(preflight, "PROBE_TIMEOUT_S", 0.2)
    start = time.monotonic()
    with pytest.raises(CheckFailed, match="xenstored did not answer within"):
        preflight._bounded(lambda: time.sleep(30) or "", "xenstored", "restart it")
    assert time.monotonic() - start < 5
    with pytest.raises(CheckFailed, match="xenstored: boom"):
        preflight._bounded(lambda: (_ for _ in ()).throw(OSError("boom")), "xenstored", "x")


def test_processes_are_found_by_command_name(tmp_path):
    """A fake /proc: CI's sandbox may show a /proc of another PID namespace."""
    for pid, comm in ((17, "xenstored"), (23, "xenconsoled"), (42, "xenstored-helper")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
    (tmp_path / "99").mkdir()            # exited between scandir and read: no comm
    (tmp_path / "self").mkdir()          # not a pid
    assert preflight._running("xenstored", proc=str(tmp_path)) == [17]
    assert preflight._running("xenconsoled", proc=str(tmp_path)) == [23]
    assert preflight._running("no-such-daemon-here", proc=str(tmp_path)) == []


def test_report_lines_and_json():
    results = [CheckResult("xen", True, "Xen dom0"),
               CheckResult("zone-image", False, "no zone image", "make zone-image")]
    text = preflight.report_text(results).splitlines()
    assert text[0].split() == ["ok", "xen", "Xen", "dom0"]
    assert text[1].startswith("FAIL  zone-image") and text[1].endswith("fix: make zone-image")
    assert text[-1] == "1 check(s) failed"
    doc = preflight.report_json(results)
    assert doc["ok"] is False and [c["name"] for c in doc["checks"]] == ["xen", "zone-image"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edera_oci", *args], capture_output=True,
                          text=True, timeout=60)


def test_check_on_a_host_without_xen_fails_every_xen_check(tmp_path):
    """This machine has no Xen: the report says so on each line, and the exit is 1."""
    res = cli("--root", str(tmp_path / "root"), "check", "--format", "json")
    assert res.returncode == 1, res.stderr
    checks = {c["name"]: c for c in json.loads(res.stdout)["checks"]}
    assert list(checks) == ["xen", "xl", "xenstored", "xenconsoled", "blkback", "netback",
                            "channels", "9pfs", "disks", "zone-image", "memory", "state-root"]
    assert not checks["xen"]["ok"] and "not running under Xen" in checks["xen"]["detail"]
    assert checks["xenstored"]["detail"] == "not checked: this host is not a Xen dom0"
    assert checks["state-root"]["ok"], checks["state-root"]
    text = cli("--root", str(tmp_path / "root"), "check")
    assert text.returncode == 1
    assert len(text.stdout.splitlines()) == len(checks) + 1
    assert not (tmp_path / "root").exists()  # check changes nothing


def test_check_rejects_an_unknown_format():
    res = cli("check", "--format", "yaml")
    assert res.returncode == 1 and "--format" in res.stderr


def test_the_9pfs_backend_must_be_an_executable(tmp_path):
    qemu = tmp_path / "xen-qemu-system-i386"
    with pytest.raises(preflight.CheckFailed, match="missing or not executable") as e:
        preflight.check_9pfs(str(qemu))
    assert e.value.fix == "apt install qemu-system-xen"
    qemu.write_text("#!/bin/sh\n")
    with pytest.raises(preflight.CheckFailed):
        preflight.check_9pfs(str(qemu))
    qemu.chmod(0o755)
    assert preflight.check_9pfs(str(qemu)) == f"9pfs backend present ({qemu})"
