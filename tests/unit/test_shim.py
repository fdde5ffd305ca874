"""containerd-shim-edera-v2: runc's shim behind a proxy that answers Stats from the runtime."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from edera_oci.shim import metrics, proxy, ttrpc
from edera_oci.shim.main import ShimError, flag, swap_address
from edera_oci.shim.wire import decode, encode, nested, number, text
from tests.unit.conftest import REPO

STATS = {
    "cpu": {"usage": {"total": 7_500_000_000, "user": 5_000_000_000, "kernel": 2_500_000_000},
            "throttling": {"periods": 12, "throttledPeriods": 3, "throttledTime": 9_000_000}},
    "memory": {"usage": {"usage": 60 << 20, "limit": 256 << 20}, "swap": {"usage": 0},
               "raw": {"anon": 50 << 20, "inactive_file": 4 << 20, "shmem": 48 << 20,
                       "pgfault": 1234, "some_new_key": 9}},
    "pids": {"current": 3, "limit": 64},
}


@pytest.fixture
def short_dir():
    """A directory with a short path: a unix socket's path is at most 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="shim-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_runc_stats_become_cgroup_v2_metrics_with_their_field_numbers():
    fields = decode(metrics.stats_response(STATS))
    stats = nested(fields, 1)
    assert text(stats, 1) == "io.containerd.cgroups.v2.Metrics"
    m = decode(stats[2][0])
    pids, cpu, memory = nested(m, 1), nested(m, 2), nested(m, 4)
    assert (number(pids, 1), number(pids, 2)) == (3, 64)
    # usage_usec, user_usec, system_usec, nr_periods, nr_throttled, throttled_usec
    assert [number(cpu, i) for i in range(1, 7)] == [7_500_000, 5_000_000, 2_500_000, 12, 3,
                                                     9_000]
    assert number(memory, 32) == 60 << 20 and number(memory, 33) == 256 << 20
    assert number(memory, 1) == 50 << 20  # anon
    assert number(memory, 13) == 4 << 20  # inactive_file: the CRI's working set leaves it out
    assert number(memory, 6) == 48 << 20  # shmem
    assert number(memory, 18) == 1234  # pgfault
    assert 34 not in memory  # a zero swap is left off, as proto3 does


def test_metrics_leave_out_what_is_missing_or_not_a_counter():
    m = metrics.metrics({"cpu": {"usage": {"total": -5}}, "memory": {"usage": {"usage": "x"}},
                         "pids": {"current": True}})
    assert m == {}
    assert metrics.metrics({}) == {}


def test_the_wire_codec_round_trips_and_refuses_truncated_input():
    message = {1: "id", 2: [1, 2], 3: {1: b"\x00\xff"}, 4: -1}
    fields = decode(encode(message))
    assert text(fields, 1) == "id" and fields[2] == [1, 2] and number(fields, 4) == -1
    assert nested(fields, 3)[1] == [b"\x00\xff"]
    with pytest.raises(ValueError, match="truncated"):
        decode(b"\x08\x80")
    with pytest.raises(ValueError, match="past the message"):
        decode(b"\x0a\x05ab")


RUNC_TYPE = "containerd.runc.v1.Options"
CRI_GENERIC = "runtimeoptions.v1.Options"  # what the CRI sends for a runtime type not runc's


def create_request(task_id: str, binary: str = "", root: str = "",
                   generic: bool = False) -> bytes:
    runc: dict = {}
    if binary:
        runc[6] = binary
    if root:
        runc[7] = root
    options = {10: {1: RUNC_TYPE, 2: encode(runc)}} if runc else {}
    if generic:
        options = {10: {1: CRI_GENERIC, 2: encode({2: "/etc/edera.toml"})}}
    return encode({1: task_id, 2: f"/run/containerd/x/{task_id}", 3: [{1: "overlay"}],
                   4: True, 6: "/fifo/out", **options})


def options_of(create: bytes) -> tuple[str, str, str]:
    """(type URL, binary_name, root) of a CreateTaskRequest's options."""
    options = nested(decode(create), 10)
    runc = nested(options, 2)
    return text(options, 1), text(runc, 6), text(runc, 7)


