"""XenZoneBackend: the lifecycle's door to Xen (edera_oci.lifecycle.backend.ZoneBackend).

create: disks from the bundle -> `xl create -p` -> XenStore keys for the zone -> the monitor
(a child of the caller) -> the create hooks -> the monitor boots the zone and reports READY.
Every failure tears down what was made, in reverse.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edera_oci.errors import BackendUnavailable, ZoneError
from edera_oci.lifecycle.backend import CreateRequest, ExecRequest
from edera_oci.logs import log
from edera_oci.phases import Phases
from edera_oci.state import ContainerState

from ..xen import domain
from ..xen.xenstore import XenStore
from . import control, disks, hotplug, network
from .control import BOOT_TIMEOUT, EXIT_STATUS_FILE
from .image import find_zone_image
from .protocol import PROTOCOL_VERSION, ProtocolError, check_exec_records, encode_records
from .records import MappingError, encode_spec, net_records, process_records

# Engines run the runtime with a minimal PATH (podman's cleanup: no /sbin); the tools a zone
# needs (xl, mke2fs, losetup, ip) live in the sbin directories.
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin")
os.environ["PATH"] = ":".join(dict.fromkeys(
    [p for p in os.environ.get("PATH", "").split(":") if p] + list(_SBIN)))

DISK_ROOT = Path(os.environ.get("EDERA_OCI_DISK_DIR", "/var/lib/edera-oci/disks"))
DEFAULT_MEMORY_MB = 256
MEMORY_OVERHEAD_MB = 64  # the zone kernel and init, on top of the container's memory limit
MIN_MEMORY_MB = 128
ZONE_CMDLINE = "console=hvc0 quiet"


def zone_size(spec) -> tuple[int, int]:
    """(memory MiB, vCPUs) from linux.resources: limit + overhead, ceil(quota/period)."""
    res = spec.linux.resources if spec.linux else None
    memory = DEFAULT_MEMORY_MB
    vcpus = 1
    if res is not None:
        mem = getattr(res, "memory", None)
        limit = getattr(mem, "limit", None) if mem else None
        if limit and limit > 0:
            memory = max(MIN_MEMORY_MB, math.ceil(limit / (1 << 20)) + MEMORY_OVERHEAD_MB)
        cpu = getattr(res, "cpu", None)
        quota = getattr(cpu, "quota", None) if cpu else None
        period = getattr(cpu, "period", None) if cpu else None
        if quota and quota > 0:
            vcpus = max(1, math.ceil(quota / (period or 100000)))
    vcpus = min(vcpus, os.cpu_count() or 1)
    return memory, vcpus


# What containerd's CRI plugin and CRI-O set on a Kubernetes pod's sandbox (pause) container.
POD_SANDBOX_ANNOTATIONS = (("io.kubernetes.cri.container-type", "sandbox"),
                           ("io.kubernetes.cri-o.ContainerType", "sandbox"))


def is_pod_sandbox(annotations: dict[str, str]) -> bool:
    """A pod's sandbox holds the namespaces that the pod's containers join. Each zone has its
    own kernel, so there is nothing to hold: the sandbox's zone takes no NIC, and the pod's
    network goes to the zone of the container that runs in it."""
    return any(annotations.get(key) == value for key, value in POD_SANDBOX_ANNOTATIONS)


def domain_name(container_id: str) -> str:
    return f"edera-{container_id}"


def _monitor_env() -> dict[str, str]:
    """The monitor imports this very package, wherever it was imported from."""
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = pkg_root + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class XenZoneBackend:
    def check_available(self) -> None:
        if not domain.is_dom0():
            raise BackendUnavailable(
                "this host is not a Xen dom0 (/proc/xen/capabilities has no control_d): "
                "zones need Xen; on a machine without Xen use the project's lab (./lab/run)")
        try:
            XenStore().close()
        except OSError as e:
            raise BackendUnavailable(f"Xen's toolstack is not running: {e}") from e

    # -- create ---------------------------------------------------------------------------------
    def create(self, req: CreateRequest,
               run_hooks: Callable[[ContainerState], None]) -> dict[str, Any]:
        spec = req.spec
        state_dir = Path(req.state_dir)
        image = find_zone_image()
        memory_mb, vcpus = zone_size(spec)
        disk_dir = DISK_ROOT / hashlib.sha256(str(state_dir).encode()).hexdigest()[:24]
        zone: dict[str, Any] = {
            "name": domain_name(req.id), "state_dir": str(state_dir),
            "disk_dir": str(disk_dir), "memory_mb": memory_mb,
            "vcpus": vcpus, "kernel_version": image.manifest.get("kernel_version"),
        }
        monitor: subprocess.Popen | None = None
        clock = Phases()
        try:
            shutil.rmtree(disk_dir, ignore_errors=True)
            disk_dir.mkdir(parents=True)
            disks.make_ext4(Path(spec.root.path), disk_dir / disks.ROOT_DISK, "zone-root")
            disk_files = [disk_dir / disks.ROOT_DISK]
            staging = disk_dir / "binds"
            staging.mkdir()
            bind_sources = disks.stage_binds(spec.mounts, staging)
            if bind_sources:
                disks.make_ext4(staging, disk_dir / disks.BINDS_DISK, "zone-binds")
                disk_files.append(disk_dir / disks.BINDS_DISK)
            shutil.rmtree(staging)
            try:
                records = encode_spec(spec.raw, bind_sources, bool(bind_sources))
            except MappingError as e:
                raise ZoneError(str(e)) from None
            clock.mark("disks")
            netns = spec.linux.namespace("network") if spec.linux else None
            monitor, report_r, go_w = self._spawn_monitor(req, state_dir, netns)
            zone["monitor_pid"] = monitor.pid
            # The hooks come before the domain: docker's prestart hook configures the network
            # namespace (found through the monitor's pid), and the zone's NIC mirrors it.
            run_hooks(ContainerState(id=req.id, bundle=req.bundle, rootfs=spec.root.path,
                                     created="", status="creating", pid=monitor.pid))
            clock.mark("monitor+hooks")
            ns_path = f"/proc/{monitor.pid}/ns/net"
            # A pod's sandbox takes no NIC: the pod's network belongs to its containers' zones.
            mirror = netns is not None and not is_pod_sandbox(spec.annotations)
            ifaces = network.read_interfaces(ns_path) if mirror else []
            vifs = [
                f"mac={iface.mac},script={hotplug.vif_script()}"
                for n, iface in enumerate(ifaces)
            ]
            zone["interfaces"] = [iface.name for iface in ifaces]
            (state_dir / "spec.bin").write_bytes(records + encode_records(net_records(ifaces)))
            cfg = domain.DomainConfig(
                name=zone["name"], kernel=image.kernel, ramdisk=image.ramdisk,
                cmdline=ZONE_CMDLINE, memory_mb=memory_mb, vcpus=vcpus, disks=disk_files,
                vifs=vifs, disk_script=hotplug.block_script(),
            )
            (state_dir / "zone.cfg").write_text(cfg.render())
            clock.mark("network")
            try:
                zone["domid"] = domain.create_paused(state_dir / "zone.cfg", zone["name"])
            except domain.DomainError as e:
                raise ZoneError(f"building the zone failed: {e}") from None
            clock.mark("domain")
            self._publish(zone["domid"], req.id)
            for n, iface in enumerate(ifaces):
                try:
                    network.attach_vif(f"vif{zone['domid']}.{n}", ns_path, iface)
                except OSError as e:
                    raise ZoneError(f"connecting the zone to {iface.name}: {e}") from None
            os.write(go_w, f"go {zone['domid']}\n".encode())
            os.close(go_w)
            answer = self._await_report(report_r, monitor)
            if answer != "ready":
                raise ZoneError(answer.removeprefix("error ").strip() or "the zone failed to boot")
            clock.mark("boot")
            log.debug("create phases (s): " + clock.summary())
            return zone
        except BaseException:
            if monitor is not None and monitor.poll() is None:
                monitor.kill()
                monitor.wait()
            self._teardown(zone)
            raise

    def _publish(self, domid: int, container_id: str) -> None:
        """The zone's own XenStore directory, writable by the zone and nobody else."""
        with XenStore() as xs:
            base = f"/local/domain/{domid}/edera"
            xs.write(f"{base}/version", str(PROTOCOL_VERSION))
            xs.write(f"{base}/container-id", container_id)
            for path in (base, f"{base}/version", f"{base}/container-id"):
                xs.set_perms(path, [f"n{domid}"])

    def _spawn_monitor(self, req: CreateRequest, state_dir: Path, netns):
        """The monitor, in the container's network namespace (joined, or a new one)."""
        report_r, report_w = os.pipe()
        go_r, go_w = os.pipe()
        listener = control.listen(state_dir)
        pass_fds = [report_w, go_r, listener.fileno()]
        tty_fd = self._terminal(req.spec.process.terminal, req.console_socket)
        if tty_fd >= 0:
            pass_fds.append(tty_fd)
        pass_fds += list(range(3, 3 + req.preserve_fds))
        argv = [
            sys.executable, "-m", "edera_oci.zone.monitor",
            "--state-dir", str(state_dir),
            "--name", domain_name(req.id), "--spec-file", str(state_dir / "spec.bin"),
            "--ready-fd", str(report_w), "--go-fd", str(go_r),
            "--control-fd", str(listener.fileno()), "--tty-fd", str(tty_fd),
        ]
        if netns is None:
            enter_netns = None
        elif netns.path:
            def enter_netns():
                network.join_netns(netns.path)
        else:
            enter_netns = network.unshare_netns
        try:
            monitor = subprocess.Popen(argv, pass_fds=pass_fds, env=_monitor_env(),
                                       close_fds=True, preexec_fn=enter_netns)
        except (OSError, subprocess.SubprocessError) as e:
            raise ZoneError(f"starting the monitor in the network namespace failed: {e}") from None
        os.close(report_w)
        os.close(go_r)
        listener.close()
        if tty_fd >= 0:
            os.close(tty_fd)
        return monitor, report_r, go_w

    def _await_report(self, report_r: int, monitor: subprocess.Popen) -> str:
        deadline = time.monotonic() + BOOT_TIMEOUT + 30
        data = b""
        try:
            while not data.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0:
                    return "error the zone did not become ready in time"
                r, _, _ = select.select([report_r], [], [], min(left, 1.0))
                if r:
                    chunk = os.read(report_r, 4096)
                    if not chunk:
                        break
                    data += chunk
        finally:
            os.close(report_r)
        return data.decode(errors="replace").strip() or \
            f"error the monitor exited ({monitor.poll()}) before the zone was ready"

    # -- teardown -------------------------------------------------------------------------------
    def _teardown(self, zone: dict, clock: Phases | None = None) -> None:
        clock = clock or Phases()
        pid = zone.get("monitor_pid")
        if pid and _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        clock.mark("monitor")
        name = zone.get("name")
        try:
            with XenStore() as xs:
                domid = zone.get("domid")
                if domid is not None and domain.is_alive(xs, domid, name):
                    domain.destroy(domid)
        except (OSError, domain.DomainError):
            if name:
                subprocess.run(["xl", "destroy", name], capture_output=True)
        clock.mark("domain")
        disk_dir = zone.get("disk_dir")
        if disk_dir:
            for img in (disks.ROOT_DISK, disks.BINDS_DISK):
                try:
                    disks.detach_loops(Path(disk_dir) / img)
                except ZoneError as e:
                    log.warning(str(e))
            shutil.rmtree(disk_dir, ignore_errors=True)
        clock.mark("disks")

    def destroy(self, state: ContainerState) -> None:
        t0 = time.monotonic()
        clock = Phases()
        self._teardown(state.zone, clock)
        log.debug(f"teardown (s): {time.monotonic() - t0:.3f}")
        log.debug("teardown phases (s): " + clock.summary())

    # -- running zones --------------------------------------------------------------------------
    def start(self, state: ContainerState) -> None:
        self._request(state, "start")

    def signal(self, state: ContainerState, signo: int, all_processes: bool) -> None:
        try:
            self._request(state, "signal", signo=signo, all=all_processes)
        except ZoneError:
            if signo != signal.SIGKILL:
                raise
            self._teardown(state.zone)

    def status(self, state: ContainerState) -> str:
        from .status import status as zone_status

        if not state.zone.get("monitor_pid") or not _pid_alive(state.zone["monitor_pid"]):
            return "stopped"
        return zone_status(state.to_dict()) or "stopped"

    def pause(self, state: ContainerState) -> None:
        try:
            domain.pause(state.zone["domid"])
        except domain.DomainError as e:
            raise ZoneError(str(e)) from None

    def resume(self, state: ContainerState) -> None:
        try:
            domain.unpause(state.zone["domid"])
        except domain.DomainError as e:
            raise ZoneError(str(e)) from None

    def pids(self, state: ContainerState) -> list[int]:
        pid = state.zone.get("monitor_pid")
        return [pid] if pid and _pid_alive(pid) else []

    def stats(self, state: ContainerState) -> dict[str, Any]:
        raw = self._request(state, "stats").get("stats")
        raw = raw if isinstance(raw, dict) else {}

        def count(key: str) -> int:  # zone-reported: a uint64, or 0
            value = raw.get(key)
            return value if type(value) is int and 0 <= value < 1 << 64 else 0

        total = count("mem_total_kb") * 1024
        available = min(count("mem_available_kb") * 1024, total)
        stats: dict[str, Any] = {
            "cpu": {"usage": {"total": count("cpu_usage_ns")}},
            "memory": {"usage": {"usage": total - available, "limit": total}},
            "pids": {"current": count("pids")},
        }
        names = state.zone.get("interfaces") or []
        if names:
            ns_path = f"/proc/{state.zone['monitor_pid']}/ns/net"
            try:
                stats["network_interfaces"] = network.interface_counters(ns_path, names)
            except OSError as e:
                raise ZoneError(f"reading the counters of {', '.join(names)}: {e}") from None
        return stats

    def update(self, state: ContainerState, resources: dict[str, Any]) -> None:
        zone = state.zone
        mem = (resources.get("memory") or {}).get("limit")
        cpu = resources.get("cpu") or {}
        try:
            if mem and mem > 0:
                want = max(MIN_MEMORY_MB, math.ceil(mem / (1 << 20)) + MEMORY_OVERHEAD_MB)
                if want > zone["memory_mb"]:
                    raise ZoneError(f"memory.limit: the zone was booted with "
                                    f"{zone['memory_mb']} MiB and cannot grow past it")
                domain.set_memory(zone["domid"], want)
            if cpu.get("quota") and cpu["quota"] > 0:
                want_cpus = max(1, math.ceil(cpu["quota"] / (cpu.get("period") or 100000)))
                if want_cpus > zone["vcpus"]:
                    raise ZoneError(f"cpu.quota: the zone was booted with {zone['vcpus']} "
                                    "vCPUs and cannot grow past them")
                domain.set_vcpus(zone["domid"], want_cpus)
        except domain.DomainError as e:
            raise ZoneError(str(e)) from None

    def exec(self, state: ContainerState, req: ExecRequest) -> int:
        """Another process in the zone, behind its own monitor (a child of the caller)."""
        zone = state.zone
        state_dir = Path(zone["state_dir"])
        try:
            records = encode_records(process_records(req.process.raw))
            check_exec_records(records)  # before the container's monitor is asked
        except (MappingError, ProtocolError) as e:
            raise ZoneError(str(e)) from None
        tty_fd = self._terminal(req.process.terminal, req.console_socket)  # may refuse: first
        exec_file = state_dir / f"exec-{os.getpid()}-{time.monotonic_ns()}.bin"
        exec_file.write_bytes(records)
        report_r, report_w = os.pipe()
        pass_fds = [report_w]
        if tty_fd >= 0:
            pass_fds.append(tty_fd)
        pass_fds += list(range(3, 3 + req.preserve_fds))
        argv = [
            sys.executable, "-m", "edera_oci.zone.monitor", "--state-dir", str(state_dir),
            "--domid", str(zone["domid"]), "--name", zone["name"],
            "--exec-file", str(exec_file), "--ready-fd", str(report_w), "--tty-fd", str(tty_fd),
        ]
        monitor = subprocess.Popen(argv, pass_fds=pass_fds, env=_monitor_env(), close_fds=True)
        os.close(report_w)
        if tty_fd >= 0:
            os.close(tty_fd)
        answer = self._await_report(report_r, monitor)
        exec_file.unlink(missing_ok=True)
        if not answer.startswith("ready"):
            if monitor.poll() is None:
                monitor.kill()
            monitor.wait()
            raise ZoneError(answer.removeprefix("error ").strip() or "exec failed")
        if req.detach:
            return monitor.pid
        return monitor.wait()

    def _terminal(self, terminal: bool, console_socket: str | None) -> int:
        """With a terminal: a pty whose master goes to the console socket; the slave is kept."""
        if not terminal:
            return -1
        master, slave = os.openpty()
        try:
            if console_socket:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.connect(console_socket)
                    socket.send_fds(sock, [b"/dev/pts/edera"], [master])
                except OSError as e:
                    os.close(slave)
                    raise ZoneError(f"--console-socket {console_socket}: {e}") from None
                finally:
                    sock.close()
            elif os.isatty(0):
                os.close(slave)
                return os.dup(0)
            else:
                os.close(slave)
                raise ZoneError("process.terminal is true but there is no --console-socket and "
                                "stdin is not a terminal: no terminal to give the process")
        finally:
            os.close(master)
        return slave

    def _request(self, state: ContainerState, op: str, **args) -> dict:
        try:
            return control.request(Path(state.zone["state_dir"]), op, **args)
        except control.ControlError as e:
            raise ZoneError(str(e)) from None

    @staticmethod
    def exit_status(state: ContainerState) -> int | None:
        try:
            return int((Path(state.zone["state_dir"]) / EXIT_STATUS_FILE).read_text())
        except (OSError, KeyError, ValueError):
            return None
