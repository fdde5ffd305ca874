"""A failing poststart hook is a warning (runtime-spec): the next hooks run, ``start``
succeeds and the container keeps running."""

from __future__ import annotations

from edera_oci.lifecycle.container_create import create
from edera_oci.lifecycle.container_start import start
from edera_oci.lifecycle.container_state import container_state
from edera_oci.logs import log
from tests.unit.conftest import minimal_config


def test_failing_poststart_warns_and_the_lifecycle_goes_on(rt, fake, make_bundle, tmp_path,
                                                         capsys):
    ran = tmp_path / "ran"
    cfg = minimal_config(hooks={"poststart": [
        {"path": "/bin/sh", "args": ["sh", "-c", "echo broken >&2; exit 4"]},
        {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {ran}"]},
    ]})
    log.configure(None, "text", False)
    create(rt, "c", str(make_bundle(cfg)))
    start(rt, "c")  # does not raise
    err = capsys.readouterr().err
    assert "warning: poststart hook /bin/sh failed (exit status 4): broken" in err
    assert '"status": "running"' in ran.read_text()  # the next hook ran, with the state
    assert container_state(rt.root, "c", rt)["status"] == "running"
    assert not [c for c in fake.calls if c[0] == "signal"]  # nothing was killed
    assert rt.store.load("c").started is not None
