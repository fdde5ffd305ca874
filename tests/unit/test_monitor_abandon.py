"""A container's monitor destroys its domain when `create` goes away before the handover.

`create` starts the monitor, makes the domain, then writes "go DOMID" and waits for the
monitor's "ready". A `create` killed before "go" leaves the go pipe at EOF; one killed after it
leaves nobody to read "ready" (EPIPE). Either way nobody else will tear the domain down, so the
monitor destroys it (`abandon_domain`, found by name in XenStore). It does not once `create` has
taken the handover, and an exec's or a pod container's monitor never does (the domain is not
theirs). Xen is faked: XenStore lists the domains, `domain.destroy` records the domid.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from pathlib import Path

import pytest

from edera_oci.xen.xenstore import XenStoreError
from edera_oci.zone import monitor
from edera_oci.zone import protocol as p

from .monitor_harness import ScriptedZone, sh
from .test_monitor_guest import FakeContainerMonitor, i32

NAME = "edera-test"


class FakeXen:
    """XenStore's /local/domain with Domain-0, this monitor's zone and another one."""

    def __init__(self, names: dict[str, str] | None = None, fail: Exception | None = None):
        self.names = names or {"0": "Domain-0", "5": NAME, "6": "edera-other"}
        self.fail = fail
        self.destroyed: list[int] = []

    # XenStore(), as abandon_domain opens it
    def __call__(self) -> FakeXen:
        if self.fail:
            raise self.fail
        return self

    def __enter__(self) -> FakeXen:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def ls(self, path: str) -> list[str]:
        assert path == "/local/domain"
        return list(self.names)

    def try_read(self, path: str) -> str | None:
        entry = path.removeprefix("/local/domain/").removesuffix("/name")
        return self.names.get(entry)

    def destroy(self, domid: int) -> None:
        self.destroyed.append(domid)
        del self.names[str(domid)]


@pytest.fixture
def xen(monkeypatch):
    fake = FakeXen()
    monkeypatch.setattr(monitor, "XenStore", fake)
    monkeypatch.setattr(monitor.domain, "destroy", fake.destroy)
    return fake


@pytest.fixture
def restore_process_state():
    """main() enables faulthandler on its log and, once booted, installs signal handlers."""
    saved = {s: signal.getsignal(s) for s in monitor.FORWARDED_SIGNALS}
    yield
    signal.set_wakeup_fd(-1)
    for s, h in saved.items():
        signal.signal(s, h)
    faulthandler.enable(sys.stderr)


class Create:
    """create's side of the monitor's two pipes."""

    def __init__(self) -> None:
        self.go_r, self.go_w = os.pipe()
        self.report_r, self.report_w = os.pipe()

    def go(self, domid: int = 5) -> None:
        os.write(self.go_w, f"go {domid}\n".encode())
        os.close(self.go_w)

    def killed_before_go(self) -> None:
        os.close(self.go_w)
        os.close(self.report_r)

    def killed_after_go(self) -> None:
        self.go()
        os.close(self.report_r)  # nobody reads "ready"

    def report(self) -> bytes:
        data = os.read(self.report_r, 4096)
        os.close(self.report_r)
        return data


def container_args(tmp_path: Path, create: Create, *extra: str) -> list[str]:
    state_dir = tmp_path / "state"
    state_dir.mkdir(exist_ok=True)
    spec = state_dir / "spec.bin"
    spec.write_bytes(sh("true"))
    return ["--state-dir", str(state_dir), "--name", NAME, "--spec-file", str(spec),
            "--ready-fd", str(create.report_w), "--go-fd", str(create.go_r), *extra]


def log(tmp_path: Path) -> str:
    return (tmp_path / "state" / "monitor.log").read_text()


def test_create_killed_before_go_leaves_its_domain_to_the_monitor(
        tmp_path, xen, restore_process_state) -> None:
    zone = ScriptedZone()
    create = Create()
    create.killed_before_go()
    status = monitor.main(container_args(tmp_path, create), zone_ops=lambda d, n: zone)
    assert status == 1
    assert xen.destroyed == [5]  # its own domain, found by name; not dom0's, not another's
    assert not zone.unpaused  # it never booted the zone
    text = log(tmp_path)
    assert "create was abandoned before the zone booted" in text
    assert f"destroyed domain 5 ({NAME}): create did not take it" in text


def test_create_killed_after_go_leaves_its_domain_to_the_monitor(
        tmp_path, xen, restore_process_state) -> None:
    zone = ScriptedZone()
    zone.send(p.Msg.READY)
    create = Create()
    create.killed_after_go()
    status = monitor.main(container_args(tmp_path, create), zone_ops=lambda d, n: zone)
    assert status == 1
    assert zone.unpaused  # booted, but "ready" found nobody (EPIPE)
    assert xen.destroyed == [5]
    assert "BrokenPipeError" in log(tmp_path)


def test_a_create_that_takes_the_handover_keeps_its_domain(
        tmp_path, xen, restore_process_state) -> None:
    zone = ScriptedZone()
    zone.send(p.Msg.READY)
    zone.send(p.Msg.EXIT, i32(0))  # the zone ends at once: main() runs to the end
    create = Create()
    create.go()
    status = monitor.main(container_args(tmp_path, create), zone_ops=lambda d, n: zone)
    assert create.report() == b"ready\n"
    assert status == 0
    assert xen.destroyed == [] and not zone.destroyed
    assert "destroyed domain" not in log(tmp_path)


def test_a_monitor_that_cannot_reach_xenstore_still_reports_and_says_why(
        tmp_path, xen, restore_process_state) -> None:
    xen.fail = XenStoreError("xenstored does not answer")
    zone = ScriptedZone()
    create = Create()
    create.go()
    zone.send(p.Msg.ERROR, b"mount failed")
    status = monitor.main(container_args(tmp_path, create), zone_ops=lambda d, n: zone)
    assert status == 1
    assert create.report() == b"error zone setup failed: mount failed\n"
    assert f"could not destroy {NAME}: xenstored does not answer" in log(tmp_path)


def test_exec_and_pod_container_monitors_never_destroy_the_domain(
        tmp_path, xen, restore_process_state) -> None:
    # an exec whose container's monitor refuses it
    state_dir = tmp_path / "ctr"
    state_dir.mkdir()
    FakeContainerMonitor(state_dir, {"ok": False, "error": "the container is not running"})
    exec_file = tmp_path / "exec.bin"
    exec_file.write_bytes(sh("true"))
    create = Create()
    status = monitor.main(["--state-dir", str(state_dir), "--name", NAME, "--domid", "5",
                           "--exec-file", str(exec_file), "--ready-fd", str(create.report_w)],
                          zone_ops=lambda d, n: ScriptedZone())
    assert status == 1
    assert create.report().startswith(b"error ")
    # a pod's further container whose sandbox's monitor is gone, and whose create is gone too
    create = Create()
    create.go()
    os.close(create.report_r)
    gone = tmp_path / "sandbox"
    gone.mkdir()
    status = monitor.main(container_args(tmp_path, create, "--pod-sandbox-dir", str(gone)),
                          zone_ops=lambda d, n: ScriptedZone())
    assert status == 1
    assert "the pod's sandbox" in log(tmp_path)
    assert xen.destroyed == []
