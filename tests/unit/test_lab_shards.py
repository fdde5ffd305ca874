"""lab/shards: the Xen test files dealt to labs run side by side, and its exit status."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_shards():
    loader = importlib.machinery.SourceFileLoader("lab_shards", str(REPO / "lab" / "shards"))
    spec = importlib.util.spec_from_loader("lab_shards", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_files_are_dealt_longest_first_to_the_lightest_shard():
    shards = load_shards()
    cost = {"test_a.py": 900, "test_b.py": 800, "test_c.py": 300, "test_d.py": 200}
    files = [f"tests/xen/{n}" for n in ("test_a.py", "test_b.py", "test_c.py", "test_d.py",
                                        "test_new.py")]
    parts = shards.deal(files, cost, 2)
    # new counts as the median (550): a 900 -> 1; b 800 -> 2; new 550 -> 2 (1350);
    # c 300 -> 1 (1200); d 200 -> 1 (1400)
    assert parts == [["tests/xen/test_a.py", "tests/xen/test_c.py", "tests/xen/test_d.py"],
                     ["tests/xen/test_b.py", "tests/xen/test_new.py"]]
    assert shards.deal(files[:1], cost, 3) == [["tests/xen/test_a.py"]]  # no empty shard


def test_the_summary_starts_at_pytests_closing_sections():
    shards = load_shards()
    lines = ["a PASSED", "=== FAILURES ===", "trace", "=== 1 failed, 1 passed in 2s ==="]
    assert shards.summary(lines) == lines[1:]
    assert shards.summary(["x"] * 30) == ["x"] * 20


def test_shards_run_at_once_and_any_failure_fails_the_run(tmp_path):
    """A stand-in for lab/run: each shard sleeps 1 s and prints its files; the one given
    test_b fails. Both run at once (about 1 s, not 2), every line names its shard, and the
    run exits with the failing shard's status."""
    fake_run = tmp_path / "run"
    fake_run.write_text(
        "import sys, time\n"
        "files = [a for a in sys.argv if a.endswith('.py')]\n"
        "time.sleep(1)\n"
        "print('ran', *files, flush=True)\n"
        "sys.exit(3 if any('test_b' in f for f in files) else 0)\n")
    tests = tmp_path / "tests"
    tests.mkdir()
    for name in ("test_a.py", "test_b.py"):
        (tests / name).write_text("")
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, str(REPO / "lab" / "shards"), "--lab-run",
                          str(fake_run), "--tests", str(tests), "--durations",
                          str(tmp_path / "none.json"), "--", "pytest", "-q"],
                         capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    assert res.returncode == 3, res.stdout + res.stderr
    ran = [line for line in res.stdout.splitlines() if " ran " in line]
    assert len(ran) == 2, res.stdout
    assert {line.split()[0] for line in ran} == {"[xen-1]", "[xen-2]"}, ran
    assert "xen-1 exit" in res.stdout and "exit 3" in res.stdout, res.stdout
    assert took < 1.9, took  # side by side, not one after the other
