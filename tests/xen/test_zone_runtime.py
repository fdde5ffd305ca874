"""edera-oci against real Xen: bundles run in zones booted from the zone image.

Each zone boot costs ~15 s under the lab's emulation, so each test checks as much as one zone
can show. Every test ends by checking that nothing is left in dom0.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from .bundles import make_bundle
from .dom0 import leftovers

pytestmark = pytest.mark.xen

PR_SET_CHILD_SUBREAPER = 36


def oci(root: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["edera-oci", "--root", str(root), *args], capture_output=True,
                          text=True, **kw)


def create(root: Path, bundle: Path, cid: str, *extra: str) -> subprocess.CompletedProcess:
    """create as an engine does it: the container keeps stdout/stderr, so they are not pipes
    this test would wait on; stderr goes to a file read afterwards."""
    with open(root.parent / f"{cid}.create-stderr", "w+") as err:
        res = subprocess.run(["edera-oci", "--root", str(root), "create", "--bundle",
                              str(bundle), *extra, cid], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err, timeout=300)
        err.seek(0)
        res.stderr = err.read()
    return res


def new_id() -> str:
    return "t-" + uuid.uuid4().hex[:10]


def test_process_config_reaches_the_workload_and_run_streams_apart(root, bundle_dir):
    """`run`: the process config as the workload sees it; its stdout and stderr apart; its
    exit status; and the container deleted once it exits, as runc's run does."""
    script = (
        "echo uid=$(id -u) gid=$(id -g) groups=$(id -G); echo cwd=$(pwd); echo env=$FOO;"
        "echo nofile=$(ulimit -n); echo host=$(hostname); echo umask=$(umask);"
        "grep -E '^Cap(Bnd|Eff)' /proc/$$/status; cat /etc/zone-marker;"
        "grep -E ' /proc | /dev | /dev/pts | /dev/shm | /sys | /work ' /proc/mounts | "
        "awk '{print \"mnt \" $2 \" \" $3}'; if touch /rofile 2>/dev/null; then echo ro=no; "
        "else echo ro=yes; fi; echo kcore-bytes=$(head -c 100 /proc/kcore | wc -c);"
        "echo to-stderr >&2; exit 3"
    )
    make_bundle(
        bundle_dir, ["sh", "-c", script],
        **{
            "process.env": ["PATH=/bin", "FOO=bar-baz"],
            "process.cwd": "/work",
            "process.user": {"uid": 1000, "gid": 1000, "additionalGids": [2000], "umask": 63},
            "process.rlimits": [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}],
            "process.capabilities": {
                # a non-root process keeps capabilities across execve only through the
                # ambient set (as with runc)
                "bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]},
            "hostname": "zone-host-test",
            "root.readonly": True,
        },
    )
    cid = new_id()
    res = oci(root, "run", "--bundle", str(bundle_dir), cid, timeout=300)
    out = res.stdout
    assert res.returncode == 3, res.stderr + out
    assert res.stderr == "to-stderr\n" and "to-stderr" not in out, res.stderr
    gone = oci(root, "state", cid)  # run deletes the container once it exits, as runc's does
    assert gone.returncode != 0 and "does not exist" in gone.stderr
    assert "uid=1000 gid=1000 groups=1000 2000" in out
    assert "cwd=/work" in out
    assert "env=bar-baz" in out
    assert "nofile=321" in out
    assert "host=zone-host-test" in out
    assert "umask=0077" in out
    # CAP_CHOWN (0) and CAP_KILL (5) bound; only CAP_KILL effective
    assert "CapBnd:\t0000000000000021" in out
    assert "CapEff:\t0000000000000020" in out
    assert "rootfs-from-bundle" in out
    assert "mnt /proc proc" in out
    assert "mnt /dev tmpfs" in out
    assert "mnt /dev/pts devpts" in out
    assert "ro=yes" in out
    assert "kcore-bytes=0" in out  # maskedPaths of the default spec: /dev/null over it


