"""podman 4.3 (conmon) runs containers in zones through `--runtime edera`."""

from __future__ import annotations

import subprocess

import pytest

from .dom0 import leftovers
from .engines import fetch, setup_podman

pytestmark = pytest.mark.xen

DEFAULT_ROOT = "/run/edera-oci"


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return setup_podman(tmp_path_factory.mktemp("podman"))


def podman(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", "--runtime", "edera", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_run_rm_echo_hello(image):
    res = podman("run", "--rm", image, "echo", "hello")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "hello\n"


def test_exit_code_and_logs_keep_streams_apart(image):
    res = podman("run", "--name", "p-exit", image, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert res.returncode == 3, res.stderr
    logs_out = subprocess.run(["podman", "logs", "p-exit"], capture_output=True, text=True)
    assert logs_out.stdout == "out\n"
    assert logs_out.stderr == "err\n"
    assert podman("rm", "p-exit").returncode == 0


def test_zone_gets_the_network_of_the_namespace(image):
    """The zone's eth0 mirrors podman's: it has the container's address and reaches the bridge."""
    res = podman("run", "--rm", "--cap-add", "NET_RAW", image, "sh", "-c",
                 "ip -o -4 addr show eth0; ip route; ping -c 2 -W 5 10.88.0.1 && echo PING-OK")
    assert res.returncode == 0, res.stderr + res.stdout
    assert "inet 10.88." in res.stdout
    assert "default via 10.88.0.1" in res.stdout
    assert "PING-OK" in res.stdout


def test_published_port_reaches_a_server_in_the_zone(image):
    name = "p-web"
    res = podman("run", "-d", "--name", name, "-p", "8080:80", image,
                 "httpd", "-f", "-p", "80", "-h", "/www")
    assert res.returncode == 0, res.stderr
    try:
        body = fetch("http://127.0.0.1:8080/")
        assert body == "hello from a zone's httpd\n"
    finally:
        assert podman("rm", "-f", "-t", "0", name).returncode == 0


def test_nothing_left_behind(image):
    from pathlib import Path

    assert leftovers(Path(DEFAULT_ROOT)) == []


def test_exec_env_user_and_stop_with_trap(image):
    name = "p-exec"
    res = podman("run", "-d", "--name", name, image, "sh", "-c",
                 "trap 'echo trapped; exit 0' TERM; while :; do sleep 0.2; done")
    assert res.returncode == 0, res.stderr
    try:
        plain = podman("exec", name, "sh", "-c", "echo exec-ok; echo exec-err >&2; exit 4")
        assert plain.returncode == 4
        assert plain.stdout == "exec-ok\n" and plain.stderr == "exec-err\n"
        env = podman("exec", "-e", "FOO=from-exec", name, "sh", "-c", "echo $FOO")
        assert env.stdout == "from-exec\n", env.stderr
        user = podman("exec", "-u", "1000:1000", name, "id", "-u")
        assert user.stdout == "1000\n", user.stderr
        stop = podman("stop", "-t", "10", name)
        assert stop.returncode == 0, stop.stderr
        logs = subprocess.run(["podman", "logs", name], capture_output=True, text=True)
        assert "trapped" in logs.stdout
        inspect = subprocess.run(["podman", "inspect", "-f", "{{.State.ExitCode}}", name],
                                 capture_output=True, text=True)
        assert inspect.stdout.strip() == "0"
    finally:
        podman("rm", "-f", "-t", "0", name)
