"""One workload in one zone, run to where a module's tests read it: the module fixtures that
share a zone (the zone's boot is the dear part) start `edera-oci run` with its stdout and
stderr in files, wait until the workload says it got there, act on it, and, however that ends,
the monitors' logs and consoles are printed on an error and the container is killed and
deleted."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .dom0 import dump_diagnostics
from .test_zone_runtime import oci


def keyvals(text: str) -> dict[str, str]:
    """The workload's `key=value` lines."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def said(key: str) -> Callable[[str], bool]:
    """Ready once the workload printed `key=1`."""
    return lambda text: keyvals(text).get(key) == "1"


@dataclass
class ZoneRun:
    root: Path
    cid: str
    run: subprocess.Popen
    out_path: Path
    err_path: Path
    deleted: subprocess.CompletedProcess | None = field(default=None)

    def seen(self) -> dict[str, str]:
        return keyvals(self.out_path.read_text())

    def stderr(self) -> str:
        return self.err_path.read_text()


@contextmanager
def running_zone(root: Path, bundle: Path, cid: str, tmp: Path, ready: Callable[[str], bool],
             timeout: float = 420, stdin: int = subprocess.DEVNULL) -> Iterator[ZoneRun]:
    out_path, err_path = tmp / "stdout", tmp / "stderr"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        run = subprocess.Popen(["edera-oci", "--root", str(root), "run", "--bundle",
                                str(bundle), cid], stdin=stdin, stdout=out, stderr=err)
        zone = ZoneRun(root, cid, run, out_path, err_path)
        try:
            deadline = time.monotonic() + timeout
            while not ready(out_path.read_text()):
                assert run.poll() is None, (out_path.read_text(), err_path.read_text())
                assert time.monotonic() < deadline, out_path.read_text()
                time.sleep(0.2)
            yield zone
        except BaseException:
            dump_diagnostics(root)
            raise
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
            zone.deleted = oci(root, "delete", "--force", cid)
