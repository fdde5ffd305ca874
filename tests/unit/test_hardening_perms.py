"""Secrets stay private: everything the runtime creates is readable by root alone.

The CLI sets umask 077 and the monitor (its child) inherits it; the state root and each
container directory are 0700, the state files 0600 whatever the umask; a zone's disk
directory is 0700 and its images 0600. The backend here writes its files the way the Xen
backend does (``Path.write_bytes``, a child process appending to ``monitor.log``) and builds
real disk images with mke2fs, so the umask is what is tested.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edera_oci.cli.main import main
from edera_oci.lifecycle.backend import CreateRequest, ExecRequest
from edera_oci.logs import log
from edera_oci.state import ContainerState, StateStore, write_file_atomic
from edera_oci.zone import disks, shares
from tests.perms import exposed
from tests.unit.conftest import minimal_config
from tests.unit.fake_backend import FakeBackend

# What the zone's monitor does with its files: it is a child process of the CLI.
MONITOR_FILES = (
    "import sys, pathlib; d = pathlib.Path(sys.argv[1]);"
    "open(d / 'monitor.log', 'a').write('booted\\n');"
    "(d / 'exit-status').write_text('0')"
)


class FilesBackend(FakeBackend):
    """The fake backend, plus the files the Xen backend writes, made the same way."""

    def __init__(self, disk_root: Path):
        super().__init__()
        self.disk_root = disk_root

    def create(self, req: CreateRequest, run_hooks):
        state_dir = Path(req.state_dir)
        disk_dir = self.disk_root / req.id
        disks.make_disk_dir(disk_dir)
        disks.make_ext4(Path(req.spec.root.path), disk_dir / disks.ROOT_DISK, "zone-root")
        shares.plan_binds(req.spec.mounts, state_dir / shares.STAGING_DIR).close()
        (state_dir / "spec.bin").write_bytes(b"DB_PASSWORD=hunter2")
        (state_dir / "zone.cfg").write_text('name = "zone"\n')
        subprocess.run([sys.executable, "-c", MONITOR_FILES, str(state_dir)], check=True)
        zone = super().create(req, run_hooks)
        zone.update(state_dir=str(state_dir), disk_dir=str(disk_dir))
        return zone

    def exec(self, state: ContainerState, req: ExecRequest) -> int:
        (Path(state.zone["state_dir"]) / "exec-1-2.bin").write_bytes(b"TOKEN=abc")
        return super().exec(state, req)


@pytest.fixture
def files_backend(tmp_path, monkeypatch):
    backend = FilesBackend(tmp_path / "var" / "disks")
    monkeypatch.setattr("edera_oci.lifecycle.common.get_backend", lambda: backend)
    yield backend
    backend.close()
    log.configure(None, "text", False)


def cli(*args) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code or 0


def test_a_created_and_started_container_exposes_nothing(files_backend, tmp_path, make_bundle):
    os.umask(0o022)  # what a shell gives; the CLI must not depend on it
    secret_dir = tmp_path / "secret-volume"
    secret_dir.mkdir(mode=0o700)
    (secret_dir / "token").write_text("k8s-secret-token")
    os.chmod(secret_dir / "token", 0o600)
    cfg = minimal_config(
        mounts=[{"destination": "/var/run/secrets", "type": "bind", "source": str(secret_dir),
                 "options": ["rbind", "ro"]}],
        process={"cwd": "/", "args": ["/bin/true"], "env": ["DB_PASSWORD=hunter2"]},
    )
    bundle = make_bundle(cfg)
    (bundle / "rootfs" / "etc").mkdir()
    (bundle / "rootfs" / "etc" / "shadow").write_text("root:*:1::::::\n")
    root = tmp_path / "run" / "edera-oci"
    disk_root = files_backend.disk_root
    assert cli("--root", root, "create", "--bundle", bundle, "c1") == 0
    assert (disk_root / "c1" / disks.ROOT_DISK).exists()
    assert stat.S_IMODE(os.stat(root / "c1" / shares.STAGING_DIR).st_mode) == 0o700
    assert cli("--root", root, "start", "c1") == 0
    assert cli("--root", root, "exec", "c1", "true") == 0
    state_dir = root / "c1"
    names = sorted(os.listdir(state_dir))
    for name in ("state.json", "config.json", ".lock", "spec.bin", "zone.cfg", "monitor.log",
                 "exit-status", "exec-1-2.bin"):
        assert name in names, names
    assert exposed(root, disk_root) == []
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(disk_root / "c1").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(disk_root / "c1" / disks.ROOT_DISK).st_mode) == 0o600
    assert cli("--root", root, "kill", "c1", "KILL") == 0
    assert cli("--root", root, "delete", "c1") == 0
    assert exposed(root) == []


def test_the_cli_sets_umask_077_and_children_inherit_it(tmp_path):
    os.umask(0o022)
    assert cli("--root", tmp_path / "r", "list", "-q") == 0
    assert os.umask(0o022) == 0o077
    os.umask(0o077)
    child = subprocess.run([sys.executable, "-c", "import os; print(os.umask(0))"],
                           capture_output=True, text=True, check=True)
    assert int(child.stdout) == 0o077  # the monitor is spawned like this (no umask=)


def test_state_files_are_0600_and_dirs_0700_whatever_the_umask(tmp_path):
    os.umask(0)
    store = StateStore(str(tmp_path / "root"))
    with store.claim("c") as d:
        store.save(ContainerState(id="c", bundle="/b", rootfs="/r", created="t",
                                  status="created"))
        store.save_config("c", {"ociVersion": "1.2.0"})
    assert exposed(tmp_path / "root") == []
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    target = tmp_path / "shared"
    write_file_atomic(str(target), b"x", mode=0o644)  # the mode asked for, exactly
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644


def test_disk_dir_and_images_are_private_whatever_the_umask(tmp_path):
    os.umask(0)
    source = tmp_path / "rootfs"
    source.mkdir()
    (source / "secret").write_text("s3cret")
    disk_dir = tmp_path / "disks" / "abc"
    disks.make_disk_dir(disk_dir)
    disks.make_ext4(source, disk_dir / disks.ROOT_DISK, "zone-root")
    assert exposed(tmp_path / "disks") == []
    assert stat.S_IMODE(os.stat(disk_dir / disks.ROOT_DISK).st_mode) == 0o600


def test_the_walker_reports_what_it_should(tmp_path):
    top = tmp_path / "top"
    top.mkdir(mode=0o700)
    (top / "ok").write_text("x")
    os.chmod(top / "ok", 0o600)
    (top / "bad").write_text("x")
    os.chmod(top / "bad", 0o644)
    (top / "sub").mkdir(mode=0o711)
    os.symlink("/etc/passwd", top / "link")
    assert exposed(top) == [f"{top / 'bad'} 0644", f"{top / 'sub'} 0711"]
    assert exposed(top, allow=[top / "bad", top / "sub"]) == []
    assert json.dumps(exposed(tmp_path / "absent")) == "[]"


def test_the_monitor_sets_its_own_umask(tmp_path):
    """The monitor does not rely on inheriting the CLI's umask: started from a parent whose
    umask is 022, what it creates is still root's alone."""
    script = (
        "import os, sys; os.umask(0o022)\n"
        "from edera_oci.zone import monitor\n"
        "r, w = os.pipe()\n"
        "def boom(*a): raise RuntimeError('no zone here')\n"
        "sys.exit(monitor.main(['--state-dir', sys.argv[1], '--name', 'edera-umask-test',\n"
        "                       '--ready-fd', str(w), '--go-fd', '-1'], zone_ops=boom))\n")
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                   timeout=60)
    log = tmp_path / "monitor.log"
    assert log.exists()
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600


def test_the_zones_console_log_is_made_private_before_xenconsoled_writes_it(tmp_path,
                                                                            monkeypatch):
    """xenconsoled creates guest logs 0640 (found by the lab's walk of a running zone's
    files): the runtime makes the file 0600 first, and fixes one left behind."""
    from edera_oci.zone import backend as zb

    monkeypatch.setattr(zb, "CONSOLE_LOG_DIR", tmp_path / "console")
    zb.make_console_log_private("edera-x-absent")  # no log directory: nothing, no error
    (tmp_path / "console").mkdir()
    zb.make_console_log_private("edera-x-c1")
    made = tmp_path / "console" / "guest-edera-x-c1.log"
    assert stat.S_IMODE(os.stat(made).st_mode) == 0o600
    old = tmp_path / "console" / "guest-edera-x-c2.log"
    old.write_text("an earlier zone's boot\n")
    os.chmod(old, 0o640)
    zb.make_console_log_private("edera-x-c2")
    assert stat.S_IMODE(os.stat(old).st_mode) == 0o600
    assert old.read_text() == "an earlier zone's boot\n"
    assert exposed(made, old) == []
