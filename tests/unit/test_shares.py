"""Bind mounts shared live with a zone (zone/shares.py), against real mounts (tests run as root).

Every source is checked before anything is made: sockets, FIFOs and devices, missing and
relative paths, ``/``, the kernel's filesystems and the runtime's own directories are refused
with a ZoneError naming ``mounts[i]``, leaving nothing behind. The mounts themselves exist only
in the mount namespace of the process ``xl create`` runs in (here: a fake ``xl``), never in the
caller's; read-only binds are read-only there, every share is nosuid and nodev, a write on
either side is seen on the other, and a failure names the mount.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from edera_oci.errors import ZoneError
from edera_oci.spec import Mount, Root
from edera_oci.xen import domain
from edera_oci.zone import shares


@pytest.fixture
def staging(tmp_path) -> Path:
    (tmp_path / "run" / "c1").mkdir(parents=True)
    return tmp_path / "run" / "c1" / "binds"


def bind(source, destination="/mnt", options=("rbind", "ro")) -> Mount:
    return Mount(destination=destination, type="bind", source=str(source), options=options)


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


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def refused(mounts, staging, match, **kw) -> None:
    before = open_fds()
    with pytest.raises(ZoneError, match=match):
        shares.plan_binds(mounts, staging, **kw)
    assert not staging.exists()
    assert open_fds() <= before


def test_a_socket_source_is_a_clear_error(tmp_path, staging):
    with unix_socket(tmp_path / "docker.sock") as sock:
        refused([tmpfs_mount(), bind(sock, "/var/run/docker.sock")], staging,
                r"^mounts\[1\]\.source: .*docker.sock is a unix socket: a zone cannot share it")


def test_fifo_and_device_sources_are_refused(tmp_path, staging):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused([bind(fifo)], staging, r"mounts\[0\]\.source: .*fifo is a FIFO")
    zero = tmp_path / "zero"
    os.mknod(zero, stat.S_IFCHR | 0o666, os.makedev(1, 5))
    refused([bind(zero)], staging, r"mounts\[0\]\.source: .*zero is a character device")
    link = tmp_path / "link-to-zero"
    os.symlink("/dev/zero", link)
    refused([bind(link)], staging, r"mounts\[0\]\.source: binding host /dev/zero")
    # a good bind before the bad one is released too (its descriptor closed)
    good = tmp_path / "good"
    good.mkdir()
    refused([bind(good), bind(fifo)], staging, r"mounts\[1\]\.source: .*fifo is a FIFO")


def test_sources_that_hold_the_runtime_or_everything_are_refused(tmp_path, staging):
    state_root = tmp_path / "run"
    disk_root = tmp_path / "var" / "disks"
    disk_root.mkdir(parents=True)
    cases = [
        ("/", r"binding the host's / into a zone is refused"),
        ("/proc/1", r"binding host /proc/1 into a zone is not supported"),
        ("/sys", r"binding host /sys into a zone is not supported"),
        (tmp_path, r"overlaps the runtime's own"),  # holds --root and the disks
        (disk_root, r"overlaps the runtime's own .*/var/disks"),
        (state_root / "c1", r"overlaps the runtime's own .*/run"),  # inside --root
    ]
    for source, message in cases:
        refused([bind(source)], staging, rf"^mounts\[0\]\.source: .*{message}",
                protected=[state_root, disk_root])


def test_missing_and_relative_sources(tmp_path, staging):
    refused([bind(tmp_path / "nope")], staging, r"mounts\[0\]\.source: .*/nope does not exist")
    refused([bind("relative/dir")], staging,
            r"mounts\[0\]\.source: a bind source must be an absolute path")


def test_the_plan_stages_files_and_directories_and_says_what_xl_and_the_zone_get(tmp_path,
                                                                                 staging):
    vol = tmp_path / "vol"
    vol.mkdir()
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    link = tmp_path / "hosts-link"
    os.symlink(hosts, link)  # followed, as a bind mount follows it
    plan = shares.plan_binds([tmpfs_mount(), bind(vol, "/data", ("rbind", "rw")),
                              bind(link, "/etc/hosts", ("bind", "ro"))], staging)
    try:
        assert [(e.index, e.is_dir, e.readonly, e.recursive) for e in plan.entries] == [
            (1, True, False, True), (2, False, True, False)]
        # named as the sources are (the link's target for the link), under their index
        assert plan.bind_sources() == {1: "/run/edera/binds/1/vol",
                                       2: "/run/edera/binds/2/hosts"}
        assert plan.xl_p9() == [f"tag=edera-binds,security_model=passthrough,path={staging}"]
        assert plan.zone_share() == ("edera-binds", shares.ZONE_MOUNT_OPTIONS)
        assert stat.S_IMODE(os.stat(staging).st_mode) == 0o700
        assert (staging / "1" / "vol").is_dir() and (staging / "2" / "hosts").is_file()
        assert (staging / "2" / "hosts").read_text() == ""  # a mount point: nothing copied
    finally:
        plan.close()
    assert all(e.fd == -1 for e in plan.entries)
    shares.remove_staging(staging)
    assert not staging.exists()


def test_no_binds_means_no_share_and_no_qemu(staging):
    plan = shares.plan_binds([tmpfs_mount()], staging)
    assert plan.xl_p9() == [] and plan.zone_share() is None and plan.bind_sources() == {}
    assert not staging.exists()


def test_the_staging_directory_is_never_removed_recursively(staging, tmp_path):
    """Were a volume still mounted on an entry, its files must survive the removal."""
    vol = tmp_path / "vol"
    vol.mkdir()
    plan = shares.plan_binds([bind(vol)], staging)
    plan.close()
    (staging / "0" / "vol" / "precious").write_text("user data")
    shares.remove_staging(staging)
    assert (staging / "0" / "vol" / "precious").read_text() == "user data"


FAKE_XL = """#!/bin/sh
# what xl create sees: its mount table, and the shares through the staging directory
grep " {staging}/" /proc/self/mountinfo > {out}/mountinfo
cat {staging}/1/vol/from-host > {out}/seen-in-share
echo from-zone > {staging}/1/vol/from-zone
( exec 2>{out}/ro-error; echo x > {staging}/2/hosts ) || true
[ "$(cat {staging}/2/hosts)" = x ] && echo written > {out}/ro-result
exit 0
"""


@pytest.fixture
def fake_xl(tmp_path, staging, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    xl = bindir / "xl"
    xl.write_text(FAKE_XL.format(staging=staging, out=out))
    xl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return out


def test_the_shares_exist_only_for_xl_live_nodev_nosuid_and_read_only_as_asked(
        tmp_path, staging, fake_xl):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "from-host").write_text("hello from dom0\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    plan = shares.plan_binds([tmpfs_mount(), bind(vol, "/data", ("rbind", "rw")),
                              bind(hosts, "/etc/hosts", ("bind", "ro"))], staging)
    try:
        domain._xl("create", "-p", "-q", "cfg", preexec=plan.enter)
    finally:
        plan.close()
    out = fake_xl
    lines = (out / "mountinfo").read_text().splitlines()
    by_point = {ln.split()[4]: ln.split()[5].split(",") for ln in lines}
    assert set(by_point) == {f"{staging}/1/vol", f"{staging}/2/hosts"}
    assert {"nosuid", "nodev", "rw"} <= set(by_point[f"{staging}/1/vol"])
    assert {"nosuid", "nodev", "ro"} <= set(by_point[f"{staging}/2/hosts"])
    assert (out / "seen-in-share").read_text() == "hello from dom0\n"
    assert (vol / "from-zone").read_text() == "from-zone\n"  # written through the share
    assert not (out / "ro-result").exists()
    assert "Read-only file system" in (out / "ro-error").read_text()
    assert hosts.read_text() == "127.0.0.1 localhost\n"
    # the caller's namespace never held them: only empty mount points are left
    assert not os.path.ismount(staging / "1" / "vol")
    assert os.listdir(staging / "1" / "vol") == []
    shares.remove_staging(staging)
    assert not staging.exists()
    assert (vol / "from-host").exists()


def test_a_mount_that_fails_in_xls_namespace_names_the_mount(tmp_path, staging, fake_xl):
    vol = tmp_path / "vol"
    vol.mkdir()
    plan = shares.plan_binds([tmpfs_mount(), tmpfs_mount(), bind(vol)], staging)
    os.rmdir(staging / "2" / "vol")  # the mount point is gone: the bind mount fails
    try:
        with pytest.raises(domain.DomainError,
                           match=r"xl create failed: mounts\[2\]\.source: sharing .*/vol with "
                                 r"the zone: No such file or directory"):
            domain._xl("create", "-p", "-q", "cfg", preexec=plan.enter)
    finally:
        plan.close()
    assert not (fake_xl / "mountinfo").exists()  # xl never ran


def test_the_xl_config_lists_the_share(tmp_path):
    cfg = domain.DomainConfig(name="z", kernel=Path("/k"), ramdisk=Path("/r"), cmdline="c",
                              memory_mb=256, vcpus=1,
                              p9=["tag=edera-binds,security_model=passthrough,path=/run/x/b"])
    assert "p9 = [ 'tag=edera-binds,security_model=passthrough,path=/run/x/b' ]" in cfg.render()
    plain = domain.DomainConfig(name="z", kernel=Path("/k"), ramdisk=Path("/r"), cmdline="c",
                                memory_mb=256, vcpus=1)
    assert "p9" not in plain.render()


def test_a_read_only_root_is_writable_in_dom0_for_its_mount_points(tmp_path, staging,
                                                                    monkeypatch):
    """root.readonly is the container's view, as under runc: its mount points (a bind's
    /etc/resolv.conf the image lacks) are made in the rootfs first, through the share, then
    the zone's kernel remounts the root read-only. A share read-only in dom0 failed the
    CRI's sandbox (read-only root, no /etc/resolv.conf): EROFS."""
    rootfs = tmp_path / "bundle" / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    target = staging.parent / shares.ROOT_DIR
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "xl").write_text(f"#!/bin/sh\n: > {target}/etc/resolv.conf\n")
    (bindir / "xl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    plan = shares.plan_binds([], staging, root=Root(path=str(rootfs), readonly=True))
    try:
        domain._xl("create", "-p", "-q", "cfg", preexec=plan.enter)
    finally:
        plan.close()
    assert (rootfs / "etc" / "resolv.conf").exists()
    shares.remove_staging(staging)


def test_the_root_can_be_shared_as_its_own_device(tmp_path, staging, fake_xl):
    rootfs = tmp_path / "bundle" / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "marker").write_text("image file\n")
    plan = shares.plan_binds([tmpfs_mount()], staging, root=Root(path=str(rootfs)))
    try:
        target = staging.parent / shares.ROOT_DIR
        assert plan.needed and plan.entries == [] and plan.root.target == target
        assert plan.xl_p9() == [f"tag=edera-root,security_model=passthrough,path={target}"]
        assert plan.root_share() == ("edera-root", shares.ZONE_MOUNT_OPTIONS)
        assert plan.zone_share() is None
        domain._xl("create", "-p", "-q", "cfg", preexec=plan.enter)
    finally:
        plan.close()
    assert not os.path.ismount(target) and os.listdir(target) == []
    shares.remove_staging(staging)
    assert not target.exists()
    assert (rootfs / "etc" / "marker").read_text() == "image file\n"


