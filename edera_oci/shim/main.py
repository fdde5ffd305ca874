"""The shim binary's commands, as containerd's runtime v2 calls them.

containerd runs ``<shim> -namespace NS -address A -publish-binary B -id ID start`` in a task's
bundle, with the runtime's options on standard input, reads the task service's address from
its standard output, and later runs ``<shim> ... delete`` to clean up after a shim that died.
Here ``start`` starts containerd's runc shim (``containerd-shim-runc-v2``, same arguments,
runc's options naming edera-oci on its standard input), then the proxy in front of it, and
answers the proxy's address; every other command is the runc shim's own.

containerd finds this binary by the runtime type ``io.containerd.edera.v2``; edera-oci is the
one beside it, or the first on PATH.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from edera_oci.shim import proxy, ttrpc
from edera_oci.shim.wire import encode

UPSTREAM_SHIM = "containerd-shim-runc-v2"
PROXY_SUFFIX = ".edera"
PROXY_START_TIMEOUT = 30.0
LOG_ENV = "EDERA_OCI_SHIM_LOG"  # a file for the proxy's own errors (default: none)


class ShimError(Exception):
    pass


def flag(argv: list[str], name: str) -> str:
    """A Go-style flag's value (``-name v``, ``--name v``, ``-name=v``), or ""."""
    for i, arg in enumerate(argv):
        bare = arg.lstrip("-")
        if arg.startswith("-") and bare == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("-") and bare.startswith(name + "="):
            return bare.split("=", 1)[1]
    return ""


def upstream_shim() -> str:
    found = shutil.which(UPSTREAM_SHIM)
    if not found:
        raise ShimError(f"{UPSTREAM_SHIM} is not on PATH: this shim runs containerd's runc "
                        "shim (Debian's containerd package has it)")
    return found


def swap_address(answer: str, ours: str) -> tuple[str, str]:
    """(the runc shim's socket path, the answer with ours in its place). containerd 1.x reads a
    bare ``unix://`` address; 2.x may read a JSON bootstrap with an "address" field."""
    if answer.startswith("{"):
        bootstrap = json.loads(answer)
        upstream = bootstrap["address"]
        bootstrap["address"] = "unix://" + ours
        return upstream.removeprefix("unix://"), json.dumps(bootstrap)
    if not answer.startswith("unix://"):
        raise ShimError(f"{UPSTREAM_SHIM} answered {answer!r}, not a unix:// address")
    return answer.removeprefix("unix://"), "unix://" + ours


def write_address(bundle: Path, address: str) -> None:
    """The bundle's ``address`` file (containerd reconnects through it after a restart), as the
    runc shim writes it: atomically."""
    tmp = bundle / ".address.edera"
    tmp.write_text(address)
    os.replace(tmp, bundle / "address")


def start_proxy(upstream: str, listen: str, namespace: str, task_dir: Path, binary: str) -> None:
    """The proxy daemon for one runc shim, started unless one answers already; returns once it
    answers."""
    if proxy.answers(listen):
        return
    log = os.environ.get(LOG_ENV)
    with open(log or os.devnull, "ab") as err:
        # its own session, no standard streams of ours: containerd reads start's output to EOF
        daemon = subprocess.Popen(
            [sys.executable, "-m", "edera_oci.shim.main", "proxy", upstream, listen, namespace,
             str(task_dir), binary],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True, close_fds=True)
    deadline = time.monotonic() + PROXY_START_TIMEOUT
    while not proxy.answers(listen):
        if daemon.poll() is not None and not proxy.answers(listen):
            raise ShimError(f"the shim's proxy for {upstream} exited with status "
                            f"{daemon.returncode} before it listened"
                            + (f" (see {log})" if log else f" (set {LOG_ENV} for its log)"))
        if time.monotonic() > deadline:
            daemon.kill()
            raise ShimError(f"the shim's proxy for {upstream} did not listen within "
                            f"{PROXY_START_TIMEOUT:.0f} s")
        time.sleep(0.05)


def edera_oci() -> str:
    """The runtime this shim runs: the edera-oci beside it (how it is installed), or PATH's."""
    beside = Path(sys.argv[0]).resolve().parent / "edera-oci"
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("edera-oci")
    if not found:
        raise ShimError("edera-oci is neither beside this shim nor on PATH")
    return found


def shutdown(upstream: str, task_id: str) -> None:
    """The task service's Shutdown {id 1, now 2} sent to the runc shim, its answer not awaited
    past a few seconds: the runc shim exits if it serves no task."""
    frame = ttrpc.request(1, proxy.TASK_SERVICE, "Shutdown", encode({1: task_id}))
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(upstream)
        sock.sendall(frame.to_bytes())
        sock.recv(64)


def start(argv: list[str]) -> int:
    runc_shim, binary = upstream_shim(), edera_oci()
    options, _, _ = proxy.runc_options(sys.stdin.buffer.read(), binary)
    got = subprocess.run([runc_shim, *argv], input=options, stdout=subprocess.PIPE)
    if got.returncode != 0:
        sys.stdout.buffer.write(got.stdout)
        return got.returncode
    answer = got.stdout.decode().strip()
    upstream, _ = swap_address(answer, "")
    listen = upstream + PROXY_SUFFIX
    _, ours = swap_address(answer, listen)
    try:
        start_proxy(upstream, listen, flag(argv, "namespace") or "default", Path.cwd().parent,
                    binary)
    except (ShimError, OSError):
        # containerd knows nothing of the runc shim we started: ask it to go (a shim that
        # serves other tasks of the pod ignores a Shutdown that is not `now`)
        shutdown(upstream, flag(argv, "id"))
        raise
    if (Path.cwd() / "address").exists():
        write_address(Path.cwd(), "unix://" + listen)
    sys.stdout.write(ours)
    sys.stdout.flush()
    return 0


def serve_proxy(upstream: str, listen: str, namespace: str, task_dir: str, binary: str) -> int:
    sock = proxy.bind(listen)
    if sock is None:
        return 0  # another start's proxy won the race, and answers
    asyncio.run(proxy.Proxy(upstream, namespace, Path(task_dir), binary).serve(sock))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["proxy"] and len(argv) == 6:
            return serve_proxy(*argv[1:])
        if argv and argv[-1] == "start":
            return start(argv)
        runc_shim = upstream_shim()
        os.execv(runc_shim, [runc_shim, *argv])  # delete, -v, and whatever else: the runc shim's
    except (ShimError, OSError, ValueError, KeyError) as e:
        print(f"containerd-shim-edera-v2: {e}", file=sys.stderr)
        return 1
    return 0


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
