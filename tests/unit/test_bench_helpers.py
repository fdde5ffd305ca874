"""The benchmarks' own helpers (bench/labbench.py), on the host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from labbench import StepFailed, run_quiet, timed  # noqa: E402

# What `edera-oci create` does to its stdio: it returns while the container's monitor, in the
# background, keeps the stderr create was given.
LEAVES_STDERR_OPEN = "sleep 30 & echo created >&2"


def test_a_command_whose_child_keeps_stderr_returns_with_what_it_wrote() -> None:
    """A created container keeps create's stderr: a pipe there made dom0_memory and density
    wait for the container's end (the lab run stalled at its first create)."""
    proc = run_quiet(["sh", "-c", LEAVES_STDERR_OPEN], timeout=10)
    assert (proc.returncode, proc.stderr) == (0, "created\n")


def test_timed_does_not_wait_for_the_child_and_reports_a_failure() -> None:
    assert timed(["sh", "-c", LEAVES_STDERR_OPEN], timeout=10) >= 0
    with pytest.raises(StepFailed, match="exit 3 .*: no such bundle"):
        timed(["sh", "-c", "echo no such bundle >&2; exit 3"], timeout=10)


def test_a_pipe_would_have_waited() -> None:
    """The cause, shown: the same command with stderr on a pipe has not returned after 3 s."""
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(["sh", "-c", LEAVES_STDERR_OPEN], stderr=subprocess.PIPE, timeout=3)


def test_the_storage_bench_writes_to_a_writable_root(tmp_path) -> None:
    """Its zone-root rows timed a failing write: `edera-oci spec`'s root is read-only."""
    from storage import zone_config

    from edera_oci.default_spec import default_config

    cfg = zone_config(default_config(), 1, 16, tmp_path / "vol", 8, 5,
                      ["/vol", "/work", "/nfs", "/layer"], 1000)
    assert cfg["root"]["readonly"] is False
    script = cfg["process"]["args"][2]
    assert "for P in /vol /work /nfs /layer;" in script and "capabilities" not in cfg["process"]
    assert "timeout 700 " in script  # 1,000 files on 9p: 0.4 s each on top of 300 s
    assert "{" + "size}" not in script and "count=16" in script and "--size=8M" in script
    (vol,) = [m for m in cfg["mounts"] if m["destination"] == "/vol"]
    assert vol["source"] == str(tmp_path / "vol") and "rw" in vol["options"]
    # the NFS prototype's private link is the container's network namespace
    (net,) = [ns for ns in cfg["linux"]["namespaces"] if ns["type"] == "network"]
    assert net["path"] == "/run/netns/edera-bench-nfs"


def test_the_storage_bench_measures_only_the_places_asked(tmp_path) -> None:
    """--places /vol: the metadata test at 10,000 files on 9p alone (about 45 minutes)."""
    from storage import zone_config

    from edera_oci.default_spec import default_config

    script = zone_config(default_config(), 1, 16, tmp_path / "vol", 8, 5, ["/vol"],
                         10000)["process"]["args"][2]
    assert "for P in /vol;" in script and "timeout 4300 " in script


def test_fio_iops_are_read_from_its_terse_line() -> None:
    from storage import fio_iops

    fields = ["3", "fio-3.33", "rr"] + ["0"] * 127
    fields[7], fields[48] = "1234", "567"
    assert fio_iops("randread", ";".join(fields)) == 1234
    assert fio_iops("randwrite", ";".join(fields)) == 567
    assert fio_iops("randread", "fio: error") is None