def test_a_create_gets_runcs_options_naming_edera_oci_unless_it_names_a_runtime():
    edera = "/usr/local/bin/edera-oci"
    # the CRI's generic options (a runtime type not runc's), or none: runc's, naming edera-oci
    for request in (create_request("c1", generic=True), create_request("c1")):
        payload, task_id, rt = proxy.rewrite_create(request, edera, "k8s.io")
        assert task_id == "c1"
        assert options_of(payload) == (RUNC_TYPE, edera, "")
        assert rt.stats_command("c1") == [edera, "--root", "/run/containerd/runc/k8s.io",
                                          "events", "--stats", "c1"]
        fields, before = decode(payload), decode(request)
        assert {k: v for k, v in fields.items() if k != 10} == {
            k: v for k, v in before.items() if k != 10}  # the rest as containerd sent it
    # runc's options naming a runtime and a root: kept as they are
    request = create_request("c2", "/opt/other", "/run/r")
    payload, _, rt = proxy.rewrite_create(request, edera, "default")
    assert payload == request
    assert (rt.binary, rt.root) == ("/opt/other", "/run/r/default")
    # runc's options with a root but no binary: edera-oci, the root kept
    payload, _, rt = proxy.rewrite_create(create_request("c3", root="/run/r"), edera, "moby")
    assert options_of(payload) == (RUNC_TYPE, edera, "/run/r")
    assert (rt.binary, rt.root) == (edera, "/run/r/moby")


def test_a_task_created_before_the_proxy_started_has_its_runtime_from_options_json(tmp_path):
    (tmp_path / "c1").mkdir()
    (tmp_path / "c1/options.json").write_text(json.dumps({"binary_name": "/bin/edera-oci",
                                                          "root": "/r"}))
    rt = proxy.runtime_of_bundle(tmp_path / "c1", "ns")
    assert (rt.binary, rt.root) == ("/bin/edera-oci", "/r/ns")
    rt = proxy.runtime_of_bundle(tmp_path / "missing", "ns")
    assert (rt.binary, rt.root) == ("runc", "/run/containerd/runc/ns")
    (tmp_path / "c1/options.json").write_text("[1]")
    assert proxy.runtime_of_bundle(tmp_path / "c1", "ns").binary == "runc"


def fake_runtime(directory: Path, stats: dict | None, fail: str = "") -> Path:
    """A runtime whose ``events --stats`` prints a stats event (or fails), recording argv."""
    script = directory / "fake-runtime"
    event = json.dumps({"type": "stats", "id": "x", "data": stats})
    body = (f"echo '{fail}' >&2; exit 1" if fail else f"echo '{event}'")
    script.write_text(f'#!/bin/sh\necho "$@" >> {directory}/argv\n{body}\n')
    script.chmod(0o755)
    return script


async def fake_runc_shim(path: str, seen: list) -> asyncio.AbstractServer:
    """A task service that answers every request with its method's name, and keeps the calls."""

    async def serve(reader, writer):
        while (frame := await ttrpc.read_frame(reader)) is not None:
            call = ttrpc.Call.parse(frame.data)
            seen.append(call)
            writer.write(ttrpc.response(frame.stream_id, call.method.encode()).to_bytes())

    return await asyncio.start_unix_server(serve, path)


async def ask(reader, writer, stream_id: int, method: str, payload: bytes):
    writer.write(ttrpc.request(stream_id, proxy.TASK_SERVICE, method, payload).to_bytes())
    frame = await ttrpc.read_frame(reader)
    assert frame is not None and frame.stream_id == stream_id and frame.kind == ttrpc.RESPONSE
    return ttrpc.parse_response(frame.data)


