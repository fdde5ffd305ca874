"""XenZoneBackend: the lifecycle's door to Xen (edera_oci.lifecycle.backend.ZoneBackend).

create: disks from the bundle -> `xl create -p` -> XenStore keys for the zone -> the monitor
(a child of the caller) -> the create hooks -> the monitor boots the zone and reports READY.
Every failure tears down what was made, in reverse.
"""

from __future__ import annotations

import contextlib
import fcntl
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

from edera_oci.errors import BackendUnavailable, ConfigError, EderaError, ZoneError
from edera_oci.lifecycle.backend import CreateRequest, ExecRequest, checkpoint
from edera_oci.logs import log
from edera_oci.phases import Phases
from edera_oci.state import ContainerState, StateStore
from edera_oci.statefile import process_alive, process_start_time

from ..xen import domain
from ..xen.xenstore import XenStore
from . import bind_copies, control, disks, hotplug, network, pod, shares
from .control import BOOT_TIMEOUT, EXIT_STATUS_FILE, OOM_KILLS_FILE
from .image import find_zone_image
from .protocol import PROTOCOL_VERSION, ProtocolError, Tag, check_exec_records, encode_records
from .records import (
    BINDS_MOUNTPOINT,
    MappingError,
    check_cpuset,
    device_rule_records,
    encode_spec,
    net_records,
    process_records,
    update_settings,
)

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
# One entry per physical CPU of the host (dom0's own vCPUs may be fewer: dom0_max_vcpus).
PCPU_DIR = Path("/sys/devices/system/xen_cpu")


def host_pcpus() -> int:
    """The host's physical CPUs: dom0's xen_cpu devices, else `xl info`'s nr_cpus, else (not
    a dom0 that says) dom0's own CPU count."""
    try:
        found = sum(1 for entry in PCPU_DIR.iterdir() if entry.name.startswith("xen_cpu"))
    except OSError:
        found = 0
    if found:
        return found
    try:
        return max(1, int(domain.info()["nr_cpus"]))
    except (domain.DomainError, KeyError, ValueError):
        return os.cpu_count() or 1


def zone_size(spec, pcpus: Callable[[], int] = host_pcpus) -> tuple[int, int]:
    """(memory MiB, vCPUs) from linux.resources.

    Memory: the container's limit plus MEMORY_OVERHEAD_MB for the zone's own kernel and init;
    the limit itself is enforced inside the zone (memory.max = the limit), so the workload is
    held at the limit, not at limit + headroom.

    vCPUs: ceil(quota / period), the CPUs the quota may use at once; the fraction is enforced
    by cpu.max inside the zone (``--cpus 0.5`` is half of one vCPU, not a whole one). A zone
    never gets more vCPUs than the host has physical CPUs. runc accepts a quota larger than
    the host (it simply never binds), so this does too: the vCPUs are clamped to the host's
    pCPUs and a warning says so, rather than failing the create."""
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
    if vcpus > 1:  # one vCPU every host has: no need to ask
        host = pcpus()
        if vcpus > host:
            log.warning(f"linux.resources.cpu.quota asks for {vcpus} CPUs; the host has {host} "
                        f"physical CPUs: the zone gets {host} vCPUs (the quota is kept in "
                        "the zone's cpu.max)")
            vcpus = host
    return memory, vcpus


# What containerd's CRI plugin and CRI-O set on a Kubernetes pod's sandbox (pause) container.
POD_SANDBOX_ANNOTATIONS = (("io.kubernetes.cri.container-type", "sandbox"),
                           ("io.kubernetes.cri-o.ContainerType", "sandbox"))


def is_pod_sandbox(annotations: dict[str, str]) -> bool:
    """A pod's sandbox: its create builds the pod's zone, which the pod's containers join
    (edera_oci.zone.pod)."""
    return any(annotations.get(key) == value for key, value in POD_SANDBOX_ANNOTATIONS)


def _domain_of(zone: dict) -> tuple[int, str]:
    """(domid, domain name) of the zone a container runs in: a pod container's is its pod's."""
    pod_info = zone.get("pod") or {}
    if pod_info.get("role") == "container":
        return pod_info["domid"], pod_info["zone_name"]
    return zone["domid"], zone["name"]


def _is_pod_container(zone: dict) -> bool:
    return (zone.get("pod") or {}).get("role") == "container"


BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
CONSOLE_LOG_DIR = Path("/var/log/xen/console")
SIGKILL_GRACE = 3.0  # seconds the zone gets to report a SIGKILL itself before dom0 ends it
DESTROY_SETTLE = 10.0  # seconds a domain whose `xl destroy` failed may take to go anyway


def boot_id() -> str:
    """This boot of dom0, short: disk directories carry it, so a crash's leftovers are known."""
    try:
        return BOOT_ID_FILE.read_text().strip().replace("-", "")[:12]
    except OSError:
        return "unknown-boot"


def domain_name(state_dir: str | Path, container_id: str) -> str:
    """edera-<hash of --root>-<id>: two roots on one dom0 never share a name."""
    root = os.path.dirname(os.path.abspath(str(state_dir)))
    return f"edera-{hashlib.sha256(root.encode()).hexdigest()[:8]}-{container_id}"


def disk_dir_of(state_dir: str | Path) -> Path:
    """<boot id>-<hash of the state directory>, under DISK_ROOT."""
    digest = hashlib.sha256(os.path.abspath(str(state_dir)).encode()).hexdigest()[:24]
    return DISK_ROOT / f"{boot_id()}-{digest}"


def derived_zone(state_dir: str | Path, container_id: str) -> dict[str, Any]:
    """The names of a container's zone, from its state directory (--root and id) alone."""
    return {"name": domain_name(state_dir, container_id), "state_dir": str(state_dir),
            "disk_dir": str(disk_dir_of(state_dir))}


def console_log(name: str) -> Path:
    return CONSOLE_LOG_DIR / f"guest-{name}.log"


def _check_namespace_paths(spec) -> None:
    """Before anything is made, as runc: a namespace path that is no namespace of its type
    is refused naming ``linux.namespaces[i].path``."""
    try:
        network.check_namespace_paths(spec.linux.namespaces if spec.linux else [])
    except ValueError as e:
        raise ConfigError(str(e)) from None