def test_a_bad_root_names_root_path_and_leaves_nothing(tmp_path, staging):
    vol = tmp_path / "vol"
    vol.mkdir()
    refused([bind(vol)], staging, r"^root\.path: .*/nope does not exist",
            root=Root(path=str(tmp_path / "nope")))
    afile = tmp_path / "afile"
    afile.write_text("")
    refused([bind(vol)], staging, r"^root\.path: .*afile is not a directory",
            root=Root(path=str(afile)))
    refused([], staging, r"^root\.path: binding the host's / into a zone is refused",
            root=Root(path="/"))
    assert not (staging.parent / shares.ROOT_DIR).exists()


def test_the_root_annotation():
    assert shares.root_over_9p({}) is True  # as runc's: the writes land in the rootfs
    assert shares.root_over_9p({"org.edera-oci.rootfs": "ext4"}) is False
    assert shares.root_over_9p({"org.edera-oci.rootfs": "9p"}) is True
    with pytest.raises(ZoneError, match=r"annotations\['org.edera-oci.rootfs'\]: 'nfs'"):
        shares.root_over_9p({"org.edera-oci.rootfs": "nfs"})


def test_the_zones_qemu_is_found_by_its_domain_name_or_id(tmp_path):
    proc = tmp_path / "proc"
    argvs = {
        "101": [b"/usr/libexec/xen-qemu-system-i386", b"-xen-domid", b"7", b"-name", b"edera-x-c1"],
        "102": [b"/usr/libexec/xen-qemu-system-i386", b"-xen-domid", b"8", b"-name", b"other"],
        "103": [b"/bin/sleep", b"-name", b"edera-x-c1"],
        "self": [b"/usr/libexec/xen-qemu-system-i386", b"-name", b"edera-x-c1"],
    }
    for pid, argv in argvs.items():
        (proc / pid).mkdir(parents=True)
        (proc / pid / "cmdline").write_bytes(b"\0".join(argv) + b"\0")
    assert shares.backend_pids("edera-x-c1", proc=proc) == [101]
    assert sorted(shares.backend_pids("gone", 8, proc=proc)) == [102]
    assert shares.backend_pids("gone", proc=proc) == []