def test_the_proxy_passes_the_task_service_through_and_answers_stats_from_the_runtime(
        short_dir):
    runtime = fake_runtime(short_dir, STATS)
    upstream, listen = str(short_dir / "up"), str(short_dir / "up.edera")
    seen: list[ttrpc.Call] = []

    async def scenario():
        shim = await fake_runc_shim(upstream, seen)
        p = proxy.Proxy(upstream, "k8s.io", short_dir, str(runtime))
        served = asyncio.ensure_future(p.serve(proxy.bind(listen)))
        reader, writer = await asyncio.open_unix_connection(listen)
        assert await ask(reader, writer, 1, "Create",
                         create_request("c1", generic=True)) == (0, "", b"Create")
        assert await ask(reader, writer, 3, "State", encode({1: "c1"})) == (0, "", b"State")
        code, message, payload = await ask(reader, writer, 5, "Stats", encode({1: "c1"}))
        writer.close()
        shim.close()
        await shim.wait_closed()
        os.unlink(upstream)
        p.check_upstream()
        await asyncio.wait_for(served, 10)
        return code, message, payload

    code, message, payload = asyncio.run(scenario())
    assert (code, message) == (0, "")
    assert payload == metrics.stats_response(STATS)
    assert [call.method for call in seen] == ["Create", "State"]  # Stats stayed here
    assert options_of(seen[0].payload) == (RUNC_TYPE, str(runtime), "")
    assert (short_dir / "argv").read_text().split() == [
        "--root", "/run/containerd/runc/k8s.io", "events", "--stats", "c1"]
    assert not os.path.exists(listen)  # the proxy ended with its runc shim, socket and all


def test_stats_of_a_task_the_runtime_does_not_know_is_a_not_found_error(short_dir):
    runtime = fake_runtime(short_dir, None, fail='container "c9" does not exist')
    upstream = str(short_dir / "up")

    async def scenario():
        shim = await fake_runc_shim(upstream, [])
        p = proxy.Proxy(upstream, "ns", short_dir, "edera-oci")
        p.runtimes["c9"] = proxy.TaskRuntime(str(runtime), "/r/ns")
        served = asyncio.ensure_future(p.serve(proxy.bind(str(short_dir / "l"))))
        reader, writer = await asyncio.open_unix_connection(str(short_dir / "l"))
        answer = await ask(reader, writer, 1, "Stats", encode({1: "c9"}))
        writer.close()
        shim.close()
        p.done.set()
        await served
        return answer

    code, message, _ = asyncio.run(scenario())
    assert code == ttrpc.NOT_FOUND
    assert 'container "c9" does not exist' in message


def test_a_proxy_that_answers_keeps_its_socket_and_a_dead_ones_is_replaced(short_dir):
    path = str(short_dir / "s")
    live = proxy.bind(path)
    assert live is not None
    assert proxy.bind(path) is None  # a second start's proxy leaves the live one be
    live.close()  # the socket file stays, nobody listens
    again = proxy.bind(path)
    assert again is not None
    again.close()


def test_go_style_flags_and_both_address_answers():
    argv = ["-namespace", "k8s.io", "--address=/run/c.sock", "-id", "abc", "-debug", "start"]
    assert (flag(argv, "namespace"), flag(argv, "address"), flag(argv, "id")) == (
        "k8s.io", "/run/c.sock", "abc")
    assert flag(argv, "bundle") == ""
    assert swap_address("unix:///run/s/1", "/run/s/1.edera") == ("/run/s/1",
                                                                 "unix:///run/s/1.edera")
    upstream, answer = swap_address('{"version": 2, "address": "unix:///s/2", "protocol": '
                                    '"ttrpc"}', "/s/2.edera")
    assert upstream == "/s/2"
    assert json.loads(answer) == {"version": 2, "address": "unix:///s/2.edera",
                                  "protocol": "ttrpc"}
    with pytest.raises(ShimError, match="not a unix"):
        swap_address("tcp://1.2.3.4:5", "x")


FAKE_RUNC_SHIM = """#!{python}
import os, socket, sys
argv = sys.argv[1:]
open({log!r}, "a").write(" ".join(argv) + "\\n")
if argv[-1] == "start":
    open({log!r} + ".stdin", "wb").write(sys.stdin.buffer.read())
    path = {sock!r}
    if os.fork() == 0:  # the daemon: listen until told to stop, none of start's streams held
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.listen(8)
        while True:
            c, _ = s.accept()
            data = c.recv(65536)
            if data == b"STOP":
                os.unlink(path)
                os._exit(0)
            open({log!r} + ".recv", "ab").write(data)
            c.close()
    import time
    while not os.path.exists(path):
        time.sleep(0.01)
    open("address", "w").write("unix://" + path)
    print("unix://" + path)
else:
    sys.stdout.write("deleted")
"""


