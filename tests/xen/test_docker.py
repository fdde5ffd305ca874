"""docker 20.10 (containerd's runc shim) runs containers in zones through `--runtime edera`;
its network comes from the libnetwork-setkey prestart hook.

What is the runtime's and not the engine's (two zones apart, a Debian image) is shown once,
through podman (tests/xen/test_podman.py): each engine container costs 40 to 60 s in the lab.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from . import cri
from .dom0 import leftovers, shim_proxies
from .engines import (
    COPIED_IN,
    POD_GATEWAY,
    ROOT_WRITE,
    TRAP_TERM,
    busybox_tar,
    check_a_new_start_finds_the_root_as_left,
    check_cp_both_ways,
    check_exec,
    check_stop_with_a_trap,
    check_the_root_keeps_writes,
    check_volumes_keep_the_zones_writes,
    detached,
    engine_cli,
    fetch,
    run_on_a_pty,
    setup_docker,
    sh,
    zone_states,
)
from .test_pods import wait_for

pytestmark = pytest.mark.xen

DOCKER_ROOT = Path("/run/docker/runtime-runc/moby")
EDERA = ("--runtime", "edera")  # docker takes the runtime per container


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return setup_docker(tmp_path_factory.mktemp("docker"))


def docker(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return engine_cli(["docker", *args], timeout)


def test_port_pause_unpause_a_terminal_exec_root_writes_stop_and_start(image, tmp_path):
    """One zone: a published port reaches busybox httpd in it, pause freezes it, unpause
    resumes it, `exec -it` gets a tty, `exec` keeps its streams and status apart (with -e,
    -u); the root's writes are docker's (diff, cp both ways); `stop` of a shell that traps
    SIGTERM runs the trap: exit 0; `start` finds the root as it was left, and `commit` keeps
    the writes in an image. (kill's 137 through containerd's shim is the CRI test's.)"""
    with detached(docker, "d-pause", image, "httpd -p 80 -h /www; " + TRAP_TERM,
                  run_opts=(*EDERA, "-p", "8081:80")) as name:
        assert fetch("http://127.0.0.1:8081/") == "hello from a zone's httpd\n"
        assert docker("pause", name).returncode == 0
        assert docker("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "paused"
        assert zone_states() == ["p"]
        assert docker("unpause", name).returncode == 0
        assert docker("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "running"
        out = run_on_a_pty(["docker", "exec", "-it", name, "sh", "-c",
                            "tty; echo tty-done"])
        assert "tty-done" in out and "/dev/pts/" in out and "not a tty" not in out, out
        check_exec(docker, name)
        check_the_root_keeps_writes(docker, name)
        check_cp_both_ways(docker, name, tmp_path)  # on the running container: live
        seen = docker("exec", name, "cat", "/copied-in")
        assert seen.stdout == COPIED_IN, seen.stderr
        check_stop_with_a_trap(docker, name)
        check_a_new_start_finds_the_root_as_left(docker, name, "start")
        committed = "localhost/edera-committed:1"
        assert docker("commit", name, committed).returncode == 0
        try:  # the image's files, read without running it: create, cp out, rm
            assert docker("create", "--name", "d-committed", committed).returncode == 0
            out = tmp_path / "from-the-commit"
            assert docker("cp", "d-committed:/root-write", str(out)).returncode == 0
            assert out.read_text() == ROOT_WRITE
        finally:
            docker("rm", "-f", "d-committed")
            docker("rmi", committed)


def test_ctr_runs_a_zone_through_the_runc_shim(image, tmp_path):
    """containerd's own client: `ctr run --runtime io.containerd.runc.v2 --runc-binary`."""
    tar = tmp_path / "bb.tar"
    assert docker("save", "-o", str(tar), image).returncode == 0
    ctr = ["ctr", "-n", "edera-test"]
    imported = subprocess.run([*ctr, "images", "import", str(tar)], capture_output=True,
                              text=True)
    assert imported.returncode == 0, imported.stderr
    ref = "docker.io/library/" + image
    try:
        res = subprocess.run(
            [*ctr, "run", "--rm", "--runtime", "io.containerd.runc.v2",
             "--runc-binary", "/usr/local/bin/edera-oci", ref, "ctr-zone",
             "sh", "-c", "echo hello-from-ctr; ls /sys/bus/xen/devices"],
            capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        assert "hello-from-ctr" in res.stdout
        assert "9pfs-" in res.stdout  # its root's Xen 9pfs frontend: a zone, not dom0
        assert leftovers(Path("/run/containerd/runc/edera-test")) == []
    finally:
        subprocess.run([*ctr, "images", "rm", ref], capture_output=True)


def test_a_kubernetes_pod_runs_in_a_zone_through_the_cri(image, tmp_path):
    """containerd's CRI plugin, driven as the kubelet drives it, with the runtime handler
    `edera` (what a RuntimeClass names). One pod, one zone: an init container writes into an
    emptyDir and ends before the app containers start; `web` serves the emptyDir on localhost
    and `app` fetches it in a loop into the pod's log; the emptyDir is live on the host both
    ways; ExecSync reaches each container in its own root; `app` killed reports 137 while
    `web` serves on, and its replacement in the same sandbox fetches again. ContainerStats is
    each container's own, from the zone. A second pod gets
    a zone of its own and sees neither the first's files, processes nor localhost.
    RemovePodSandbox leaves nothing."""
    ctr = ("ctr", "-n", "k8s.io")
    sh("docker", "import", "-c", 'ENTRYPOINT ["/bin/sleep", "2147483647"]',
       str(busybox_tar(tmp_path)), "localhost/edera-pause:1")
    imported = []
    for ref in ("localhost/edera-pause:1", image):
        tar = tmp_path / (ref.replace("/", "_") + ".tar")
        sh("docker", "save", "-o", str(tar), ref)
        sh(*ctr, "images", "import", str(tar))
        imported.append(ref if "/" in ref else "docker.io/library/" + ref)
    busybox = imported[1]
    logs, logs2 = tmp_path / "pod-logs", tmp_path / "pod-2-logs"
    logs.mkdir()
    logs2.mkdir()
    # an emptyDir is a directory of the pod's on the host, bound into its containers
    empty_dir = tmp_path / "pods" / "uid-edera-pod-1" / "volumes" / "kubernetes.io~empty-dir"
    empty_dir.mkdir(parents=True)
    data = {"/data": str(empty_dir)}
    pod = cri.pod_config("edera-pod", "uid-edera-pod-1", str(logs))
    pod2 = cri.pod_config("edera-pod-2", "uid-edera-pod-2", str(logs2))
    fetch_loop = ["sh", "-c", "echo hello-from-a-pod; while :; do "
                  "timeout 5 wget -q -O - http://127.0.0.1:8080/; sleep 1; done"]
    runtime = cri.RuntimeService()
    sandboxes = []

    def run(sandbox: str, config: cri.Message, pod_config: cri.Message) -> str:
        cid = runtime.create_container(sandbox, config, pod_config)
        runtime.start_container(cid)
        return cid

    def exited(cid: str) -> bool:
        return runtime.container_status(cid)[0] == cri.CONTAINER_EXITED

    try:
        assert "containerd" in runtime.version()
        sandbox = runtime.run_pod_sandbox(pod, "edera")
        sandboxes.append(sandbox)
        pod_ip = runtime.pod_ip(sandbox)
        assert pod_ip.startswith("10.77.0."), pod_ip
        # The init container runs to completion before the app containers, as the kubelet
        # orders them; its write lands in the emptyDir on the host.
        init = run(sandbox, cri.container_config(
            "init", busybox, ["sh", "-c", "echo hello-from-init > /data/index.html"],
            "init.log", data), pod)
        wait_for(lambda: exited(init), 120, "the init container ending")
        assert runtime.container_status(init)[1] == 0
        assert (empty_dir / "index.html").read_text() == "hello-from-init\n"
        web = run(sandbox, cri.container_config(
            "web", busybox, ["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/data"], "web.log",
            data), pod)
        app = run(sandbox, cri.container_config("app", busybox, fetch_loop, "app.log"), pod)
        assert len(zone_states()) == 1, zone_states()  # the pod's one zone
        wait_for(lambda: "hello-from-init" in (logs / "app.log").read_text(), 90,
                 "app fetching web's page over localhost")
        assert "hello-from-a-pod" in (logs / "app.log").read_text()
        code, out, err = runtime.exec_sync(app, ["sh", "-c", (
            "ip -o -4 addr show eth0; ls /sys/bus/xen/devices; "
            f"ping -c 1 -W 5 {POD_GATEWAY} >/dev/null && echo PING-OK; ls /data 2>&1; true")])
        assert code == 0, err + out
        assert f"inet {pod_ip}/24" in out, out  # the pod's address is the zone's
        assert "9pfs-" in out, out  # the Xen 9pfs frontend of the pod's share: a zone
        assert "PING-OK" in out, out
        assert "No such file" in out, out  # app's own root has no emptyDir
        # The CRI's stats are each container's, from its cgroup in the zone (edera-oci's shim
        # asks the runtime): `hog` holds 32 MiB and spins 5 s; `web` does neither. Through the
        # runc shim alone they were both the dom0 monitor's (a python process each).
        hog = run(sandbox, cri.container_config("hog", busybox, ["sh", "-c", (
            "dd if=/dev/zero bs=33554432 count=1 2>/dev/null | sleep 3600 & "  # dd's buffer
            "timeout 5 sh -c 'while :; do :; done'; echo SPUN; wait")], "hog.log"), pod)
        wait_for(lambda: "SPUN" in (logs / "hog.log").read_text(), 180, "hog spinning")
        hog_cpu, hog_memory = runtime.container_stats(hog)
        web_cpu, web_memory = runtime.container_stats(web)
        assert hog_memory >= 32 << 20 > web_memory, (hog_memory, web_memory)
        assert hog_cpu - web_cpu >= 2_000_000_000, (hog_cpu, web_cpu)
        assert len(zone_states()) == 1, zone_states()
        # The emptyDir is live while the pod runs: the host's write is seen in the zone, the
        # zone's on the host.
        (empty_dir / "from-host.txt").write_text("written-on-the-host\n")
        code, out, err = runtime.exec_sync(web, ["sh", "-c", "cat /data/from-host.txt && "
                                                 "echo from-web > /data/from-web.txt"])
        assert (code, out) == (0, "written-on-the-host\n"), err
        assert (empty_dir / "from-web.txt").read_text() == "from-web\n"
        # app killed: its exit status is reported, web serves on.
        runtime.stop_container(app, 0)
        wait_for(lambda: exited(app), 60, "app stopping")
        assert runtime.container_status(app)[1] == 137
        # not wget's -T: Debian 12's static busybox wget crashes with it (SIGSEGV)
        code, out, err = runtime.exec_sync(web, ["timeout", "5", "wget", "-q", "-O", "-",
                                                 "http://127.0.0.1:8080/"])
        assert (code, out) == (0, "hello-from-init\n"), err
        # The kubelet's restart: a new attempt in the same sandbox fetches again.
        runtime.remove_container(app)
        run(sandbox, cri.container_config("app", busybox, fetch_loop, "app-1.log", attempt=1),
            pod)
        wait_for(lambda: "hello-from-init" in (logs / "app-1.log").read_text(), 90,
                 "the replacement fetching web's page")
        assert len(zone_states()) == 1, zone_states()
        # A second pod: a zone of its own, sharing nothing with the first.
        sandbox2 = runtime.run_pod_sandbox(pod2, "edera")
        sandboxes.append(sandbox2)
        other = run(sandbox2, cri.container_config("other", busybox, ["sleep", "3602"],
                                                   "other.log"), pod2)
        assert len(zone_states()) == 2, zone_states()
        code, out, _ = runtime.exec_sync(other, ["sh", "-c", (
            "ps; ls /data 2>&1; timeout 5 wget -q -O - http://127.0.0.1:8080/ || "
            "echo NO-SERVER")])
        assert "httpd" not in out and "No such file" in out and "NO-SERVER" in out, out
        assert runtime.pod_ip(sandbox2) != pod_ip
        code, out, _ = runtime.exec_sync(web, ["ps"])
        assert code == 0 and "httpd" in out and "3602" not in out, out
    finally:
        for sb in sandboxes:
            runtime.stop_pod_sandbox(sb)
            runtime.remove_pod_sandbox(sb)
        runtime.close()
        for ref in imported:
            subprocess.run([*ctr, "images", "rm", ref], capture_output=True)
        subprocess.run(["docker", "rmi", "localhost/edera-pause:1"], capture_output=True)
    # each pod's shim proxy ends with its runc shim, its socket removed
    wait_for(lambda: not shim_proxies(), 30, "the shim's proxies ending")
    assert [p.name for p in Path("/run/containerd/s").iterdir()
            if p.name.endswith(".edera")] == []
    assert leftovers(Path("/run/containerd/runc/k8s.io")) == []
    # the emptyDir is the kubelet's to remove: the pod's writes are all in it
    assert sorted(os.listdir(empty_dir)) == ["from-host.txt", "from-web.txt", "index.html"]


def test_run_rm_sized_with_a_named_volume_and_a_bind_that_keep_the_zones_writes(image,
                                                                           tmp_path):
    check_volumes_keep_the_zones_writes(docker, "d", image, tmp_path, run_opts=EDERA)


def test_nothing_left_behind(image):
    assert leftovers(DOCKER_ROOT) == []
