"""podman 4.3 (conmon) runs containers in zones through `--runtime edera`."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from .dom0 import domains, leftovers
from .engines import (
    DEBIAN_CHECK,
    SLEEP_LOOP,
    check_a_new_start_finds_the_root_as_left,
    check_cp_both_ways,
    check_exec,
    check_stop_with_a_trap,
    check_the_root_keeps_writes,
    check_volumes_keep_the_zones_writes,
    detached,
    engine_cli,
    fetch,
    import_debian,
    run_on_a_pty,
    setup_podman,
    zone_states,
)

pytestmark = pytest.mark.xen

DEFAULT_ROOT = "/run/edera-oci"
FAST_RM = ("-t", "0")  # rm -f without the stop timeout


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return setup_podman(tmp_path_factory.mktemp("podman"))


def podman(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return engine_cli(["podman", "--runtime", "edera", *args], timeout)


def test_nothing_left_behind(image):
    assert leftovers(Path(DEFAULT_ROOT)) == []


def test_port_network_stats_pause_tty_a_debian_container_apart_and_kill(image, tmp_path):
    """A published port reaches busybox httpd in the zone; the zone's eth0 mirrors podman's
    (the container's address, a route to the bridge, which answers); events --stats counts
    the zone's packets on it; pause freezes the zone (Xen shows it paused), unpause resumes
    it; `exec -it` (conmon hands edera-oci a console socket) gets a tty. Beside it, a
    container of a real distribution's rootfs (Debian minbase: dynamic binaries, its own
    passwd, apt) in a zone of its own: each sees its own processes and files, neither the
    other's; exec into it, its root's writes are podman's (diff, then cp both ways), its stop with
    a trap (exit 0), and `restart` finds its root as left. kill ends the first: 137. Three
    zones for all of it (the lab's time)."""
    with detached(podman, "p-pause", image, "httpd -p 80 -h /www; " + SLEEP_LOOP,
                  run_opts=("--cap-add", "NET_RAW", "-p", "8080:80"), rm_opts=FAST_RM) as name:
        assert fetch("http://127.0.0.1:8080/") == "hello from a zone's httpd\n"
        net = podman("exec", name, "sh", "-c", "ip -o -4 addr show eth0; ip route")
        assert "inet 10.88." in net.stdout, net.stderr + net.stdout
        assert "default via 10.88.0.1" in net.stdout, net.stdout
        ping = podman("exec", name, "ping", "-c", "3", "-W", "5", "10.88.0.1")
        assert ping.returncode == 0, ping.stderr + ping.stdout
        cid = podman("inspect", "-f", "{{.Id}}", name).stdout.strip()
        stats = subprocess.run(["edera-oci", "events", "--stats", cid], capture_output=True,
                               text=True)
        assert stats.returncode == 0, stats.stderr
        (eth0,) = json.loads(stats.stdout)["data"]["network_interfaces"]
        assert eth0["name"] == "eth0"
        assert eth0["tx_packets"] >= 3 and eth0["rx_packets"] >= 3, eth0  # echo and reply
        assert eth0["tx_bytes"] >= 3 * 98 and eth0["rx_bytes"] >= 3 * 98, eth0
        assert podman("pause", name).returncode == 0
        status = podman("inspect", "-f", "{{.State.Status}}", name).stdout.strip()
        assert status == "paused"
        assert zone_states() == ["p"]
        assert podman("unpause", name).returncode == 0
        assert podman("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "running"
        assert zone_states() != ["p"]
        assert podman("exec", name, "echo", "alive").stdout == "alive\n"
        out = run_on_a_pty(["podman", "--runtime", "edera", "exec", "-it", name, "sh", "-c",
                            "tty; stty size; echo tty-done"])
        assert "tty-done" in out, out
        assert "/dev/pts/" in out and "not a tty" not in out, out
        check_a_debian_container_apart(name, tmp_path)
        kill = podman("kill", name)
        assert kill.returncode == 0, kill.stderr
        waited = podman("wait", name)
        assert waited.stdout.strip() == "137", waited.stderr


# Builtins and tr only (Debian minbase has no ps): each process's command line, then /tmp.
SEEN = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done; ls /tmp"


def check_a_debian_container_apart(first: str, workdir: Path) -> None:
    """A Debian container beside the running `first`: it runs (Debian 12, root, apt), each
    sees its own process and file, neither the other's; `exec` into it keeps streams and
    status apart (with -e, -u); its root's writes are on the host (diff); `stop` of its
    shell, which traps SIGTERM, runs the trap: exit 0; `cp` both ways on the stopped
    container; `restart` finds its root as left."""
    assert podman("exec", first, "sh", "-c", "echo x > /tmp/mark-of-first").returncode == 0
    debian = import_debian("podman")
    script = ("trap 'echo trapped; exit 0' TERM; echo x > /tmp/mark-of-debian; "
              "while :; do sleep 4343 & wait $!; done")
    with detached(podman, "p-deb", debian, script, rm_opts=FAST_RM) as deb:
        res = podman("exec", deb, "sh", "-c", DEBIAN_CHECK)
        assert res.returncode == 0, res.stderr
        version, user, apt = res.stdout.splitlines()
        assert version.startswith("12."), res.stdout
        assert user == "root" and apt.startswith("apt "), res.stdout
        mine = podman("exec", deb, "sh", "-c", SEEN)
        assert mine.returncode == 0, mine.stderr
        assert "sleep 4343" in mine.stdout and "mark-of-debian" in mine.stdout, mine.stdout
        assert "sleep 0.2" not in mine.stdout and "mark-of-first" not in mine.stdout
        theirs = podman("exec", first, "sh", "-c", SEEN)
        assert "mark-of-first" in theirs.stdout, theirs.stderr + theirs.stdout
        assert "sleep 4343" not in theirs.stdout and "mark-of-debian" not in theirs.stdout
        check_exec(podman, deb)
        check_the_root_keeps_writes(podman, deb)
        check_stop_with_a_trap(podman, deb)
        # podman's cp of a running container resolves paths in its pid's mount namespace,
        # which is the monitor's in dom0 (README "Storage"); a stopped one's is its rootfs
        check_cp_both_ways(podman, deb, workdir)
        check_a_new_start_finds_the_root_as_left(podman, deb, "restart")


def test_run_rm_sized_with_a_named_volume_and_a_bind_that_keep_the_zones_writes(image,
                                                                           tmp_path):
    check_volumes_keep_the_zones_writes(podman, "p", image, tmp_path, run_opts=())


def test_a_runtime_error_reaches_the_podman_user(image):
    """podman reads edera-oci's JSON log (runtime_supports_json) and shows its message."""
    res = podman("run", "--rm", "--uidmap", "0:100000:65536", image, "true")
    assert res.returncode != 0
    assert "user" in res.stderr and "not supported in a zone" in res.stderr, res.stderr


def test_a_podman_pod_is_one_zone(image, tmp_path):
    """`podman pod create`: the infra container's zone is the pod's. A member serves httpd
    from a host directory (`-v`, live through the pod's share: the host's later write is
    served, the member's write is on the host), and another (`run --rm`) fetches it over
    127.0.0.1, which only works in one kernel; `xl list` has one edera zone, the infra's;
    `exec` into the member; `pod rm -f` leaves nothing (podman removes the members, then the
    infra)."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello from a zone's httpd\n")
    res = podman("pod", "create", "--name", "ep")
    assert res.returncode == 0, res.stderr
    removed = False
    try:
        infra = podman("pod", "inspect", "-f", "{{.InfraContainerID}}", "ep").stdout.strip()
        assert infra, "the pod has no infra container"
        web = podman("run", "-d", "--pod", "ep", "--name", "ep-web", "-v", f"{www}:/www",
                     image, "httpd", "-f", "-p", "8080", "-h", "/www")
        assert web.returncode == 0, web.stderr
        zones = domains()
        assert len(zones) == 1 and zones[0].endswith("-" + infra), zones  # infra + web: one
        # exec into the member; it waits for httpd to listen, over the pod's localhost
        ready = podman("exec", "ep-web", "sh", "-c",
                       "for i in $(seq 50); do wget -q -O - http://127.0.0.1:8080/ && exit 0; "
                       "sleep 0.2; done; exit 1")
        assert (ready.returncode, ready.stdout) == (0, "hello from a zone's httpd\n"), \
            ready.stderr
        got = podman("run", "--rm", "--pod", "ep", image, "wget", "-q", "-O", "-",
                     "http://127.0.0.1:8080/")
        assert (got.returncode, got.stdout) == (0, "hello from a zone's httpd\n"), got.stderr
        (www / "index.html").write_text("changed on the host\n")
        live = podman("exec", "ep-web", "sh", "-c", "wget -q -O - http://127.0.0.1:8080/ && "
                      "echo from-the-member > /www/member.txt")
        assert (live.returncode, live.stdout) == (0, "changed on the host\n"), live.stderr
        assert (www / "member.txt").read_text() == "from-the-member\n"
        assert domains() == zones
        rm = podman("pod", "rm", "-f", "-t", "0", "ep")
        removed = True
        assert rm.returncode == 0, rm.stderr
        # conmon's cleanup may finish just after podman returns
        deadline = time.monotonic() + 15
        while (found := leftovers(Path(DEFAULT_ROOT))) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert found == [] and domains() == []
    finally:
        if not removed:
            podman("pod", "rm", "-f", "-t", "0", "ep")
