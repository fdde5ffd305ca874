"""A ZoneBackend stand-in for unit tests of the lifecycle (never used outside tests).

The "monitor" is a real child process (a Python that waits for a byte on its stdin and
then exits with the code given in the ``fake.exit`` annotation), so pid files, liveness
checks, ``waitpid`` in ``run`` and "the monitor died" are exercised for real. Zones are a
dict. Every call is recorded in ``calls``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

from edera_oci.errors import BackendUnavailable, ZoneError
from edera_oci.lifecycle.backend import CreateRequest, ExecRequest
from edera_oci.state import ContainerState

MONITOR = "import sys; sys.stdin.buffer.read(1); sys.exit(int(sys.argv[1]))"


class FakeBackend:
    def __init__(self, available: bool = True):
        self.available = available
        self.zones: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple] = []
        self.fail_create: str | None = None  # "before-hooks" | "after-hooks"
        self.skip_hooks = False
        self.exec_result = 0
        self.destroyed: list[str] = []
        self.oom_kill_count = 0

    # -- helpers for tests ---------------------------------------------------------------
    def monitor(self, container_id: str) -> subprocess.Popen:
        return self.zones[container_id]["proc"]

    def exit_container(self, container_id: str) -> None:
        """The workload ends (the monitor exits with its code)."""
        proc = self.monitor(container_id)
        if proc.poll() is None:
            proc.stdin.write(b"x")
            proc.stdin.flush()
            proc.wait()

    def close(self) -> None:
        for zone in self.zones.values():
            proc = zone["proc"]
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    # -- ZoneBackend -----------------------------------------------------------------------
    def check_available(self) -> None:
        self.calls.append(("check_available",))
        if not self.available:
            raise BackendUnavailable("this host is not a Xen dom0: fake backend says so")

    def create(self, req: CreateRequest, run_hooks) -> dict[str, Any]:
        self.calls.append(("create", req.id, req.detach, req.console_socket, req.preserve_fds))
        if self.fail_create == "before-hooks":
            raise ZoneError("fake: building the zone failed")
        code = req.spec.annotations.get("fake.exit", "0")
        proc = subprocess.Popen([sys.executable, "-c", MONITOR, code], stdin=subprocess.PIPE)
        zone = {"monitor_pid": proc.pid, "domid": 7, "name": f"edera-{req.id}"}
        self.zones[req.id] = {"proc": proc, "status": "created", "req": req}
        try:
            if not self.skip_hooks:
                run_hooks(
                    ContainerState(
                        id=req.id,
                        bundle=req.bundle,
                        rootfs=req.spec.root.path,
                        created="",
                        status="creating",
                        pid=proc.pid,
                    )
                )
            if self.fail_create == "after-hooks":
                raise ZoneError("fake: the zone did not boot")
        except BaseException:
            proc.kill()
            proc.wait()
            del self.zones[req.id]
            raise
        return zone

    def _zone(self, state: ContainerState) -> dict[str, Any]:
        if state.id not in self.zones:
            raise ZoneError(f"fake: no zone for {state.id}")
        return self.zones[state.id]

    def start(self, state: ContainerState) -> None:
        self.calls.append(("start", state.id))
        self._zone(state)["status"] = "running"

    def signal(self, state: ContainerState, signo: int, all_processes: bool) -> None:
        self.calls.append(("signal", state.id, signo, all_processes))
        zone = self._zone(state)
        if signo in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            proc = zone["proc"]
            if proc.poll() is None:
                proc.send_signal(signo)
                proc.wait()

    def status(self, state: ContainerState) -> str:
        self.calls.append(("status", state.id))
        zone = self.zones.get(state.id)
        if zone is None or zone["proc"].poll() is not None:
            return "stopped"
        return zone["status"]

    def destroy(self, state: ContainerState) -> None:
        self.calls.append(("destroy", state.id))
        self.destroyed.append(state.id)
        zone = self.zones.pop(state.id, None)
        if zone and zone["proc"].poll() is None:
            zone["proc"].kill()
            zone["proc"].wait()

    def pause(self, state: ContainerState) -> None:
        self.calls.append(("pause", state.id))
        self._zone(state)["status"] = "paused"

    def resume(self, state: ContainerState) -> None:
        self.calls.append(("resume", state.id))
        self._zone(state)["status"] = "running"

    def pids(self, state: ContainerState) -> list[int]:
        return [self._zone(state)["proc"].pid]

    def stats(self, state: ContainerState) -> dict[str, Any]:
        self._zone(state)
        return {"cpu": {"usage": {"total": 123}}, "memory": {"usage": {"usage": 4096}}}

    def oom_kills(self, state: ContainerState) -> int:
        return self.oom_kill_count

    def update(self, state: ContainerState, resources: dict[str, Any],
               linux_devices: list[dict[str, Any]] | None = None) -> None:
        self.calls.append(("update", state.id, resources))
        self.update_linux_devices = linux_devices
        self._zone(state)

    def exec(self, state: ContainerState, req: ExecRequest) -> int:
        self.calls.append(("exec", state.id, req))
        self._zone(state)
        return self.exec_result
