"""A pod container's bind-mount staging (bind_copies.py) copies only what it should, with real
files (the tests run as root).

Sockets, FIFOs and device nodes are refused as sources and skipped (never opened) inside
directories; other filesystems are not entered; ``/`` and sources overlapping the runtime's
own directories are refused; every OSError is a ZoneError naming ``mounts[i]``. A write
limit (RLIMIT_FSIZE) guards the tests themselves: a regression that reads a device fails
fast instead of filling the disk.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import stat
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from edera_oci.errors import ZoneError
from edera_oci.logs import log
from edera_oci.spec import Mount
from edera_oci.zone import bind_copies as disks

WRITE_LIMIT = 16 << 20


@pytest.fixture(autouse=True)
def bounded_writes():
    """No file written by this process may exceed 16 MiB (EFBIG instead of SIGXFSZ)."""
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (WRITE_LIMIT, old[1]))
    yield
    resource.setrlimit(resource.RLIMIT_FSIZE, old)
    signal.signal(signal.SIGXFSZ, old_handler)
    log.configure(None, "text", False)


@pytest.fixture
def staging(tmp_path) -> Path:
    path = tmp_path / "disks" / "0123" / "binds"
    path.mkdir(parents=True)
    return path


def bind(source, destination="/mnt") -> Mount:
    return Mount(destination=destination, type="bind", source=str(source),
                 options=("rbind", "ro"))


def tmpfs_mount() -> Mount:
    return Mount(destination="/tmp", type="tmpfs", source="tmpfs", options=())


@contextmanager
def unix_socket(path: Path):
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.listen()
    try:
        yield path
    finally:
        sock.close()


def test_a_socket_source_is_a_clear_error(tmp_path, staging):
    with unix_socket(tmp_path / "docker.sock") as sock, pytest.raises(
            ZoneError, match=r"^mounts\[1\]\.source: .*docker.sock is a unix socket: a zone "
                             "cannot share it"):
        disks.stage_binds([tmpfs_mount(), bind(sock, "/var/run/docker.sock")], staging)


def test_fifo_and_device_sources_are_refused(tmp_path, staging):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ZoneError, match=r"mounts\[0\]\.source: .*fifo is a FIFO"):
        disks.stage_binds([bind(fifo)], staging)
    zero = tmp_path / "zero"
    os.mknod(zero, stat.S_IFCHR | 0o666, os.makedev(1, 5))
    with pytest.raises(ZoneError, match=r"mounts\[0\]\.source: .*zero is a character device"):
        disks.stage_binds([bind(zero)], staging)
    link = tmp_path / "link-to-zero"
    os.symlink("/dev/zero", link)
    with pytest.raises(ZoneError, match=r"mounts\[0\]\.source: binding host /dev/zero"):
        disks.stage_binds([bind(link)], staging)
    assert os.listdir(staging) == []


def test_special_files_inside_a_directory_are_skipped_never_read(tmp_path, staging, capsys):
    src = tmp_path / "volume"
    (src / "sub").mkdir(parents=True)
    (src / "config").write_text("key=value")
    os.chmod(src / "config", 0o640)
    os.chown(src / "config", 1234, 5678)
    (src / "sub" / "deep").write_text("deep")
    os.symlink("/dev/zero", src / "zero-link")  # copied as a link, not followed
    os.mknod(src / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    os.mknod(src / "sub" / "random", stat.S_IFCHR | 0o666, os.makedev(1, 8))
    os.mkfifo(src / "fifo")
    with unix_socket(src / "app.sock"):
        log.configure(None, "text", False)
        assert disks.stage_binds([bind(src)], staging) == {0: "/run/edera/binds/0"}
    copy = staging / "0"
    assert sorted(str(p.relative_to(copy)) for p in copy.rglob("*")) == [
        "config", "sub", "sub/deep", "zero-link"]
    assert (copy / "config").read_text() == "key=value"
    st = os.stat(copy / "config")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 1234, 5678)
    assert os.readlink(copy / "zero-link") == "/dev/zero"
    err = capsys.readouterr().err
    assert "mounts[0].source: not copied into the zone:" in err
    for name in ("zero (a character device)", "fifo (a FIFO)", "app.sock (a unix socket)",
                 "random (a character device)"):
        assert name in err


def test_a_file_source_is_copied_with_its_attributes(tmp_path, staging):
    secret = tmp_path / "token"
    secret.write_text("k8s-secret-token")
    os.chmod(secret, 0o400)
    disks.stage_binds([bind(secret)], staging)
    assert (staging / "0").read_text() == "k8s-secret-token"
    assert stat.S_IMODE(os.stat(staging / "0").st_mode) == 0o400


def test_sources_that_hold_the_runtime_or_everything_are_refused(tmp_path, staging):
    state_root = tmp_path / "run" / "edera-oci"
    state_root.mkdir(parents=True)
    cases = [
        ("/", r"binding the host's / into a zone is not supported"),
        (tmp_path, r"overlaps the runtime's own .*/disks"),  # an ancestor of the disk dir
        (staging.parent, "overlaps the runtime's own"),  # the disk dir itself
        (tmp_path / "run", "overlaps the runtime's own .*/run/edera-oci"),  # holds --root
        (state_root / "c1", "overlaps the runtime's own .*/run/edera-oci"),  # inside --root
    ]
    (state_root / "c1").mkdir()
    for source, message in cases:
        with pytest.raises(ZoneError, match=rf"^mounts\[0\]\.source: .*{message}"):
            disks.stage_binds([bind(source)], staging, protected=[state_root])
    assert os.listdir(staging) == []


def test_another_filesystem_inside_a_source_is_not_entered(tmp_path, staging, capsys):
    src = tmp_path / "volume"
    (src / "mnt").mkdir(parents=True)
    (src / "top").write_text("top")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(src / "mnt")],
                   check=True)
    try:
        (src / "mnt" / "other-fs-file").write_text("not copied")
        disks.stage_binds([bind(src)], staging)
    finally:
        subprocess.run(["umount", str(src / "mnt")], check=True)
    assert sorted(os.listdir(staging / "0")) == ["mnt", "top"]
    assert os.listdir(staging / "0" / "mnt") == []
    assert "(another filesystem)" in capsys.readouterr().err


def test_an_os_error_while_copying_names_the_mount(tmp_path, staging):
    src = tmp_path / "big"
    src.mkdir()
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    subprocess.run(  # sparse: no disk used, but copying it writes it all
        ["truncate", "-s", str(WRITE_LIMIT + (1 << 20)), str(src / "large")], check=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard)))
    with pytest.raises(ZoneError, match=r"^mounts\[2\]\.source: cannot copy .*large: File "
                                        "too large"):
        disks.stage_binds([tmpfs_mount(), tmpfs_mount(), bind(src)], staging)


def test_missing_and_relative_sources(tmp_path, staging):
    with pytest.raises(ZoneError, match=r"mounts\[0\]\.source: .*/nope does not exist"):
        disks.stage_binds([bind(tmp_path / "nope")], staging)
    with pytest.raises(ZoneError, match=r"mounts\[0\]\.source: a bind source must be an "
                                        "absolute path"):
        disks.stage_binds([bind("relative/dir")], staging)
