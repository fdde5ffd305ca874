"""Container engines in the lab's dom0, configured to know edera-oci (no systemd, no registry).

Settings follow what was shown to work in a dom0 like the lab's: cgroup2 with its controllers
delegated, podman with cgroupfs/file events/k8s-file logs, images imported from a busybox rootfs.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .bundles import busybox_rootfs
from .dom0 import print_hang_report

CONTAINERS_CONF = """[containers]
log_driver = "k8s-file"
[network]
network_backend = "netavark"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "edera"]
[engine.runtimes]
edera = ["/usr/local/bin/edera-oci"]
"""

DAEMON_JSON = """{ "exec-opts": ["native.cgroupdriver=cgroupfs"], "storage-driver": "overlay2",
  "log-driver": "json-file", "containerd": "/run/containerd/containerd.sock",
  "runtimes": { "edera": { "path": "/usr/local/bin/edera-oci" } } }
"""


# containerd's CRI plugin (what the kubelet talks to): a runtime handler `edera` of edera-oci's
# shim (containerd-shim-edera-v2: the runc shim running edera-oci, with the task stats asked of
# the runtime), a pause image made locally (no registry), and the CNI plugins of Debian's
# package.
CONTAINERD_TOML = """version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/edera-pause:1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.edera]
    runtime_type = "io.containerd.edera.v2"
"""

# The pod network: a bridge with addresses from host-local, as a small cluster's CNI would give.
POD_CNI_CONFLIST = """{ "cniVersion": "0.4.0", "name": "edera-pods",
  "plugins": [ { "type": "bridge", "bridge": "cni-edera0", "isGateway": true, "ipMasq": true,
                 "ipam": { "type": "host-local", "ranges": [[{ "subnet": "10.77.0.0/24" }]],
                           "routes": [{ "dst": "0.0.0.0/0" }] } } ] }
"""
POD_GATEWAY = "10.77.0.1"


def engine_cli(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    """An engine's command (podman, docker), its output captured; one that does not end in
    time prints where dom0 is (dom0.print_hang_report, taken while the command still runs)
    and what it had printed, then is killed and raises TimeoutExpired."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                print_hang_report(" ".join(argv[:4]))
            except Exception as e:  # dom0 changing under the report: the timeout is the failure
                print(f"the hang report stopped: {e!r}")
            proc.kill()
            out, err = proc.communicate()
            print(f"--- its stdout\n{out[-3000:]}\n--- its stderr\n{err[-3000:]}")
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def sh(*cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, **kw)


def prepare_host() -> None:
    controllers = Path("/sys/fs/cgroup/cgroup.controllers").read_text().split()
    Path("/sys/fs/cgroup/cgroup.subtree_control").write_text(
        " ".join("+" + c for c in controllers))
    sh("modprobe", "-a", "overlay", "br_netfilter")


def busybox_tar(dest: Path) -> Path:
    root = busybox_rootfs(dest / "rootfs")
    (root / "www").mkdir()
    (root / "www/index.html").write_text("hello from a zone's httpd\n")
    tar = dest / "busybox.tar"
    with tarfile.open(tar, "w") as t:
        t.add(root, arcname=".")
    return tar


def setup_podman(workdir: Path) -> str:
    prepare_host()
    Path("/etc/containers").mkdir(parents=True, exist_ok=True)
    Path("/etc/containers/containers.conf").write_text(CONTAINERS_CONF)
    sh("podman", "import", str(busybox_tar(workdir)), "localhost/bb:latest")
    return "localhost/bb:latest"


def setup_docker(workdir: Path) -> str:
    prepare_host()
    Path("/etc/docker").mkdir(parents=True, exist_ok=True)
    Path("/etc/docker/daemon.json").write_text(DAEMON_JSON)
    Path("/etc/containerd").mkdir(parents=True, exist_ok=True)
    Path("/etc/containerd/config.toml").write_text(CONTAINERD_TOML)
    Path("/etc/cni/net.d").mkdir(parents=True, exist_ok=True)
    Path("/etc/cni/net.d/10-edera-pods.conflist").write_text(POD_CNI_CONFLIST)
    log = open("/var/log/containerd.log", "w")  # noqa: SIM115 - the daemon keeps it
    subprocess.Popen(["containerd"], stdout=log, stderr=log)
    wait_for(["ctr", "version"], 120)
    dlog = open("/var/log/dockerd.log", "w")  # noqa: SIM115
    subprocess.Popen(["dockerd"], stdout=dlog, stderr=dlog)
    wait_for(["docker", "version"], 240)
    sh("docker", "import", str(busybox_tar(workdir)), "bb:latest")
    return "bb:latest"