def test_a_pods_sandbox_exports_its_staging_directory_without_binds(staging):
    """The pod's later containers are shared through it: it is there from the zone's boot."""
    plan = shares.plan_binds([tmpfs_mount()], staging, pod_share=True)
    assert plan.xl_p9() == [f"tag={shares.SHARE_TAG},security_model=passthrough,path={staging}"]
    assert plan.zone_share() == (shares.SHARE_TAG, shares.ZONE_MOUNT_OPTIONS)
    assert plan.needed and plan.bind_sources() == {} and os.listdir(staging) == []
    shares.remove_staging(staging)
    assert not staging.exists()


@pytest.fixture
def zone_backend(staging):
    """A stand-in for a running pod zone's QEMU: a process in a mount namespace of its own, a
    slave of ours, as `xl create` runs in (SharePlan.enter)."""
    staging.mkdir()
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "slave", "sleep", "600"])
    ours = os.readlink("/proc/self/ns/mnt")
    deadline = time.monotonic() + 10
    while (os.readlink(f"/proc/{proc.pid}/ns/mnt") == ours or
           not Path(f"/proc/{proc.pid}/cmdline").read_bytes().startswith(b"sleep")):
        assert time.monotonic() < deadline, "unshare did not start"
        time.sleep(0.01)
    yield proc.pid
    proc.kill()
    proc.wait()


