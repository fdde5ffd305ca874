"""The shim's daemon: containerd's task service, passed through to containerd's runc shim,
except ``Stats``, which it answers by asking the OCI runtime (``<runtime> events --stats``), and
``Create``, whose options it makes runc's with edera-oci as the binary.

Why: the runc shim reads a task's statistics from the host cgroup of its pid. A container's pid
here is its monitor in dom0; its processes, their CPU time and their memory are in a zone, in
no dom0 cgroup. So the CRI's ContainerStats (what the kubelet and ``crictl stats`` read) would
report the monitor. edera-oci's ``events --stats`` reports the container's own cgroup in the
zone, and runc's reports its cgroup on the host: asking the runtime is right for both.

Why the options: containerd runs this shim for its own runtime type (``io.containerd.edera.v2``);
containerd 1.6's CRI plugin ignores ``runtime_path``, so a handler of runc's type cannot name
another shim. For a type not runc's, the CRI sends its generic options (``runtimeoptions.v1``),
which the runc shim cannot read; so ``start`` and ``Create`` hand it runc's own options, naming
edera-oci as the binary.

Everything else (start, exec, IO, exits, events to containerd) stays with the runc shim, which
the proxy never sees inside: frames are copied whole, one connection upstream for each
connection containerd makes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from edera_oci.shim import metrics, ttrpc
from edera_oci.shim.wire import decode, encode, text

TASK_SERVICE = "containerd.task.v2.Task"
RUNC_OPTIONS = "containerd.runc.v1.Options"
RUNC_ROOT = "/run/containerd/runc"  # the runc shim's default --root, before the namespace
STATS_TIMEOUT = 60.0
UPSTREAM_CHECK = 5.0  # seconds between checks that the runc shim is still there


@dataclass(frozen=True)
class TaskRuntime:
    """The OCI runtime a task was created with, as the runc shim runs it."""

    binary: str
    root: str

    @classmethod
    def named(cls, binary: str, root: str, namespace: str) -> TaskRuntime:
        """As the runc shim runs it: runc where none is named, its root under the namespace."""
        return cls(binary or "runc", os.path.join(root or RUNC_ROOT, namespace))

    def stats_command(self, task_id: str) -> list[str]:
        return [self.binary, "--root", self.root, "events", "--stats", task_id]


def runc_options(any_options: bytes, binary: str) -> tuple[bytes, str, str]:
    """(the Any of runc's options to hand the runc shim, its binary, its root) for the Any
    containerd sent (b"" for none): runc's own options are kept, with ``binary`` where they
    name none; any other type (the CRI's generic options) becomes runc's naming ``binary``."""
    fields = decode(any_options)
    if text(fields, 1).endswith(RUNC_OPTIONS):
        value = fields.get(2, [b""])[-1]
        runc = decode(value) if isinstance(value, bytes) else {}
        if text(runc, 6):
            return any_options, text(runc, 6), text(runc, 7)
        runc[6] = [binary.encode()]
        return encode({1: RUNC_OPTIONS, 2: encode(runc)}), binary, text(runc, 7)
    return encode({1: RUNC_OPTIONS, 2: encode({6: binary})}), binary, ""


def rewrite_create(payload: bytes, binary: str, namespace: str) -> tuple[bytes, str,
                                                                         TaskRuntime]:
    """(the CreateTaskRequest {id 1, bundle 2, options 10} with runc's options, its task id,
    the runtime it names)."""
    fields = decode(payload)
    value = fields.get(10, [b""])[-1]
    options, task_binary, root = runc_options(value if isinstance(value, bytes) else b"",
                                              binary)
    fields[10] = [options]
    return encode(fields), text(fields, 1), TaskRuntime.named(task_binary, root, namespace)


def runtime_of_bundle(bundle: Path, namespace: str) -> TaskRuntime:
    """The runtime from the options.json the runc shim keeps in a task's bundle, for a task
    created before this proxy started (containerd restarted, or the proxy did)."""
    try:
        options = json.loads((bundle / "options.json").read_text())
    except (OSError, ValueError):
        options = {}
    options = options if isinstance(options, dict) else {}
    binary, root = options.get("binary_name"), options.get("root")
    return TaskRuntime.named(binary if isinstance(binary, str) else "",
                             root if isinstance(root, str) else "", namespace)


class Proxy:
    """One runc shim's task service, as containerd reaches it through this proxy's socket."""

    def __init__(self, upstream: str, namespace: str, task_dir: Path, binary: str) -> None:
        self.upstream = upstream  # the runc shim's socket path
        self.namespace = namespace
        self.binary = binary  # edera-oci, for tasks whose options name no runtime
        self.task_dir = task_dir  # containerd's bundles of this namespace, one per task id
        self.runtimes: dict[str, TaskRuntime] = {}
        self.done = asyncio.Event()

    def runtime(self, task_id: str) -> TaskRuntime:
        return self.runtimes.get(task_id) or runtime_of_bundle(self.task_dir / task_id,
                                                               self.namespace)

    async def stats(self, task_id: str) -> bytes:
        """The StatsResponse for a task, from its runtime's ``events --stats``."""
        command = self.runtime(task_id).stats_command(task_id)
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), STATS_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise StatsError(ttrpc.UNAVAILABLE, f"{' '.join(command)}: no answer in "
                             f"{STATS_TIMEOUT:.0f} s") from None
        if proc.returncode != 0:
            message = err.decode(errors="replace").strip() or f"exit status {proc.returncode}"
            code = ttrpc.NOT_FOUND if ("does not exist" in message or "not found" in message
                                       or "is stopped" in message) else ttrpc.UNKNOWN
            raise StatsError(code, f"{' '.join(command)}: {message}")
        try:
            event = json.loads(out)
            data = event["data"]
            if not isinstance(data, dict):
                raise TypeError(type(data).__name__)
        except (ValueError, KeyError, TypeError) as e:
            raise StatsError(ttrpc.UNKNOWN, f"{' '.join(command)} printed no stats event "
                             f"({e})") from None
        return metrics.stats_response(data)

    async def _answer_stats(self, stream_id: int, payload: bytes,
                            writer: asyncio.StreamWriter) -> None:
        task_id = text(decode(payload), 1)
        try:
            frame = ttrpc.response(stream_id, await self.stats(task_id))
        except StatsError as e:
            frame = ttrpc.response(stream_id, code=e.code, message=str(e))
        if not writer.is_closing():
            writer.write(frame.to_bytes())

    async def _copy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The runc shim's frames to containerd, as they come; its hang-up, as containerd's."""
        try:
            while (frame := await ttrpc.read_frame(reader)) is not None:
                writer.write(frame.to_bytes())
                await writer.drain()
        except (ttrpc.FrameError, ConnectionError):
            pass
        finally:
            writer.close()

    async def connection(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        """One connection of containerd's: its requests go to the runc shim, but Stats."""
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
        except OSError:
            writer.close()
            self.check_upstream()
            return
        answers = asyncio.ensure_future(self._copy(up_reader, writer))
        pending: set[asyncio.Future] = set()
        try:
            while (frame := await ttrpc.read_frame(reader)) is not None:
                if frame.kind == ttrpc.REQUEST:
                    call = ttrpc.Call.parse(frame.data)
                    if call.service == TASK_SERVICE and call.method == "Stats":
                        job = asyncio.ensure_future(
                            self._answer_stats(frame.stream_id, call.payload, writer))
                        pending.add(job)
                        job.add_done_callback(pending.discard)
                        continue
                    if call.service == TASK_SERVICE and call.method == "Create":
                        payload, task_id, runtime = rewrite_create(call.payload, self.binary,
                                                                   self.namespace)
                        self.runtimes[task_id] = runtime
                        frame = ttrpc.with_payload(frame, payload)
                up_writer.write(frame.to_bytes())
                await up_writer.drain()
        except (ttrpc.FrameError, ValueError, ConnectionError):
            pass
        finally:
            for job in pending:
                job.cancel()
            answers.cancel()
            up_writer.close()
            writer.close()
            self.check_upstream()

    def check_upstream(self) -> None:
        """End the proxy once the runc shim's socket answers no more (it has shut down).

        The runc shim removes the socket the bundle's ``address`` file names as it shuts down,
        and that is this proxy's; so its own socket, left behind, is removed here."""
        if not answers(self.upstream):
            self.done.set()
            with contextlib.suppress(OSError):
                os.unlink(self.upstream)

    async def serve(self, listen: socket.socket) -> None:
        """Serve on a bound socket (see ``bind``) until the runc shim is gone."""
        path = listen.getsockname()
        server = await asyncio.start_unix_server(self.connection, sock=listen)
        try:
            while not self.done.is_set():
                try:
                    await asyncio.wait_for(self.done.wait(), UPSTREAM_CHECK)
                except TimeoutError:
                    self.check_upstream()
        finally:
            server.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def answers(path: str) -> bool:
    """Whether something listens on the unix socket at path."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def bind(path: str) -> socket.socket | None:
    """A listening socket at path; None when a live proxy already listens there (two starts
    of one pod's shim raced). A socket file nobody listens on is a dead proxy's: replaced."""
    for _ in range(2):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            sock.listen(64)
            return sock
        except FileExistsError:
            sock.close()
        except OSError as e:
            sock.close()
            if e.errno != errno.EADDRINUSE:
                raise
        if answers(path):
            return None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    raise OSError(errno.EADDRINUSE, f"{path}: in use, and not by a proxy that answers")


class StatsError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
