"""What a workload sees in a zone against what it sees under runc, for the same bundle.

The reference for the container boundary is runc (issue 12). Three configs are run by both
runtimes in the lab's dom0: `edera-oci spec`'s default (runc-style), the config docker 20.10
generated and the one podman 4.3 generated (spec-fixtures/valid), each with the lab's busybox
rootfs and its host paths replaced by files of the test. The workload prints what it sees:
its status (capabilities, no_new_privs, seccomp mode), ids, umask, cwd, names, environment,
rlimits, oom_score_adj, mounts with their flags, /dev, its cgroup's limits and sysctls. Both
outputs must be equal, less the few differences by design `comparable` takes out, each with
its reason.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from .bundles import busybox_rootfs
from .dom0 import dump_diagnostics, leftovers

pytestmark = pytest.mark.xen

REPO = Path(__file__).resolve().parents[2]

PROBE = r"""
echo "pid=$$"
echo "pid1=$(tr '\0' ' ' </proc/1/cmdline)"
grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status |
  tr -d ' \t' | sed 's/:/=/'
echo "id=$(id)"
echo "umask=$(umask)"
echo "cwd=$(pwd)"
echo "hostname=$(hostname)"
echo "domainname=$(cat /proc/sys/kernel/domainname)"
echo "env=$(env | grep -v '^_=' | sort | tr '\n' ' ')"
echo "oom=$(cat /proc/self/oom_score_adj)"
echo "limits=$(tail -n +2 /proc/self/limits | tr -s ' ' | tr '\n' ';')"
echo "mounts=$(awk '$2 != "/" {n = split($4, o, ","); f = "";
  for (i = 1; i <= n; i++) if (o[i] ~ /^(ro|rw|nosuid|nodev|noexec)$/) f = f "," o[i];
  print $2 " " $3 " " substr(f, 2)}' /proc/mounts | sort | tr '\n' ';')"
echo "root-flags=$(awk '$2 == "/" {print $4}' /proc/mounts | tr ',' '\n' | grep -E '^(ro|rw)$')"
echo "dev=$(for f in /dev/* /dev/pts/ptmx /dev/shm /dev/mqueue; do
  stat -c '%A %t:%T %n' "$f"; done | sort | tr '\n' ';')"
echo "cgroup-self=$(cat /proc/self/cgroup)"
for f in memory.max memory.swap.max pids.max cpu.max cpu.weight; do
  if [ -e /sys/fs/cgroup/$f ]; then echo "cg-$f=$(cat /sys/fs/cgroup/$f)"
  else echo "cg-$f=absent"; fi
done
for s in $SYSCTLS; do echo "sysctl-$s=$(cat /proc/sys/$(echo $s | tr . /))"; done
echo "probe-done=1"
"""

# What runc (Go) calls between loading a filter and execve, all in docker's and podman's full
# profiles: the id and capability changes, then closing the fds it must not pass on (it checks
# with fstatfs that /proc/self/fd is procfs, reads it, closes), and its Go runtime's threads.
RUNTIME_SYSCALLS = (
    "setgroups", "setresuid", "setresgid", "prctl", "capset", "capget", "setuid", "setgid",
    "fstatfs", "statfs", "openat", "getdents64", "fstat", "newfstatat", "fcntl", "close",
    "close_range", "read", "write", "readlinkat", "execve", "futex", "nanosleep", "sched_yield",
    "mmap", "munmap", "madvise", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "sigaltstack", "getpid", "gettid", "getppid", "tgkill", "exit", "exit_group",
    "epoll_pwait", "epoll_ctl", "clone",
)

# /proc/limits' row of each rlimit type config.json can set.
RLIMIT_ROWS = {
    "RLIMIT_CPU": "Max cpu time", "RLIMIT_FSIZE": "Max file size",
    "RLIMIT_DATA": "Max data size", "RLIMIT_STACK": "Max stack size",
    "RLIMIT_CORE": "Max core file size", "RLIMIT_RSS": "Max resident set",
    "RLIMIT_NPROC": "Max processes", "RLIMIT_NOFILE": "Max open files",
    "RLIMIT_MEMLOCK": "Max locked memory", "RLIMIT_AS": "Max address space",
    "RLIMIT_LOCKS": "Max file locks", "RLIMIT_SIGPENDING": "Max pending signals",
    "RLIMIT_MSGQUEUE": "Max msgqueue size", "RLIMIT_NICE": "Max nice priority",
    "RLIMIT_RTPRIO": "Max realtime priority", "RLIMIT_RTTIME": "Max realtime timeout",
}
# Paths the zone's kernel does not have, so there is nothing to mask: a PV guest has no ACPI.
NOT_IN_A_ZONE = ("/proc/acpi",)


def comparable(view: dict[str, str], cfg: dict) -> dict[str, str]:
    """What a workload saw, less what differs between a zone and runc by design:
    * the rlimits config.json does not set: under runc the caller's (runc 1.1 also raises the
      soft NOFILE to the hard one, a Go artifact runc 1.2 undid); in a zone the zone kernel's
      defaults, which scale with the zone's memory (NPROC, SIGPENDING);
    * a bind mount's filesystem type: the host's under runc, 9p in a zone, where the source is
      shared live over Xen 9pfs (issue 13); its flags are compared;
    * masked paths the zone's kernel lacks (NOT_IN_A_ZONE).
    Nothing else is taken out."""
    out = dict(view)
    rows = {RLIMIT_ROWS[r["type"]] for r in cfg["process"].get("rlimits", [])}
    out["limits"] = ";".join(row for row in view.get("limits", "").split(";")
                             if any(row.startswith(name + " ") for name in rows))
    binds = {m["destination"] for m in cfg.get("mounts", []) if m.get("type") == "bind"}
    mounts = []
    for row in filter(None, view.get("mounts", "").split(";")):
        dest, fstype, *flags = row.split(" ")
        if dest in NOT_IN_A_ZONE:
            continue
        mounts.append(" ".join([dest, "bind" if dest in binds else fstype, *flags]))
    out["mounts"] = ";".join(mounts)
    return out


def keyvals(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def host_file(tmp: Path, name: str, text: str) -> str:
    path = tmp / "host-files" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def parity_config(source: dict, tmp: Path, sysctls: list[str]) -> dict:
    """source with the lab's rootfs, the probe as its process and test files for host paths."""
    cfg = json.loads(json.dumps(source))
    cfg["root"] = {"path": "rootfs", "readonly": cfg.get("root", {}).get("readonly", False)}
    cfg["process"]["args"] = ["sh", "-c", PROBE]
    cfg["process"]["terminal"] = False
    cfg["process"]["env"] = [e for e in cfg["process"].get("env", [])
                             if not e.startswith("SYSCTLS=")] + ["SYSCTLS=" + " ".join(sysctls)]
    cfg.pop("hooks", None)
    linux = cfg.setdefault("linux", {})
    linux["cgroupsPath"] = "/parity-" + uuid.uuid4().hex[:8]
    for ns in linux.get("namespaces", []):
        ns.pop("path", None)  # an engine's netns path: neither runtime joins one here
    linux.get("resources", {}).pop("blockIO", None)  # dom0's cgroup has no io weights
    if linux.get("seccomp"):
        # The fixtures' profiles are cut to 87 names; docker's and podman's full ones allow
        # what a runtime calls between loading the filter and execve (without noNewPrivileges).
        linux["seccomp"].setdefault("syscalls", []).append(
            {"names": list(RUNTIME_SYSCALLS), "action": "SCMP_ACT_ALLOW"})
    for m in cfg.get("mounts", []):
        if m.get("type") == "bind" and not Path(m["source"]).exists():
            dest = m["destination"]
            if dest == "/dev/shm":
                shm = tmp / "host-files" / "shm"
                shm.mkdir(parents=True, exist_ok=True)
                m["source"] = str(shm)
            else:
                m["source"] = host_file(tmp, dest.strip("/").replace("/", "_"),
                                        f"test file for {dest}\n")
    return cfg