def test_exit_codes_127_and_126(root, bundle_dir):
    make_bundle(bundle_dir, ["no-such-command"])
    res = oci(root, "run", "--bundle", str(bundle_dir), new_id(), timeout=300)
    assert res.returncode == 127, res.stderr
    assert "no-such-command" in res.stderr
    make_bundle(bundle_dir, ["/bin/not-executable"])
    res = oci(root, "run", "--bundle", str(bundle_dir), new_id(), timeout=300)
    assert res.returncode == 126, res.stderr


def test_engine_style_create_start_kill(root, bundle_dir, tmp_path):
    """Play the engine: be a subreaper, create with pipes and a pid file, reap the pid."""
    make_bundle(bundle_dir, ["sh", "-c",
                             "trap 'echo trapped-term; exit 0' TERM; echo started; "
                             "echo to-stderr >&2; while :; do sleep 0.2; done"])
    cid = new_id()
    pid_file = tmp_path / "init.pid"
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1) == 0
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        create = subprocess.run(
            ["edera-oci", "--root", str(root), "create", "--bundle", str(bundle_dir),
             "--pid-file", str(pid_file), cid],
            stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w, timeout=300,
        )
        os.close(out_w)
        os.close(err_w)
        assert create.returncode == 0, os.read(err_r, 65536).decode()
        pid = int(pid_file.read_text())
        state = json.loads(oci(root, "state", cid).stdout)
        assert state["status"] == "created" and state["pid"] == pid
        assert oci(root, "start", cid).returncode == 0
        assert json.loads(oci(root, "state", cid).stdout)["status"] == "running"
        assert oci(root, "start", cid).returncode != 0  # start twice fails
        refused = oci(root, "delete", cid)
        assert refused.returncode != 0  # a running container is not deleted
        time.sleep(2)
        assert oci(root, "kill", cid, "TERM").returncode == 0
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        out = os.read(out_r, 65536).decode()
        err = os.read(err_r, 65536).decode()
        assert out == "started\ntrapped-term\n"
        assert err == "to-stderr\n"
        assert json.loads(oci(root, "state", cid).stdout)["status"] == "stopped"
        assert oci(root, "start", cid).returncode != 0  # a stopped one does not start
        assert oci(root, "delete", cid).returncode == 0
        gone = oci(root, "state", cid)
        assert gone.returncode != 0 and "does not exist" in gone.stderr
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0)
        os.close(out_r)
        os.close(err_r)
    assert leftovers(root) == []


