"""Hook execution: argv, env, stdin, timeout, failure reporting."""

from __future__ import annotations

import json
import os
import time

import pytest

from edera_oci.errors import HookError
from edera_oci.hooks import run_hook, run_hooks
from edera_oci.spec import Hook

STATE = {"ociVersion": "1.2.0", "id": "c", "status": "created", "pid": 1, "bundle": "/b"}


def test_stdin_args_and_env(tmp_path):
    out = tmp_path / "out"
    script = ('argv0=$(tr "\\0" " " < /proc/$$/cmdline | cut -d" " -f1); '
              'echo "$argv0 $1 [$FOO] [$HOME]" > "$2"; cat >> "$2"')
    hook = Hook(path="/bin/sh", args=("my-name", "-c", script, "zero", "x", str(out)),
                env=("FOO=bar",))
    run_hook("prestart", hook, STATE)
    first, rest = out.read_text().split("\n", 1)
    assert first == "my-name x [bar] []"  # env replaces the environment entirely
    assert json.loads(rest) == STATE


def test_without_env_the_runtime_environment_is_inherited(tmp_path, monkeypatch):
    monkeypatch.setenv("EDERA_TEST_VAR", "inherited")
    out = tmp_path / "out"
    hook = Hook(path="/bin/sh", args=("sh", "-c", f'echo "$EDERA_TEST_VAR" > {out}'))
    run_hook("poststart", hook, STATE)
    assert out.read_text().strip() == "inherited"


def test_without_args_argv0_is_the_path(tmp_path):
    script = tmp_path / "hook.sh"
    out = tmp_path / "out"
    script.write_text(f'#!/bin/sh\necho "$0" > {out}\n')
    script.chmod(0o755)
    run_hook("prestart", Hook(path=str(script)), STATE)
    assert out.read_text().strip() == str(script)


def test_failure_reports_code_and_output():
    hook = Hook(path="/bin/sh", args=("sh", "-c", "echo broken >&2; exit 4"))
    with pytest.raises(HookError) as err:
        run_hook("createRuntime", hook, STATE)
    assert str(err.value) == "createRuntime hook /bin/sh failed (exit status 4): broken"


def test_missing_hook_binary():
    with pytest.raises(HookError, match="cannot run it"):
        run_hook("prestart", Hook(path="/nonexistent/hook"), STATE)


def test_timeout_kills_the_hook_and_its_children(tmp_path):
    marker = tmp_path / "survived"
    hook = Hook(path="/bin/sh",
                args=("sh", "-c", f"(sleep 3; touch {marker}) & sleep 30"), timeout=1)
    t0 = time.monotonic()
    with pytest.raises(HookError, match="timed out after 1s"):
        run_hook("prestart", hook, STATE)
    assert time.monotonic() - t0 < 5
    time.sleep(3.5)
    assert not marker.exists()


def test_a_daemon_left_behind_does_not_hang(tmp_path):
    hook = Hook(path="/bin/sh", args=("sh", "-c", "sleep 5 & exit 0"))
    t0 = time.monotonic()
    run_hook("poststart", hook, STATE)
    assert time.monotonic() - t0 < 3


def test_hook_that_ignores_stdin_is_fine():
    big = dict(STATE, annotations={f"k{i}": "v" * 100 for i in range(2000)})
    run_hook("prestart", Hook(path="/bin/true"), big)


def test_run_hooks_stops_at_first_failure_except_poststop(tmp_path, capsys):
    out = tmp_path / "ran"
    hooks = [Hook(path="/bin/false"), Hook(path="/bin/sh", args=("sh", "-c", f"touch {out}"))]
    with pytest.raises(HookError):
        run_hooks("prestart", hooks, STATE)
    assert not out.exists()
    run_hooks("poststop", hooks, STATE)
    assert out.exists()
    assert "warning: poststop hook /bin/false failed" in capsys.readouterr().err
    with pytest.raises(ValueError):
        run_hooks("afterparty", [], STATE)


def test_hook_does_not_inherit_runtime_fds(tmp_path):
    r, w = os.pipe()
    os.set_inheritable(w, True)
    out = tmp_path / "fds"
    try:
        run_hook("prestart", Hook(path="/bin/sh", args=("sh", "-c", f"ls /proc/self/fd > {out}")),
                 STATE)
    finally:
        os.close(r)
        os.close(w)
    fds = set(out.read_text().split())
    assert str(w) not in fds or w <= 2
