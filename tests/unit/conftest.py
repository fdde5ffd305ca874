from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edera_oci.lifecycle.common import Runtime
from tests.unit.fake_backend import FakeBackend

REPO = Path(__file__).resolve().parents[2]


def minimal_config(**overrides) -> dict:
    cfg = {
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "process": {"terminal": False, "cwd": "/", "args": ["/bin/true"]},
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture
def make_bundle(tmp_path):
    """make_bundle(config=None, name="bundle") -> bundle dir with rootfs/ and config.json."""
    counter = [0]

    def make(config: dict | None = None, name: str | None = None) -> Path:
        counter[0] += 1
        bundle = tmp_path / (name or f"bundle{counter[0]}")
        (bundle / "rootfs").mkdir(parents=True)
        (bundle / "config.json").write_text(json.dumps(config or minimal_config()))
        return bundle

    return make


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "state-root"


@pytest.fixture
def fake():
    backend = FakeBackend()
    yield backend
    backend.close()


@pytest.fixture
def rt(root, fake) -> Runtime:
    return Runtime(str(root), backend=fake)


@pytest.fixture
def cli_fake(fake, monkeypatch):
    """Make the CLI (which builds its own Runtime) use the fake backend."""
    monkeypatch.setattr("edera_oci.lifecycle.common.get_backend", lambda: fake)
    return fake


def tree(path: Path) -> list[str]:
    """Every path under ``path`` (relative), to check that nothing was left behind."""
    if not path.exists():
        return []
    return sorted(os.path.relpath(os.path.join(d, f), path)
                  for d, dirs, files in os.walk(path) for f in dirs + files)


@pytest.fixture(autouse=True)
def keep_umask():
    """``main()`` sets the process umask (077) as the real CLI does: give it back after each
    test, so that tests stay independent of the order they run in."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


@pytest.fixture(autouse=True)
def reset_logger():
    """main() configures the process-wide logger; the next test starts from the default."""
    yield
    from edera_oci.logs import log

    log.configure(None, "text", False)


def run_cli(capsys, *args):
    """edera-oci's main() in this process: (exit status, stdout, stderr)."""
    from edera_oci.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (0 if code is None else code), out, err