def mounts_in(pid: int, under: Path) -> dict[str, list[str]]:
    """Mount points under `under` in pid's mount namespace, with their options."""
    lines = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
    return {ln.split()[4]: ln.split()[5].split(",") for ln in lines
            if ln.split()[4].startswith(f"{under}/")}


def test_a_pod_containers_binds_reach_the_running_zones_share_live(tmp_path, staging,
                                                                    zone_backend):
    """A container joining a pod: its sources are mounted where the running zone's QEMU
    serves them (its namespace, never ours), live both ways, read-only as asked; removing the
    mount points in our namespace detaches them there and leaves the volume's files."""
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "from-host").write_text("hello from dom0\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    member = staging / f"{shares.POD_PREFIX}web"
    plan = shares.plan_binds([tmpfs_mount(), bind(vol, "/data", ("rbind", "rw")),
                              bind(hosts, "/etc/hosts", ("bind", "ro"))], member,
                             zone_dir="/run/edera/binds/pod-web")
    try:
        shares.share_with_running_zone(plan, zone_backend)
    finally:
        plan.close()
    assert plan.bind_sources() == {1: "/run/edera/binds/pod-web/1/vol",
                                   2: "/run/edera/binds/pod-web/2/hosts"}
    points = mounts_in(zone_backend, member)
    assert set(points) == {f"{member}/1/vol", f"{member}/2/hosts"}
    assert {"nosuid", "nodev", "rw"} <= set(points[f"{member}/1/vol"])
    assert {"nosuid", "nodev", "ro"} <= set(points[f"{member}/2/hosts"])
    seen = Path(f"/proc/{zone_backend}/root{member}")
    assert (seen / "1" / "vol" / "from-host").read_text() == "hello from dom0\n"
    (seen / "1" / "vol" / "from-zone").write_text("from-zone\n")
    assert (vol / "from-zone").read_text() == "from-zone\n"
    with pytest.raises(OSError, match="Read-only file system"):
        (seen / "2" / "hosts").write_text("x")
    assert mounts_in(os.getpid(), member) == {}  # ours never held them
    shares.remove_staging(staging)
    assert not staging.exists()
    assert mounts_in(zone_backend, member) == {}  # detached in QEMU's namespace too
    assert sorted(os.listdir(vol)) == ["from-host", "from-zone"]


def test_a_source_mounted_after_the_zone_under_a_private_mount_is_shared_too(tmp_path, staging,
                                                                            zone_backend):
    """podman's storage is a private mount: a pod container's rootfs (its overlay's merged
    directory), mounted after the pod's zone was made, never appears in the QEMU's
    namespace by propagation. The checked mount itself is carried there (open_tree), and the
    zone sees its files; removing the mount point detaches it there."""
    store = tmp_path / "store"
    store.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(store)], check=True)
    try:
        subprocess.run(["mount", "--make-private", str(store)], check=True)
        merged = store / "merged"
        merged.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(merged)], check=True)
        (merged / "etc-file").write_text("the container's own\n")
        member = staging / f"{shares.POD_PREFIX}web"
        plan = shares.plan_binds([], member, root=Root(path=str(merged)), pod_share=True,
                                 zone_dir="/run/edera/binds/pod-web", root_dir=member / "root")
        try:
            shares.share_with_running_zone(plan, zone_backend)
        finally:
            plan.close()
        assert plan.root_in_zone() == "/run/edera/binds/pod-web/root"
        assert set(mounts_in(zone_backend, member)) == {f"{member}/root"}
        seen = Path(f"/proc/{zone_backend}/root{member}/root")
        assert (seen / "etc-file").read_text() == "the container's own\n"
        (seen / "from-zone").write_text("x")
        assert (merged / "from-zone").read_text() == "x"
        shares.remove_mount_points(member)
        assert mounts_in(zone_backend, member) == {} and not member.exists()
    finally:
        subprocess.run(["umount", "-R", str(store)], check=True)


