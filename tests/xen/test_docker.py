"""docker 20.10 (containerd's runc shim) runs containers in zones through `--runtime edera`;
its network comes from the libnetwork-setkey prestart hook."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .dom0 import leftovers
from .engines import fetch, setup_docker

pytestmark = pytest.mark.xen

DOCKER_ROOT = Path("/run/docker/runtime-runc/moby")


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return setup_docker(tmp_path_factory.mktemp("docker"))


def docker(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def test_run_rm_echo_hello(image):
    res = docker("run", "--runtime", "edera", "--rm", image, "echo", "hello")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "hello\n"


def test_exit_code_and_logs_keep_streams_apart(image):
    res = docker("run", "--runtime", "edera", "--name", "d-exit", image, "sh", "-c",
                 "echo out; echo err >&2; exit 3")
    assert res.returncode == 3, res.stderr
    logs = docker("logs", "d-exit")
    assert logs.stdout == "out\n"
    assert logs.stderr == "err\n"
    assert docker("rm", "d-exit").returncode == 0


def test_published_port_reaches_a_server_in_the_zone(image):
    name = "d-web"
    res = docker("run", "--runtime", "edera", "-d", "--name", name, "-p", "8081:80", image,
                 "httpd", "-f", "-p", "80", "-h", "/www")
    assert res.returncode == 0, res.stderr
    try:
        body = fetch("http://127.0.0.1:8081/")
        assert body == "hello from a zone's httpd\n"
        exec_res = docker("exec", name, "sh", "-c", "echo exec-ok")
        assert exec_res.stdout == "exec-ok\n", exec_res.stderr
    finally:
        assert docker("rm", "-f", name).returncode == 0


def test_nothing_left_behind(image):
    assert leftovers(DOCKER_ROOT) == []