def make_console_log_private(name: str) -> None:
    """xenconsoled logs each guest's console under CONSOLE_LOG_DIR with its own umask (Debian's
    leaves it 0640, readable by group adm), and what the zone's kernel and init print there
    is the container's business: the log is made here first, 0600, and xenconsoled appends
    to it. Nothing when xenconsoled keeps no guest logs (no directory)."""
    try:
        fd = os.open(console_log(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW |
                     os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        return
    except OSError as e:
        log.warning(f"making the zone's console log private: {e.strerror}")
        return
    try:
        os.fchmod(fd, 0o600)  # one left by an earlier zone of that name, too
    finally:
        os.close(fd)


def sweep_previous_boots() -> list[str]:
    """Disk directories and zone console logs that a previous boot of dom0 left (a crash, a
    reset: their zones and containers are gone). Returns what was removed."""
    current = boot_id()
    removed = []
    try:
        entries = list(DISK_ROOT.iterdir())
    except OSError:
        entries = []
    for entry in entries:
        if entry.is_dir() and not entry.name.startswith(current + "-"):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(str(entry))
    try:
        with open("/proc/uptime") as f:
            booted = time.time() - float(f.read().split()[0])
        logs = list(CONSOLE_LOG_DIR.glob("guest-edera-*.log"))
    except (OSError, ValueError):
        logs = []
    for log_file in logs:
        with contextlib.suppress(OSError):
            if log_file.stat().st_mtime < booted:
                log_file.unlink()
                removed.append(str(log_file))
    return removed


def _monitor_env() -> dict[str, str]:
    """The monitor imports this very package, wherever it was imported from."""
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = pkg_root + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _monitor_alive(zone: dict) -> bool:
    """The zone's monitor still runs: its pid, with the start time recorded with it (a pid
    the kernel has since given to another process is not ours to signal)."""
    pid = zone.get("monitor_pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    return process_alive(pid, zone.get("monitor_start"))


def _with_start(state: ContainerState) -> dict[str, Any]:
    """The zone dict, with the monitor's start time (older states kept it as ``pid_start``)."""
    zone = dict(state.zone)
    if "monitor_start" not in zone and zone.get("monitor_pid") == state.pid:
        zone["monitor_start"] = state.pid_start
    return zone


def _monitors() -> list[tuple[int, int | None, str]]:
    """(pid, start time, state directory) of every container monitor in /proc, by argv."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        for i in range(len(argv) - 2):
            if argv[i:i + 2] == ["edera_oci.zone.monitor", "--state-dir"]:
                found.append((int(entry), process_start_time(int(entry)), argv[i + 2]))
                break
    return found


def monitors_of(state_dir: str) -> list[tuple[int, int | None]]:
    """(pid, start time) of the monitors serving state_dir: for a state.json that is lost
    or unreadable."""
    return [(pid, start) for pid, start, d in _monitors() if d == str(state_dir)]


OWNER_FILE = "owner"  # in a disk directory: the state directory it was made for


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
        """Build the zone. Before each side effect the names it will carry are recorded
        (``req.record_zone``), so a create killed at any point leaves state.json naming all
        of it for ``delete --force``."""
        spec = req.spec
        state_dir = Path(req.state_dir)
        # A pod container: named by the engine's annotations (Kubernetes, podman), or by
        # namespace paths into another container of this root (podman, docker).
        role = pod.pod_role(spec.annotations) or \
            pod.namespace_owner(spec.raw, state_dir.parent, req.id)
        if role is not None and role.kind == "container":
            return self._create_in_pod(req, run_hooks, role)
        _check_namespace_paths(spec)
        image = find_zone_image()
        # A pod's sandbox builds the zone of the whole pod, sized for the pod; any zone may
        # grow for the containers that join it (edera_oci.zone.pod, "Growth").
        size = pod.sandbox_size(spec.annotations, host_pcpus()) if role else \
            pod.plain_size(*zone_size(spec))
        try:  # before anything is built: a cpuset names the zone's CPUs
            check_cpuset(spec.raw.get("linux", {}).get("resources") or {}, size.vcpus)
        except MappingError as e:
            raise ConfigError(str(e)) from None
        for gone in sweep_previous_boots():
            log.debug(f"removed {gone}, left by an earlier boot of dom0")
        zone: dict[str, Any] = {
            **derived_zone(state_dir, req.id), "boot_id": boot_id(), **size.record(),
            "kernel_version": image.manifest.get("kernel_version"),
        }
        if role is not None:
            zone["pod"] = {"role": "sandbox"}
        record = req.record_zone or (lambda _zone: None)
        disk_dir = Path(zone["disk_dir"])
        monitor: subprocess.Popen | None = None
        shares_plan: shares.SharePlan | None = None
        report_r = go_w = -1  # the monitor's pipes, while create holds them
        clock = Phases()
        try:
            record(zone)
            shutil.rmtree(disk_dir, ignore_errors=True)
            disks.make_disk_dir(disk_dir)
            (disk_dir / OWNER_FILE).write_text(str(state_dir))
            checkpoint("disk-dir")
            # Binds first: a bad source is refused before anything is copied. A source
            # holding this --root or the disks would share the runtime's state with the zone.
            share_root = shares.root_over_9p(spec.annotations)
            # A pod's sandbox exports its share even without binds: its pod's later
            # containers' binds and roots come through it (_share_with_pod).
            shares_plan = shares.plan_binds(
                spec.mounts, state_dir / shares.STAGING_DIR,
                protected=[os.path.dirname(req.state_dir), DISK_ROOT],
                root=spec.root if share_root else None, pod_share=role is not None)
            disk_files = []
            if not share_root:
                disks.make_ext4(Path(spec.root.path), disk_dir / disks.ROOT_DISK, "zone-root")
                disk_files.append(disk_dir / disks.ROOT_DISK)
            root_share = shares_plan.root_share()
            try:
                records = encode_spec(spec.raw, shares_plan.bind_sources(),
                                      shares_plan.zone_share(),
                                      [(Tag.ROOT_SHARE, list(root_share))] if root_share else [])
            except MappingError as e:
                raise ZoneError(str(e)) from None
            clock.mark("disks")
            checkpoint("disks")
            netns = spec.linux.namespace("network") if spec.linux else None
            zone["netns"] = netns.path if netns is not None and netns.path else None
            monitor, report_r, go_w = self._spawn_monitor(req, state_dir, netns, zone["name"])
            zone["monitor_pid"] = monitor.pid
            zone["monitor_start"] = process_start_time(monitor.pid)
            record(zone)
            checkpoint("monitor")
            # The hooks come before the domain: docker's prestart hook configures the network
            # namespace (found through the monitor's pid), and the zone's NIC mirrors it.
            run_hooks(ContainerState(id=req.id, bundle=req.bundle, rootfs=spec.root.path,
                                     created="", status="creating", pid=monitor.pid))
            clock.mark("monitor+hooks")
            checkpoint("hooks")
            ns_path = f"/proc/{monitor.pid}/ns/net"
            # A pod's sandbox takes the pod's NIC: its zone is the whole pod's.
            ifaces = network.read_interfaces(ns_path) if netns is not None else []
            vifs = [f"mac={iface.mac},script={hotplug.vif_script()}" for iface in ifaces]
            zone["interfaces"] = [iface.name for iface in ifaces]
            (state_dir / "spec.bin").write_bytes(records + encode_records(net_records(ifaces)))
            cfg = domain.DomainConfig(
                name=zone["name"], kernel=image.kernel, ramdisk=image.ramdisk,
                cmdline=ZONE_CMDLINE, memory_mb=size.memory_mb, vcpus=size.vcpus,
                max_memory_mb=size.max_memory_mb, max_vcpus=size.max_vcpus, disks=disk_files,
                vifs=vifs, disk_script=hotplug.block_script(), p9=shares_plan.xl_p9(),
            )
            (state_dir / "zone.cfg").write_text(cfg.render())
            record(zone)
            make_console_log_private(zone["name"])
            clock.mark("network")
            try:
                zone["domid"] = domain.create_paused(
                    state_dir / "zone.cfg", zone["name"],
                    preexec=shares_plan.enter if shares_plan.needed else None)
            except domain.DomainError as e:
                raise ZoneError(f"building the zone failed: {e}") from None
            finally:
                shares_plan.close()
            record(zone)
            clock.mark("domain")
            checkpoint("domain")
            self._publish(zone["domid"], req.id)
            for n, iface in enumerate(ifaces):
                try:
                    network.attach_vif(f"vif{zone['domid']}.{n}", ns_path, iface, zone["name"])
                except OSError as e:
                    raise ZoneError(f"connecting the zone to {iface.name}: {e}") from None
            checkpoint("network")
            os.write(go_w, f"go {zone['domid']}\n".encode())
            os.close(go_w)
            go_w = -1
            checkpoint("booting")
            reading, report_r = report_r, -1
            answer = self._await_report(reading, monitor)  # closes it
            if answer != "ready":
                raise ZoneError(answer.removeprefix("error ").strip() or "the zone failed to boot")
            clock.mark("boot")
            log.debug("create phases (s): " + clock.summary())
            return zone
        except BaseException:
            if shares_plan is not None:
                shares_plan.close()
            for fd in (report_r, go_w):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._undo_create(zone, monitor)
            raise

    def _undo_create(self, zone: dict, monitor: subprocess.Popen | None) -> None:
        """A create that failed leaves nothing: the zone's host side torn down, its monitor
        killed and reaped."""
        try:
            self._teardown(zone)
        except ZoneError as e:
            log.warning(f"cleaning up after the failed create: {e}")
        if monitor is not None:
            if monitor.poll() is None:
                monitor.kill()
            monitor.wait()

    def _publish(self, domid: int, container_id: str) -> None:
        """The zone's own XenStore directory, writable by the zone and nobody else."""
        with XenStore() as xs:
            base = f"/local/domain/{domid}/edera"
            xs.write(f"{base}/version", str(PROTOCOL_VERSION))
            xs.write(f"{base}/container-id", container_id)
            for path in (base, f"{base}/version", f"{base}/container-id"):
                xs.set_perms(path, [f"n{domid}"])

    def _spawn_monitor(self, req: CreateRequest, state_dir: Path, netns, name: str,
                       pod_sandbox_dir: str | None = None):
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
            "--name", name, "--spec-file", str(state_dir / "spec.bin"),
            "--ready-fd", str(report_w), "--go-fd", str(go_r),
            "--control-fd", str(listener.fileno()), "--tty-fd", str(tty_fd),
        ]
        if pod_sandbox_dir:
            argv += ["--pod-sandbox-dir", pod_sandbox_dir]
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
        """Undo a zone, in reverse: tc redirects, monitor, domain, loop devices, disks,
        console log. Works from whatever names were recorded. Raises ZoneError, leaving the
        disks in place, when the domain may still be running."""
        clock = clock or Phases()
        self._remove_redirects(zone)
        clock.mark("network")
        self._stop_monitor(zone)
        clock.mark("monitor")
        self._destroy_domain(zone)
        if zone.get("name"):
            for pid in shares.stop_backends(
                    zone["name"], zone["domid"] if isinstance(zone.get("domid"), int) else None):
                log.warning(f"the zone's 9pfs backend (pid {pid}) outlived its domain: killed")
        self._detach_pod_disks(zone)
        self._unshare_pod_binds(zone)
        self._shrink_pod_zone(zone)
        clock.mark("domain")
        if zone.get("state_dir"):
            # the mounts lived in xl's and the zone's QEMU's namespace, gone with the domain:
            # only empty mount points remain here
            shares.remove_staging(Path(zone["state_dir"]) / shares.STAGING_DIR)
        disk_dir = zone.get("disk_dir")
        if disk_dir:
            for img in (disks.ROOT_DISK, bind_copies.BINDS_DISK):
                try:
                    disks.detach_loops(Path(disk_dir) / img)
                except ZoneError as e:
                    log.warning(str(e))
            shutil.rmtree(disk_dir, ignore_errors=True)
        if zone.get("name"):
            with contextlib.suppress(OSError):
                console_log(zone["name"]).unlink(missing_ok=True)
        clock.mark("disks")

    def _detach_pod_disks(self, zone: dict) -> None:
        """A pod container's disks, out of its pod's zone if that still runs (the zone init
        let go of them when the container ended)."""
        info = zone.get("pod") or {}
        if info.get("role") != "container" or not info.get("disks"):
            return
        try:
            with XenStore() as xs:
                if not domain.is_alive(xs, info["domid"], info["zone_name"]):
                    return
                present = pod.used_devids(xs, info["domid"])
        except OSError as e:
            log.warning(f"cannot tell whether the pod's zone still holds the disks: {e}")
            return
        for index in info["disks"]:
            if pod.devid(index) not in present:
                continue
            try:
                pod.detach_disk(info["domid"], index)
            except domain.DomainError as e:
                log.warning(f"detaching {pod.vdev_name(index)} from the pod's zone: {e}")

    @staticmethod
    def _unshare_pod_binds(zone: dict) -> None:
        """A pod container's binds, out of its pod's share: removing their mount points here
        detaches the mounts in the zone's QEMU (shares.remove_mount_points). Only the
        directory create would have made, under the recorded sandbox's staging directory."""
        info = zone.get("pod") or {}
        if info.get("role") != "container" or not info.get("share"):
            return
        try:
            expected = (Path(info["sandbox_state_dir"]) / shares.STAGING_DIR /
                        f"{shares.POD_PREFIX}{info['name']}")
        except (KeyError, TypeError):
            return
        if str(expected) != info["share"]:
            log.warning(f"not removing {info['share']!r}: not this pod container's share")
            return
        shares.remove_mount_points(expected)

    def _fit_pod_zone(self, domid: int, target: pod.PodTarget, who: str) -> None:
        """Bring the pod's zone to target: its memory target (``xl mem-set``: the zone
        balloons up or down to it) and its online vCPUs (``xl vcpu-set``), each only when it
        differs. Growing asks Xen first whether it has the memory (``xl mem-set`` does not:
        the zone's balloon would just fall short). ZoneError, naming the reason, when the zone
        cannot be brought there. The caller holds the pod's lock."""
        try:
            with XenStore() as xs:
                current_kb = domain.memory_target_kb(xs, domid)
                online = domain.online_vcpus(xs, domid)
        except OSError as e:
            raise ZoneError(f"{who}: cannot read the pod's zone's size: {e}") from None
        try:
            if current_kb is not None and current_kb != target.memory_mb * 1024:
                grow_mb = math.ceil((target.memory_mb * 1024 - current_kb) / 1024)
                if grow_mb > 0:
                    free = domain.free_memory_mb()
                    if free < grow_mb:
                        raise ZoneError(
                            f"{who}: the pod's zone cannot grow by {grow_mb} MiB (to "
                            f"{target.memory_mb} MiB): Xen has {free} MiB free")
                domain.set_memory(domid, target.memory_mb)
            if online is not None and online != target.vcpus:
                domain.set_vcpus(domid, target.vcpus)
        except domain.DomainError as e:
            raise ZoneError(f"{who}: resizing the pod's zone to {target.memory_mb} MiB and "
                            f"{target.vcpus} vCPUs failed: {e}") from None

    def _shrink_pod_zone(self, zone: dict) -> None:
        """A pod container's end gives back what its pod's zone grew by for it: the zone is
        set to the size its other containers need (their recorded demands), under the pod's
        lock. Idempotent (a delete tried again, or after a create that died before or after
        growing the zone, sets the same size); nothing when the zone is gone (the sandbox's
        end) or the container was created before zones grew. A failure is a warning: the
        container is gone either way, and the pod's next create or delete sets the size."""
        info = zone.get("pod") or {}
        if info.get("role") != "container" or not isinstance(info.get("zone_size"), dict):
            return
        if not isinstance(info.get("domid"), int) or not zone.get("state_dir"):
            return
        try:
            self._fit_pod(info, Path(zone["state_dir"]), None)
        except (ZoneError, OSError) as e:
            log.warning(f"giving the container's memory and vCPUs back to its pod's zone: {e}")

    def _fit_pod(self, info: dict, member_dir: Path, demand: pod.Demand | None) -> bool:
        """Under the pod's lock (its sandbox's state directory), bring the pod's zone to what
        its containers' recorded demands ask, the container of member_dir counted as demand
        (None: as gone). False, with nothing done, when the sandbox's directory or the zone is
        gone; ZoneError (or OSError from XenStore) when the zone cannot be brought there."""
        domid, name = info.get("domid"), info.get("zone_name")
        try:
            lock_fd = os.open(info["sandbox_state_dir"],
                              os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (OSError, KeyError, TypeError):
            return False
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            with XenStore() as xs:
                if not domain.is_alive(xs, domid, name):
                    return False
            size = pod.ZoneSize.of(info["zone_size"])
            demands = pod.member_demands(member_dir.parent, str(info.get("sandbox_id")),
                                         exclude=member_dir.name)
            if demand is not None:
                demands.append(demand)
            target = pod.pod_target(size, demands)
            if demand is not None:
                self._warn_short(member_dir.name, demand, size, target)
            self._fit_pod_zone(domid, target, f'container "{member_dir.name}"')
            return True
        finally:
            os.close(lock_fd)

    def _create_in_pod(self, req: CreateRequest, run_hooks: Callable[[ContainerState], None],
                       role: pod.PodRole) -> dict[str, Any]:
        """A pod's further container, inside its sandbox's running zone: its root (and binds)
        as disks hot-plugged into the zone, its own monitor, whose channel the sandbox's
        monitor asks the zone for (CONTAINER). Its network namespace is the pod's, whose NIC
        the zone has since the sandbox's create: it is not mirrored again. The zone grows for
        it first (its memory limit, its CPU quota's vCPUs: edera_oci.zone.pod, "Growth"),
        its demand recorded before. Undone like create on any failure, the zone's growth
        included."""
        spec = req.spec
        state_dir = Path(req.state_dir)
        sandbox_id = role.sandbox_id or ""
        sandbox = pod.sandbox_zone(state_dir, req.id, sandbox_id, role.named_by)
        _check_namespace_paths(spec)  # after the sandbox: a pod that is gone is said as such
        name = pod.pod_name(req.id)
        demand = pod.container_demand(spec.raw)
        size = pod.ZoneSize.of(sandbox)
        zone: dict[str, Any] = {
            **derived_zone(state_dir, req.id), "boot_id": boot_id(),
            "pod": {"role": "container", "sandbox_id": sandbox_id, "name": name,
                    "sandbox_state_dir": sandbox["state_dir"], "domid": sandbox["domid"],
                    "zone_name": sandbox["name"], "disks": []},
        }
        record = req.record_zone or (lambda _zone: None)
        disk_dir = Path(zone["disk_dir"])
        monitor: subprocess.Popen | None = None
        clock = Phases()
        try:
            record(zone)
            shutil.rmtree(disk_dir, ignore_errors=True)
            disks.make_disk_dir(disk_dir)
            (disk_dir / OWNER_FILE).write_text(str(state_dir))
            checkpoint("disk-dir")
            # Binds first, as for a zone of its own: a bad source is refused before the root
            # is copied. The root too is shared, unless it is asked for as a copy.
            share_root = shares.root_over_9p(spec.annotations)
            bind_sources, root_in_zone = self._share_with_pod(req, sandbox, zone, record,
                                                              share_root)
            images = []
            if bind_sources is None:  # the pod's zone has no share: copies on a disk
                staging = disk_dir / "binds"
                staging.mkdir()
                copied = bind_copies.stage_binds(spec.mounts, staging,
                                                 protected=[os.path.dirname(req.state_dir)])
                if copied:
                    disks.make_ext4(staging, disk_dir / bind_copies.BINDS_DISK, "zone-binds")
                    images.append(disk_dir / bind_copies.BINDS_DISK)
                shutil.rmtree(staging)
                bind_sources = {i: f"{pod.POD_DIR}/{name}/binds/{i}" for i in copied}
            if root_in_zone is None:
                disks.make_ext4(Path(spec.root.path), disk_dir / disks.ROOT_DISK, "zone-root")
                images.insert(0, disk_dir / disks.ROOT_DISK)
            clock.mark("disks")
            checkpoint("disks")
            # one container at a time per pod: each sizes the zone and picks its free slots
            lock_fd = os.open(sandbox["state_dir"], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                with XenStore() as xs:
                    if not domain.is_alive(xs, sandbox["domid"], sandbox["name"]):
                        raise ZoneError(f'container "{req.id}": the zone of its pod sandbox '
                                        f'"{sandbox_id}" is gone')
                    indexes = pod.free_disk_indexes(pod.used_devids(xs, sandbox["domid"]),
                                                    len(images))
                others = pod.member_demands(state_dir.parent, sandbox_id, exclude=req.id)
                before = pod.pod_target(size, others)
                target = pod.pod_target(size, [*others, demand])
                self._warn_short(req.id, demand, size, target)
                # recorded before the zone grows: a delete gives it back whatever happens next
                zone["pod"].update(
                    disks=indexes, demand=demand.record(), zone_size=size.record(),
                    memory_added_mb=target.memory_mb - before.memory_mb,
                    vcpus_added=target.vcpus - before.vcpus)
                record(zone)
                self._fit_pod_zone(sandbox["domid"], target, f'container "{req.id}"')
                clock.mark("grow")
                for index, image in zip(indexes, images, strict=True):
                    pod.attach_disk(sandbox["domid"], index, image, hotplug.block_script())
            finally:
                os.close(lock_fd)
            clock.mark("attach")
            try:
                # the disks in order: the root's copy (unless shared), then the binds' copies
                disk_slots = list(indexes)
                root: int | str = root_in_zone if root_in_zone is not None else \
                    disk_slots.pop(0)
                records = pod.pod_container_records(
                    spec.raw, bind_sources, name, root, disk_slots[0] if disk_slots else None,
                    role.join)
            except MappingError as e:
                raise ZoneError(str(e)) from None
            (state_dir / "spec.bin").write_bytes(records)
            netns = spec.linux.namespace("network") if spec.linux else None
            zone["netns"] = netns.path if netns is not None and netns.path else None
            monitor, report_r, go_w = self._spawn_monitor(
                req, state_dir, netns, sandbox["name"], pod_sandbox_dir=sandbox["state_dir"])
            zone["monitor_pid"] = monitor.pid
            zone["monitor_start"] = process_start_time(monitor.pid)
            record(zone)
            checkpoint("monitor")
            run_hooks(ContainerState(id=req.id, bundle=req.bundle, rootfs=spec.root.path,
                                     created="", status="creating", pid=monitor.pid))
            clock.mark("monitor+hooks")
            checkpoint("hooks")
            os.write(go_w, f"go {sandbox['domid']}\n".encode())
            os.close(go_w)
            checkpoint("booting")
            answer = self._await_report(report_r, monitor)
            if answer != "ready":
                raise ZoneError(answer.removeprefix("error ").strip()
                                or "the container failed to start in the pod's zone")
            clock.mark("ready")
            log.debug("create phases (s): " + clock.summary())
            return zone
        except BaseException:
            self._undo_create(zone, monitor)
            raise

    @staticmethod
    def _share_with_pod(req: CreateRequest, sandbox: dict[str, Any], zone: dict[str, Any],
                        record: Callable[[dict], None],
                        share_root: bool) -> tuple[dict[int, str] | None, str | None]:
        """A pod container's binds (and its root, with share_root), live through its pod's 9p
        share: each source is mounted on ``<sandbox's staging>/pod-<name>/<i>/<source name>``
        (the root on ``.../pod-<name>/root``) in the mount namespace of the zone's QEMU
        (shares.share_with_running_zone), recorded first for the teardown. Returns (mount
        index -> the source's path in the zone, the root's path in the zone or None). When the
        pod's zone has no share (a podman pod's zone of its own, made without binds), after a
        warning: (None, None), and both are copies."""
        spec = req.spec
        has_binds = any(m.is_bind for m in spec.mounts)
        if not has_binds and not share_root:
            return {}, None
        staging = Path(sandbox["state_dir"]) / shares.STAGING_DIR
        backends = shares.backend_pids(sandbox["name"], sandbox.get("domid"))
        if not staging.is_dir() or staging.is_symlink() or not backends:
            log.warning(f'container "{req.id}": its pod\'s zone has no share (it was made '
                        "without bind mounts): its root and binds are copies, and writes to "
                        "them stay in the zone")
            return None, None
        member = staging / f"{shares.POD_PREFIX}{zone['pod']['name']}"
        zone["pod"]["share"] = str(member)  # before anything is mounted: delete removes it
        record(zone)
        plan = shares.plan_binds(spec.mounts, member,
                                 protected=[os.path.dirname(req.state_dir), DISK_ROOT],
                                 root=spec.root if share_root else None, pod_share=True,
                                 zone_dir=f"{BINDS_MOUNTPOINT}/{member.name}",
                                 root_dir=member / "root")
        try:
            shares.share_with_running_zone(plan, backends[0])
        finally:
            plan.close()
        return plan.bind_sources(), plan.root_in_zone()

    @staticmethod
    def _warn_short(container_id: str, demand: pod.Demand, size: pod.ZoneSize,
                    target: pod.PodTarget) -> None:
        """Say so when the pod's zone stops at its maximum short of what its containers ask:
        the container's own limits still hold in its cgroup, within a zone they share."""
        if target.memory_short_mb:
            log.warning(f'container "{container_id}" asks its pod\'s zone for {demand.memory_mb} '
                        f"MiB; the zone stops at its maximum of {size.max_memory_mb} MiB, "
                        f"{target.memory_short_mb} MiB short of what the pod's containers ask "
                        "for (each container's memory.max still holds)")
        if demand.vcpus > size.max_vcpus:
            log.warning(f"linux.resources.cpu.quota asks for {demand.vcpus} CPUs; the pod's "
                        f"zone has at most {size.max_vcpus} vCPUs (the quota is kept in the "
                        "container's cpu.max)")

    def _remove_redirects(self, zone: dict) -> None:
        """The tc state on the engine's interfaces: the next zone on this namespace needs it
        gone (a restart in a Kubernetes pod)."""
        names = zone.get("interfaces") or []
        if not names or not zone.get("name"):
            return
        ns_path = zone.get("netns")
        if not ns_path:
            if not _monitor_alive(zone):
                return  # a namespace of the monitor's own went with it, and its tc state too
            ns_path = f"/proc/{zone['monitor_pid']}/ns/net"
        try:
            removed = network.detach_redirects(ns_path, names, zone["name"])
        except Exception as e:  # noqa: BLE001 - pyroute2's NetlinkError is no OSError
            log.warning(f"removing the redirects from {', '.join(names)}: {e}")
            return
        if removed:
            log.debug(f"removed the zone's redirects from {', '.join(removed)}")

    def _stop_monitor(self, zone: dict) -> None:
        """SIGKILL the zone's monitor(s): the recorded one if it is still that process; with
        no record (a lost state.json), those /proc shows serving this state directory."""
        if zone.get("monitor_pid"):
            targets = [(zone["monitor_pid"], zone.get("monitor_start"))]
        elif zone.get("state_dir"):
            targets = monitors_of(zone["state_dir"])
        else:
            targets = []
        for pid, start in targets:
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                # checked after the pidfd is held: the pid cannot be reused behind it
                if process_alive(pid, start):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except OSError:
                pass
            finally:
                os.close(pidfd)
            deadline = time.monotonic() + 5
            while process_alive(pid, start) and time.monotonic() < deadline:
                time.sleep(0.02)

    @staticmethod
    def _find_domain(xs: XenStore, zone: dict) -> int | None:
        """The domid of the zone's domain if it exists: the recorded one if its name still
        matches (ids are reused), else looked up by the zone's unique name."""
        name = zone.get("name")
        domid = zone.get("domid")
        if isinstance(domid, int) and domain.is_alive(xs, domid, name):
            return domid
        for entry in xs.ls("/local/domain"):
            if xs.try_read(f"/local/domain/{entry}/name") == name:
                return int(entry)
        return None

    def _destroy_domain(self, zone: dict) -> None:
        """Destroy the zone's domain; ZoneError when it may still run (xl failed, or XenStore
        cannot say), so that the caller keeps its state for another try."""
        name = zone.get("name")
        if not name:
            return
        try:
            with XenStore() as xs:
                domid = self._find_domain(xs, zone)
                if domid is None:
                    return
                try:
                    shares.destroy_domain(xs, domid, name)
                except domain.DomainError as e:
                    # another destroy may be under way (the monitor's, when create went
                    # away): failed only if the domain stays
                    deadline = time.monotonic() + DESTROY_SETTLE
                    while self._find_domain(xs, zone) is not None:
                        if time.monotonic() > deadline:
                            raise ZoneError(f"destroying zone {name} (domain {domid}) failed: "
                                            f"{e}; the container is kept: try again") from None
                        time.sleep(0.2)
        except OSError as e:
            raise ZoneError(f"cannot tell whether zone {name} still runs: {e}") from None

    def destroy(self, state: ContainerState) -> None:
        t0 = time.monotonic()
        clock = Phases()
        zone = _with_start(state)
        if zone.get("state_dir"):  # names a create that died early did not record yet
            for key, value in derived_zone(zone["state_dir"], state.id).items():
                zone.setdefault(key, value)
        self._teardown(zone, clock)
        # Any zone of its own may have been joined (a podman pod's infra container is a plain
        # one: edera_oci.zone.pod): its end is the end of whatever runs in it.
        if not _is_pod_container(zone) and zone.get("state_dir"):
            self._end_pod(Path(zone["state_dir"]), state.id)
        log.debug(f"teardown (s): {time.monotonic() - t0:.3f}")
        log.debug("teardown phases (s): " + clock.summary())

    def _end_pod(self, sandbox_dir: Path, sandbox_id: str) -> None:
        """The sandbox's end is the pod's: with the zone gone, every container of the pod is
        torn down on the host (monitor, disks) and its state removed, unless a command holds
        it right now (its own delete then finishes it). A zone nobody joined has none: one
        read of each state under --root."""
        store = StateStore(str(sandbox_dir.parent))
        for member_id, member_zone in pod.members(sandbox_dir.parent, sandbox_id):
            try:
                with store.locked(member_id, blocking=False):
                    self._teardown(member_zone)
                    store.remove(member_id)
                log.debug(f'removed container "{member_id}" with its pod')
            except BlockingIOError:
                log.debug(f'container "{member_id}" of the pod is busy: left to its delete')
            except Exception as e:  # noqa: BLE001 - one container must not stop the rest
                log.warning(f'removing container "{member_id}" of the pod: {e}')

    def sweep(self, state_dir: str, container_id: str) -> None:
        """What a container of this id under this root would have left (its state is gone):
        its monitors, domain, loop devices, disks and console log, and, when any of those was
        there (a zone lost its state), its tc redirects in whichever network namespace holds
        them (found by their mark). The search of every namespace is skipped otherwise: an
        engine deletes each container it knows again after its pod's end removed it, and
        those deletes must stay quick."""
        if not domain.is_dom0():
            return
        zone = derived_zone(state_dir, container_id)
        traces = self._traces(zone)
        self._teardown(zone)
        if not traces:
            return
        for redirect in network.find_redirects({network.redirect_mark(zone["name"])}):
            try:  # the teardown's own removal, in the namespace where it was found
                removed = network.detach_redirects(redirect.ns_path, [redirect.iface],
                                                   zone["name"])
            except Exception as e:  # noqa: BLE001 - pyroute2's NetlinkError is no OSError
                log.warning(f"removing the zone's {redirect.describe()}: {e}")
                continue
            if removed:
                log.debug(f"removed the zone's {redirect.describe()}")

    def left_traces(self, state_dir: str, container_id: str) -> bool:
        """Whether a container of this id under this root left anything in dom0 that
        :meth:`sweep` would remove (checked without claiming the id)."""
        if not domain.is_dom0():
            return False
        zone = derived_zone(state_dir, container_id)
        if self._traces(zone) or shares.backend_pids(zone["name"]):
            return True
        return console_log(zone["name"]).exists()

    def _traces(self, zone: dict) -> bool:
        """Whether anything of a zone is in dom0: its domain, a monitor, its disk directory."""
        if Path(zone["disk_dir"]).exists() or monitors_of(zone["state_dir"]):
            return True
        try:
            with XenStore() as xs:
                return self._find_domain(xs, zone) is not None
        except OSError:
            return True  # cannot tell: search

    def orphans(self, root: str) -> dict[str, list[str]]:
        """What zones of this --root left that no container under it owns, by the id they
        were made for (``delete --force ID`` removes them): domains, monitors, disk
        directories, the loop devices on their images, and the tc redirects those ids' zones
        put in any network namespace (by their mark). A redirect whose zone left nothing else
        cannot be told by id; the next zone on that interface replaces it."""
        if not domain.is_dom0():
            return {}
        root = os.path.abspath(root)
        prefix = domain_name(os.path.join(root, "x"), "")
        found: dict[str, list[str]] = {}

        def unowned(state_dir: str) -> bool:
            return os.path.dirname(state_dir) == root and not os.path.isdir(state_dir)

        try:
            with XenStore() as xs:
                for entry in xs.ls("/local/domain"):
                    name = xs.try_read(f"/local/domain/{entry}/name") or ""
                    cid = name[len(prefix):]
                    if name.startswith(prefix) and unowned(os.path.join(root, cid)):
                        found.setdefault(cid, []).append(f"domain {name} ({entry})")
        except OSError as e:
            raise ZoneError(f"cannot list the zones: {e}") from None
        for pid, _start, state_dir in _monitors():
            if unowned(state_dir):
                found.setdefault(os.path.basename(state_dir), []).append(f"monitor {pid}")
        try:
            disk_dirs = list(DISK_ROOT.iterdir())
        except OSError:
            disk_dirs = []
        for disk_dir in disk_dirs:
            try:
                state_dir = (disk_dir / OWNER_FILE).read_text()
            except OSError:
                continue
            if unowned(state_dir):
                what = found.setdefault(os.path.basename(state_dir), [])
                what.append(f"disk dir {disk_dir}")
                for img in (disks.ROOT_DISK, bind_copies.BINDS_DISK):
                    what += [f"loop {dev}" for dev in disks.loops_backing(disk_dir / img)]
        marks = {network.redirect_mark(domain_name(os.path.join(root, cid), cid)): cid
                 for cid in found}
        if marks:
            for redirect in network.find_redirects(set(marks)):
                found[marks[redirect.handle]].append(redirect.describe())
        return found

    # -- running zones --------------------------------------------------------------------------
    def start(self, state: ContainerState) -> None:
        self._request(state, "start")

    def signal(self, state: ContainerState, signo: int, all_processes: bool) -> None:
        if signo != signal.SIGKILL:
            self._request(state, "signal", signo=signo, all=all_processes)
            return
        self._kill(state, all_processes)

    def _kill(self, state: ContainerState, all_processes: bool) -> None:
        """SIGKILL, enforced by dom0: the zone gets SIGKILL_GRACE to report the kill through
        its monitor; then, whatever the zone does, its domain is destroyed, 137 recorded and
        the monitor killed (the engine reaps it killed by SIGKILL, as runc's init is). Returns
        once the domain and the monitor are gone."""
        zone = _with_start(state)
        try:
            self._request(state, "signal", timeout=SIGKILL_GRACE, signo=signal.SIGKILL,
                          all=all_processes)
        except ZoneError as e:
            log.debug(f"the monitor did not take the kill: {e}")
        deadline = time.monotonic() + SIGKILL_GRACE
        while _monitor_alive(zone) and time.monotonic() < deadline:
            time.sleep(0.05)
        forced = _monitor_alive(zone)
        self._destroy_domain(zone)
        if forced:
            log.debug("the zone did not report the kill in time: destroyed from dom0")
            with contextlib.suppress(OSError, KeyError):
                (Path(zone["state_dir"]) / EXIT_STATUS_FILE).write_text(
                    f"{128 + signal.SIGKILL}\n")
            self._stop_monitor(zone)

    def status(self, state: ContainerState) -> str:
        from .status import status as zone_status

        if not _monitor_alive(_with_start(state)):
            return "stopped"
        found = zone_status(state.to_dict())
        if found is None:
            # "cannot tell" is not "stopped": a delete must not take it for one
            raise ZoneError(f'cannot tell the status of container "{state.id}": '
                            "xenstored does not answer")
        return found

    def _whole_zone_only(self, state: ContainerState, what: str) -> None:
        if _is_pod_container(state.zone):
            raise ZoneError(f'{what} of container "{state.id}" alone is not supported: it '
                            "runs in its pod's zone (use the pod's sandbox)")

    def pause(self, state: ContainerState) -> None:
        self._whole_zone_only(state, "pause")
        try:
            domain.pause(state.zone["domid"])
        except domain.DomainError as e:
            raise ZoneError(str(e)) from None

    def resume(self, state: ContainerState) -> None:
        self._whole_zone_only(state, "resume")
        try:
            domain.unpause(state.zone["domid"])
        except domain.DomainError as e:
            raise ZoneError(str(e)) from None

    def pids(self, state: ContainerState) -> list[int]:
        return [state.zone["monitor_pid"]] if _monitor_alive(_with_start(state)) else []

    def stats(self, state: ContainerState) -> dict[str, Any]:
        """runc's stats shape, from the container's cgroup in the zone (older zones: the
        zone's totals)."""
        raw = self._request(state, "stats").get("stats")
        raw = raw if isinstance(raw, dict) else {}

        def count(key: str) -> int | None:  # zone-reported: a uint64, or None
            value = raw.get(key)
            return value if type(value) is int and 0 <= value < 1 << 64 else None

        total = (count("mem_total_kb") or 0) * 1024
        available = min((count("mem_available_kb") or 0) * 1024, total)
        usage = count("mem_usage_bytes")
        limit = count("mem_limit_bytes")
        memory: dict[str, Any] = {"usage": {
            "usage": usage if usage is not None else total - available,
            # no memory.max: the zone's memory is the ceiling
            "limit": limit if limit is not None else total,
        }}
        if count("mem_swap_usage_bytes") is not None:
            memory["swap"] = {"usage": count("mem_swap_usage_bytes")}
        memstat = {key.removeprefix("memstat_"): value for key, value in raw.items()
                   if key.startswith("memstat_") and count(key) is not None}
        if memstat:
            memory["raw"] = memstat
            memory["cache"] = memstat.get("file", 0)
        cpu: dict[str, Any] = {"usage": {"total": count("cpu_usage_ns") or 0}}
        if count("cpu_user_ns") is not None:
            cpu["usage"]["user"] = count("cpu_user_ns")
            cpu["usage"]["kernel"] = count("cpu_system_ns") or 0
        if count("cpu_periods") is not None:
            cpu["throttling"] = {"periods": count("cpu_periods"),
                                 "throttledPeriods": count("cpu_throttled_periods") or 0,
                                 "throttledTime": count("cpu_throttled_ns") or 0}
        pids: dict[str, Any] = {"current": count("pids") or 0}
        if count("pids_limit") is not None:
            pids["limit"] = count("pids_limit")
        stats: dict[str, Any] = {"cpu": cpu, "memory": memory, "pids": pids}
        names = state.zone.get("interfaces") or []
        if names:
            ns_path = f"/proc/{state.zone['monitor_pid']}/ns/net"
            try:
                stats["network_interfaces"] = network.interface_counters(ns_path, names)
            except OSError as e:
                raise ZoneError(f"reading the counters of {', '.join(names)}: {e}") from None
        return stats

    def oom_kills(self, state: ContainerState) -> int:
        """How many of the container's processes the OOM killer ended: from the zone while it
        runs, from what its monitor recorded once it has exited."""
        try:
            return int((Path(state.zone["state_dir"]) / OOM_KILLS_FILE).read_text())
        except (OSError, KeyError, ValueError):
            pass
        try:
            value = (self._request(state, "stats").get("stats") or {}).get("oom_kill")
        except ZoneError:  # it has just exited: its monitor recorded the count first
            try:
                return int((Path(state.zone["state_dir"]) / OOM_KILLS_FILE).read_text())
            except (OSError, KeyError, ValueError):
                return 0
        return value if type(value) is int and value >= 0 else 0

    def update(self, state: ContainerState, resources: dict[str, Any],
               linux_devices: list[dict[str, Any]] | None = None) -> None:
        """New limits, written live into the container's cgroup in the zone (UPDATE), and new
        device rules, which replace the container's (linux_devices: the config's, for the
        rules runc leaves out). What the zone cannot change is refused by name. A single
        container's zone is sized at create, so a memory limit beyond what it can give is
        refused (it could not be honoured); a pod container's new limits resize its pod's zone
        first, as its create did (:meth:`_resize_pod_for`)."""
        zone = state.zone
        in_pod = _is_pod_container(zone)
        vcpus = int(zone.get("vcpus") or 1)
        if in_pod:
            vcpus = pod.ZoneSize.of(zone["pod"].get("zone_size") or {}).max_vcpus
        try:
            settings, notes = update_settings(resources)
            check_cpuset(resources, vcpus)
            rules = device_rule_records(resources.get("devices") or [], linux_devices or [])
        except MappingError as e:
            raise ConfigError(str(e)) from None
        limit = (resources.get("memory") or {}).get("limit")
        room_mb = int(zone.get("memory_mb") or DEFAULT_MEMORY_MB) - MEMORY_OVERHEAD_MB
        if not in_pod and limit and limit > room_mb << 20:
            raise ConfigError(
                f"linux.resources.memory.limit: {limit} bytes is more than this zone can give "
                f"its container ({room_mb} MiB; a zone's memory is fixed when it is created)")
        cpu = resources.get("cpu") or {}
        if not in_pod and (cpu.get("quota") or 0) > 0:
            wanted = math.ceil(cpu["quota"] / (cpu.get("period") or 100000))
            if wanted > vcpus:
                log.warning(f"linux.resources.cpu.quota asks for {wanted} CPUs; the zone has "
                            f"{vcpus} vCPUs (fixed at create), the most it can use")
        for note in notes:
            log.warning(note)
        if not settings and not rules:
            return
        before = self._resize_pod_for(state, resources) if in_pod else None
        payload = encode_records([(Tag.CGROUP, [name, value]) for name, value in settings]
                                 + rules)
        try:
            self._request(state, "update", records=payload.hex())
        except EderaError:
            if before is not None:  # the zone keeps the old limits: and the old size
                try:
                    self._fit_pod_for(state, before)
                except ZoneError as e:
                    log.warning(f"giving the pod's zone its size back: {e}")
            raise

    def _resize_pod_for(self, state: ContainerState,
                        resources: dict[str, Any]) -> pod.Demand | None:
        """A pod container's update asks its pod's zone for its new memory limit (and its new
        CPU quota's vCPUs): the zone is brought to what all its containers now ask, up to its
        maximum, as at create (edera_oci.zone.pod, "Growth"), and the new demand recorded in
        the state (saved by the caller). The old demand, to go back to if the zone refuses the
        limits; None when nothing changed (or the container predates zones that grow)."""
        info = state.zone["pod"]
        recorded = info.get("demand")
        if not isinstance(recorded, dict) or not isinstance(info.get("zone_size"), dict):
            return None
        old = pod.Demand.of(recorded)
        asked = pod.container_demand({"linux": {"resources": resources}})
        memory = (resources.get("memory") or {}).get("limit")
        quota = (resources.get("cpu") or {}).get("quota")
        new = pod.Demand(asked.memory_mb if type(memory) is int and memory > 0 else old.memory_mb,
                         asked.vcpus if type(quota) is int and quota != 0 else old.vcpus)
        if new == old:
            return None
        self._fit_pod_for(state, new)
        return old

    def _fit_pod_for(self, state: ContainerState, demand: pod.Demand) -> None:
        """Bring the pod's zone to what its containers ask with this one's demand
        (:meth:`_fit_pod`); the demand is recorded in state.zone once the zone has it."""
        info = state.zone["pod"]
        if not self._fit_pod(info, Path(state.zone["state_dir"]), demand):
            raise ZoneError(f'container "{state.id}": its pod\'s sandbox or its zone is gone')
        info["demand"] = demand.record()

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
        domid, name = _domain_of(zone)
        argv = [
            sys.executable, "-m", "edera_oci.zone.monitor", "--state-dir", str(state_dir),
            "--domid", str(domid), "--name", name,
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