def test_sigterm_without_trap_is_143_and_sigkill_137(root, bundle_dir):
    """kill TERM, and kill --all KILL (every process in the zone, as runc signals the cgroup).
    Without a PID namespace: as its namespace's PID 1, sleep would ignore an unhandled TERM, as
    under runc (test_container_boundary shows that)."""
    make_bundle(bundle_dir, ["sleep", "600"], **{"linux.namespaces": [
        {"type": t} for t in ("network", "ipc", "uts", "mount", "cgroup")]})
    for signame, expected, flags in (("TERM", 143, []), ("KILL", 137, ["--all"])):
        cid = new_id()
        proc = subprocess.Popen(["edera-oci", "--root", str(root), "run", "--bundle",
                                 str(bundle_dir), cid], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            st = oci(root, "state", cid)
            if st.returncode == 0 and json.loads(st.stdout)["status"] == "running":
                break
            time.sleep(0.5)
        time.sleep(1)
        assert oci(root, "kill", *flags, cid, signame).returncode == 0
        assert proc.wait(timeout=120) == expected, proc.stderr.read()
    assert leftovers(root) == []


def test_delete_force_of_running_and_created(root, bundle_dir):
    make_bundle(bundle_dir, ["sleep", "600"])
    created = new_id()
    assert create(root, bundle_dir, created).returncode == 0
    assert oci(root, "delete", created).returncode == 0  # as runc: created is killed, deleted
    assert oci(root, "state", created).returncode != 0
    running = new_id()
    assert create(root, bundle_dir, running).returncode == 0
    assert oci(root, "start", running).returncode == 0
    assert json.loads(oci(root, "state", running).stdout)["status"] == "running"
    assert oci(root, "delete", "--force", running).returncode == 0
    assert oci(root, "state", running).returncode != 0
    assert leftovers(root) == []


def test_repeated_cycles_leave_nothing(root, bundle_dir):
    """create, start, kill, delete, over and over: nothing accumulates in dom0. Three cycles in
    CI (each a zone, 12 to 20 s in the lab: the suite's budget); EDERA_CYCLES=200 for a soak
    (bench/soak.py measures one)."""
    make_bundle(bundle_dir, ["sleep", "600"])
    for i in range(int(os.environ.get("EDERA_CYCLES", "3"))):
        cid = f"cycle-{i}"
        res = create(root, bundle_dir, cid)
        assert res.returncode == 0, res.stderr
        assert oci(root, "start", cid).returncode == 0
        assert oci(root, "kill", cid, "KILL").returncode == 0
        deadline = time.monotonic() + 60
        while json.loads(oci(root, "state", cid).stdout)["status"] != "stopped":
            assert time.monotonic() < deadline, "container did not stop after SIGKILL"
            time.sleep(0.3)
        assert oci(root, "delete", cid).returncode == 0
    assert leftovers(root) == []


def test_verbs_on_a_running_zone(root, bundle_dir):
    """pause/resume, events --stats, ps, list and update against one running zone."""
    make_bundle(bundle_dir, ["sleep", "600"],
                **{"linux.resources": {"memory": {"limit": 256 << 20}}})
    cid = new_id()
    assert create(root, bundle_dir, cid).returncode == 0
    assert oci(root, "start", cid).returncode == 0
    listed = json.loads(oci(root, "list", "--format", "json").stdout)
    assert [c["id"] for c in listed] == [cid]
    pids = json.loads(oci(root, "ps", "--format", "json", cid).stdout)
    assert pids == [json.loads(oci(root, "state", cid).stdout)["pid"]]
    stats = json.loads(oci(root, "events", "--stats", cid).stdout)
    memory = stats["data"]["memory"]["usage"]
    assert 0 < memory["usage"] < memory["limit"] <= (256 + 64) << 20
    assert stats["data"]["pids"]["current"] >= 1
    assert oci(root, "pause", cid).returncode == 0
    assert json.loads(oci(root, "state", cid).stdout)["status"] == "paused"
    name = json.loads((root / cid / "state.json").read_text())["zone"]["name"]
    xl = subprocess.run(["xl", "list", name], capture_output=True, text=True).stdout
    assert "p" in xl.splitlines()[1].split()[4]  # Xen reports the domain paused
    assert oci(root, "resume", cid).returncode == 0
    assert json.loads(oci(root, "state", cid).stdout)["status"] == "running"
    too_big = oci(root, "update", "--resources", "-", cid,
                  input=json.dumps({"memory": {"limit": 1 << 30}}))
    assert too_big.returncode != 0 and "memory" in too_big.stderr
    assert oci(root, "update", "--resources", "-", cid,
               input=json.dumps({"memory": {"limit": 128 << 20}})).returncode == 0
    assert oci(root, "delete", "--force", cid).returncode == 0
    assert leftovers(root) == []


def test_terminal_goes_to_the_console_socket(root, bundle_dir, tmp_path):
    """process.terminal: the pty master arrives over --console-socket and reaches the zone."""
    import socket

    make_bundle(bundle_dir, ["sh", "-c", "read line; echo got:$line; tty"],
                **{"process.terminal": True})
    sock_path = tmp_path / "console.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen(1)
    cid = new_id()
    res = create(root, bundle_dir, cid, "--console-socket", str(sock_path))
    assert res.returncode == 0, res.stderr
    conn, _ = server.accept()
    _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    master = fds[0]
    assert oci(root, "start", cid).returncode == 0
    os.write(master, b"hello-tty\n")
    out = b""
    deadline = time.monotonic() + 60
    while b"/dev/pts/" not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
    assert b"got:hello-tty" in out
    assert b"/dev/pts/" in out  # the workload's stdio is a terminal in the zone
    os.close(master)
    oci(root, "delete", "--force", cid)
    assert leftovers(root) == []