def fake_binaries(directory: Path, upstream: str) -> tuple[Path, dict[str, str]]:
    """A bin directory with the fake runc shim (its socket at upstream, its log beside) and an
    edera-oci, and the environment that finds them first."""
    bindir = directory / "bin"
    bindir.mkdir()
    fake = bindir / "containerd-shim-runc-v2"
    fake.write_text(FAKE_RUNC_SHIM.format(python=sys.executable, log=str(directory / "log"),
                                          sock=upstream))
    (bindir / "edera-oci").write_text("#!/bin/sh\n")
    for program in (fake, bindir / "edera-oci"):
        program.chmod(0o755)
    return bindir, {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}",
                    "PYTHONPATH": str(REPO)}


def test_start_runs_the_runc_shim_then_the_proxy_and_answers_the_proxys_address(short_dir):
    bundle = short_dir / "tasks" / "c1"
    bundle.mkdir(parents=True)
    upstream = str(short_dir / "runc.sock")
    bindir, env = fake_binaries(short_dir, upstream)
    shim = [sys.executable, "-m", "edera_oci.shim.main"]
    got = subprocess.run([*shim, "-namespace", "k8s.io", "-id", "c1", "start"], cwd=bundle,
                         env=env, input=encode({1: CRI_GENERIC, 2: b""}), capture_output=True,
                         timeout=60)
    assert got.returncode == 0, got.stderr
    assert got.stdout.decode() == f"unix://{upstream}.edera"
    assert (bundle / "address").read_text() == f"unix://{upstream}.edera"
    assert proxy.answers(upstream + ".edera")
    assert (short_dir / "log").read_text() == "-namespace k8s.io -id c1 start\n"
    # the runc shim's start read runc's options naming edera-oci, not the CRI's generic ones
    options = decode((short_dir / "log.stdin").read_bytes())
    assert text(options, 1) == RUNC_TYPE
    assert text(nested(options, 2), 6) == str(bindir / "edera-oci")
    # delete is the runc shim's own, its output containerd's
    got = subprocess.run([*shim, "-id", "c1", "-bundle", str(bundle), "delete"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert (got.returncode, got.stdout) == (0, "deleted")
    # the runc shim shuts down: the proxy follows it
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(upstream)
        s.send(b"STOP")
    deadline = time.monotonic() + 30
    while os.path.exists(upstream + ".edera") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(upstream + ".edera")


def test_start_without_the_runc_shim_says_so(short_dir):
    env = {**os.environ, "PATH": str(short_dir), "PYTHONPATH": str(REPO)}
    got = subprocess.run([sys.executable, "-m", "edera_oci.shim.main", "-id", "x", "start"],
                         cwd=short_dir, env=env, capture_output=True, text=True, timeout=60)
    assert got.returncode == 1
    assert "containerd-shim-runc-v2 is not on PATH" in got.stderr
    assert got.stdout == ""


def test_a_proxy_that_cannot_start_leaves_no_runc_shim_behind(short_dir):
    """The proxy's socket path over the kernel's 107 bytes: start fails, names why, and asks
    the runc shim it started to shut down (it serves no task yet)."""
    bundle = short_dir / "b"
    bundle.mkdir()
    upstream = str(short_dir / "u") + "x" * (103 - len(str(short_dir / "u")))
    _, env = fake_binaries(short_dir, upstream)
    got = subprocess.run([sys.executable, "-m", "edera_oci.shim.main", "-id", "c7", "start"],
                         cwd=bundle, env=env, input=b"", capture_output=True, timeout=60)
    try:
        assert got.returncode == 1 and got.stdout == b""
        assert b"proxy" in got.stderr and b"exited" in got.stderr, got.stderr
        frame = (short_dir / "log.recv").read_bytes()
        call = ttrpc.Call.parse(frame[ttrpc.HEADER.size:])
        assert (call.service, call.method) == (proxy.TASK_SERVICE, "Shutdown")
        assert text(decode(call.payload), 1) == "c7"
        assert (bundle / "address").read_text() == "unix://" + upstream  # not ours
    finally:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(upstream)
            s.send(b"STOP")