# A plain Debian 12 minbase root filesystem, put into dom0 by lab/build.
DEBIAN_MINBASE_TAR = Path("/var/lib/edera-lab/debian-minbase.tar")
DEBIAN_CHECK = "cat /etc/debian_version; id -un; apt-get --version | head -n 1"


def import_debian(engine: str) -> str:
    """The Debian minbase image, imported into podman's or docker's store."""
    ref = "localhost/debian:minbase" if engine == "podman" else "debian:minbase"
    sh(engine, "import", str(DEBIAN_MINBASE_TAR), ref)
    return ref


def wait_for(cmd: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while subprocess.run(cmd, capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{' '.join(cmd)} did not answer within {timeout:.0f} s")
        time.sleep(1)


def fetch(url: str, tries: int = 30) -> str:
    """The body at url once a server answers (busybox wget, with a hard timeout: its own -T
    segfaults in Debian 12's busybox)."""
    for _ in range(tries):
        got = subprocess.run(["timeout", "15", "busybox", "wget", "-q", "-O", "-", url],
                             capture_output=True, text=True)
        if got.stdout:
            return got.stdout
        time.sleep(1)
    return ""


SLEEP_LOOP = "while :; do sleep 0.2; done"
Engine = Callable[..., subprocess.CompletedProcess]


@contextmanager
def detached(engine: Engine, name: str, image: str,
             script: str = SLEEP_LOOP, run_opts: tuple[str, ...] = (),
             rm_opts: tuple[str, ...] = ()) -> Iterator[str]:
    """`ENGINE run -d --name NAME RUN_OPTS IMAGE sh -c SCRIPT` for the block, then `rm -f`
    however the block ends (a failed assertion must not leave a zone to the next test)."""
    res = engine("run", "-d", "--name", name, *run_opts, image, "sh", "-c", script)
    assert res.returncode == 0, res.stderr
    try:
        yield name
    finally:
        engine("rm", "-f", *rm_opts, name)


TRAP_TERM = "trap 'echo trapped; exit 0' TERM; " + SLEEP_LOOP


def check_exec(engine: Engine, name: str) -> None:
    """`exec` into the running container `name`: streams and status apart, -e, -u."""
    plain = engine("exec", name, "sh", "-c", "echo exec-ok; echo exec-err >&2; exit 4")
    assert plain.returncode == 4
    assert plain.stdout == "exec-ok\n" and plain.stderr == "exec-err\n"
    env = engine("exec", "-e", "FOO=from-exec", name, "sh", "-c", "echo $FOO")
    assert env.stdout == "from-exec\n", env.stderr
    user = engine("exec", "-u", "1000:1000", name, "id", "-u")
    assert user.stdout == "1000\n", user.stderr


def check_stop_with_a_trap(engine: Engine, name: str) -> None:
    """`stop` of the container `name`, a shell that traps SIGTERM (as TRAP_TERM): the trap
    runs, and it exits 0."""
    stop = engine("stop", "-t", "10", name)
    assert stop.returncode == 0, stop.stderr
    assert "trapped" in engine("logs", name).stdout
    assert engine("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "0"


ROOT_WRITE = "written-in-zone\n"
COPIED_IN = "copied-from-dom0\n"


def check_the_root_keeps_writes(engine: Engine, name: str) -> None:
    """The running container's writes to its root land in its rootfs on the host, the
    engine's overlay upper directory (issue 13: they were in a copy): `diff` lists an added
    and a removed file."""
    wrote = engine("exec", name, "sh", "-c", f"printf '{ROOT_WRITE}' > /root-write && "
                   "rm /etc/group")
    assert wrote.returncode == 0, wrote.stderr
    diff = engine("diff", name)
    assert diff.returncode == 0, diff.stderr
    assert {"A /root-write", "D /etc/group"} <= set(diff.stdout.splitlines()), diff.stdout


def check_cp_both_ways(engine: Engine, name: str, workdir: Path) -> None:
    """After check_the_root_keeps_writes: `cp` copies the zone's write out of the container
    and a dom0 file into it."""
    out = workdir / f"{name}-copied-out"
    copied = engine("cp", f"{name}:/root-write", str(out))
    assert copied.returncode == 0, copied.stderr
    assert out.read_text() == ROOT_WRITE
    into = workdir / f"{name}-copied-in"
    into.write_text(COPIED_IN)
    copied = engine("cp", str(into), f"{name}:/copied-in")
    assert copied.returncode == 0, copied.stderr


def check_a_new_start_finds_the_root_as_left(engine: Engine, name: str, verb: str) -> None:
    """After the checks above and a stop: `start` (or `restart`) boots a new zone on the same
    rootfs, which has the zone's write and the copied file and lacks the removed one."""
    started = engine(verb, name)
    assert started.returncode == 0, started.stderr
    seen = engine("exec", name, "sh", "-c", "cat /root-write /copied-in; ls /etc/group 2>&1")
    assert seen.stdout.startswith(ROOT_WRITE + COPIED_IN), seen.stdout
    assert "No such file" in seen.stdout, seen.stdout


def check_volumes_keep_the_zones_writes(engine: Engine, prefix: str, image: str,
                                        workdir: Path, run_opts: tuple[str, ...] = ()) -> None:
    """One `run --rm` in a zone sized by --memory and --cpus, with a named volume and a
    bind-mounted host directory: what dom0 put there before is read in the zone, and what the
    zone writes is in dom0's volume store and host directory after the container is gone
    (issue 13: volumes were copies, writes were lost); its exit status is the run's, its
    stdout and stderr come apart, and the zone has the memory and vCPUs asked for."""
    volume = f"{prefix}-vol"
    made = engine("volume", "create", volume)
    assert made.returncode == 0, made.stderr
    try:
        store = Path(engine("volume", "inspect", "-f", "{{.Mountpoint}}", volume).stdout.strip())
        (store / "seed").write_text("from-dom0\n")
        host_dir = workdir / f"{prefix}-bind"
        host_dir.mkdir()
        (host_dir / "seed").write_text("bind-from-dom0\n")
        res = engine("run", "--rm", *run_opts, "--memory", "256m", "--cpus", "2",
                     "-v", f"{volume}:/vol", "-v", f"{host_dir}:/bind", image, "sh", "-c",
                     "cat /vol/seed /bind/seed; echo vol-from-zone > /vol/out;"
                     " echo bind-from-zone > /bind/out; sync; echo err >&2;"
                     " grep MemTotal /proc/meminfo; nproc; exit 3")
        assert res.returncode == 3, res.stderr
        seed, bind_seed, mem_line, nproc = res.stdout.splitlines()
        assert (seed, bind_seed) == ("from-dom0", "bind-from-dom0"), res.stdout
        # the engine's own warnings (docker: no swap limit on dom0's kernel) come first
        workload_err = [ln for ln in res.stderr.splitlines() if not ln.startswith("WARNING: ")]
        assert workload_err == ["err"] and "err" not in res.stdout, res.stderr
        mem_mib = int(mem_line.split()[1]) // 1024
        assert 240 < mem_mib <= 256 + 64, res.stdout  # the limit plus the zone's overhead
        assert nproc == "2"
        assert (store / "out").read_text() == "vol-from-zone\n"
        assert (host_dir / "out").read_text() == "bind-from-zone\n"
    finally:
        engine("volume", "rm", "-f", volume)


def zone_states() -> list[str]:
    """The Xen state letters (r, b, p, ...) of the zones now in `xl list`, one per zone."""
    lines = sh("xl", "list").stdout.splitlines()[1:]
    return [ln.split()[4].replace("-", "") for ln in lines if ln.startswith("edera-")]


def run_on_a_pty(argv: list[str], timeout: float = 180) -> str:
    """Run argv with a terminal as its stdio (what `-it` needs); returns what it printed."""
    pid, master = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 1.0)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
    finally:
        os.close(master)
        _, status = os.waitpid(pid, 0)
    return out.decode(errors="replace") + f"\n[exit {os.waitstatus_to_exitcode(status)}]"