def bundle_for(tmp: Path, cfg: dict) -> Path:
    bundle = tmp / "bundle"
    busybox_rootfs(bundle / "rootfs")
    (bundle / "config.json").write_text(json.dumps(cfg, indent=2))
    return bundle


def run_probe(argv: list[str]) -> tuple[dict[str, str], str]:
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=300)
    seen = keyvals(res.stdout)
    assert seen.get("probe-done") == "1", (argv, res.returncode, res.stdout, res.stderr)
    return seen, res.stderr


def default_config(tmp: Path) -> dict:
    spec_dir = tmp / "spec"
    spec_dir.mkdir()
    subprocess.run(["edera-oci", "spec", "--bundle", str(spec_dir)], check=True)
    return json.loads((spec_dir / "config.json").read_text())


def fixture_config(name: str) -> dict:
    return json.loads((REPO / "spec-fixtures/valid" / name).read_text())


CONFIGS = {
    "runc-style": default_config,
    "docker": lambda _tmp: fixture_config("docker-20.10.json"),
    "podman": lambda _tmp: fixture_config("podman-4.3.json"),
}


@pytest.fixture(scope="module")
def seen(tmp_path_factory) -> dict[str, dict]:
    """Every config run by both runtimes, in one lab boot (one zone per config)."""
    out: dict[str, dict] = {}
    for name, make in CONFIGS.items():
        tmp = tmp_path_factory.mktemp(f"parity-{name}")
        source = make(tmp)
        sysctls = sorted(source.get("linux", {}).get("sysctl", {}))
        cfg = parity_config(source, tmp, sysctls)
        bundle = bundle_for(tmp, cfg)
        cid = f"parity-{name}-{uuid.uuid4().hex[:6]}"
        runc, _ = run_probe(["runc", "--root", str(tmp / "runc"), "run", "--bundle",
                             str(bundle), cid])
        root = tmp / "state"
        try:
            edera, stderr = run_probe(["edera-oci", "--root", str(root), "run", "--bundle",
                                       str(bundle), cid])
        except BaseException:
            dump_diagnostics(root)
            raise
        out[name] = {"runc": comparable(runc, cfg), "edera": comparable(edera, cfg),
                     "stderr": stderr,
                     "leftovers": leftovers(root)}
    return out


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_workload_sees_what_it_sees_under_runc(seen, name):
    runc, edera = seen[name]["runc"], seen[name]["edera"]
    assert runc["pid"] == "1"
    differences = {key: {"runc": runc.get(key), "edera-oci": edera.get(key)}
                   for key in sorted(set(runc) | set(edera))
                   if runc.get(key) != edera.get(key)}
    assert differences == {}, json.dumps(differences, indent=1)
    assert seen[name]["leftovers"] == []