def test_a_pod_containers_bind_that_cannot_be_mounted_names_the_mount(tmp_path, staging,
                                                                       zone_backend):
    vol = tmp_path / "vol"
    vol.mkdir()
    member = staging / f"{shares.POD_PREFIX}web"
    plan = shares.plan_binds([tmpfs_mount(), bind(vol)], member)
    os.rmdir(member / "1" / "vol")  # the mount point is gone: the bind mount fails
    try:
        with pytest.raises(ZoneError, match=r"mounts\[1\]\.source: sharing .*/vol with the "
                                            r"zone: No such file or directory"):
            shares.share_with_running_zone(plan, zone_backend)
    finally:
        plan.close()
    assert mounts_in(zone_backend, member) == {}


def test_a_staging_directory_of_the_older_layout_is_removed_too(staging):
    """A zone made before mount points were named <i>/<name> (<i> itself the mount point):
    deleted by this runtime, its staging directory still goes, entry by entry."""
    staging.mkdir()
    (staging / "0").mkdir()
    (staging / "1").write_text("")
    shares.remove_staging(staging)
    assert not staging.exists()


def test_removing_the_staging_never_follows_a_link_made_in_it(staging, tmp_path):
    """What the zone (or anyone) leaves in the staging directory is never followed on dom0:
    a ``pod-<name>`` that is a link to a dom0 directory, links in place of ``<i>`` and of a
    pod container's ``<i>``. Removing the staging directory unlinks the links and leaves
    their targets' files (a ``pod-`` link to /etc once made dom0 unlink /etc/passwd)."""
    victim = tmp_path / "etc"
    (victim / "ssh").mkdir(parents=True)
    (victim / "passwd").write_text("root:x:0:0\n")
    (victim / "ssh" / "sshd_config").write_text("PermitRootLogin no\n")
    (victim / "empty").mkdir()
    staging.mkdir()
    os.symlink(victim, staging / f"{shares.POD_PREFIX}evil")
    os.symlink(victim, staging / "7")
    member = staging / f"{shares.POD_PREFIX}web"
    member.mkdir()
    os.symlink(victim, member / "0")
    os.symlink(victim / "ssh", member / "root")
    shares.remove_staging(staging)
    assert (victim / "passwd").read_text() == "root:x:0:0\n"
    assert (victim / "ssh" / "sshd_config").exists() and (victim / "empty").is_dir()
    assert not staging.exists()


def test_the_zone_cannot_write_beside_its_shares_in_the_staging_directory(tmp_path, staging,
                                                                          monkeypatch):
    """The staging directory itself is read-only where the zone's QEMU serves it (xl's
    namespace): the zone writes through its read-write binds only, and can make no file,
    directory or link of its own in dom0's /run (neither filling it nor planting a link for
    dom0 to follow). The host's namespace still makes a pod container's mount points there."""
    vol = tmp_path / "vol"
    vol.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "xl").write_text(f"""#!/bin/sh
echo through > {staging}/0/vol/through-the-bind
for what in "mkdir {staging}/evil" "ln -s /etc {staging}/pod-evil" "touch {staging}/fill" \\
            "mkdir {staging}/0/new" "mv {staging}/0 {staging}/moved"; do
  $what 2>> {out}/errors && echo "$what" >> {out}/made
done
exit 0
""")
    (bindir / "xl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    plan = shares.plan_binds([bind(vol, "/data", ("rbind", "rw"))], staging, pod_share=True)
    try:
        domain._xl("create", "-p", "-q", "cfg", preexec=plan.enter)
    finally:
        plan.close()
    assert (vol / "through-the-bind").read_text() == "through\n"
    assert not (out / "made").exists(), (out / "made").read_text()
    assert (out / "errors").read_text().count("Read-only file system") == 5
    assert sorted(os.listdir(staging)) == ["0"]
    (staging / f"{shares.POD_PREFIX}web").mkdir()  # the host's side: still writable
    shares.remove_staging(staging)
    assert not staging.exists()
