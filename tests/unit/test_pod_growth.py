"""A pod's zone follows its containers (issue 14), on the host: the sizes a zone boots with
and may grow to, and the xl config that says so."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from edera_oci.errors import ZoneError
from edera_oci.lifecycle.backend import CreateRequest
from edera_oci.validate import load_bundle
from edera_oci.xen import domain
from edera_oci.zone import backend as zb
from edera_oci.zone import pod

from .conftest import minimal_config
from .test_create_shares import xen_host  # noqa: F401  (the fixture)

MiB = 1 << 20


# -- sizes ------------------------------------------------------------------------------------

def test_a_pods_zone_boots_at_its_size_and_may_grow_to_its_maximum(monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    # no annotations: 512 MiB and 2 vCPUs, growing to 2 GiB and 8 vCPUs; the struct pages of
    # the 1536 MiB headroom (1536 / 56 = 27.4) are added to the boot size
    assert pod.sandbox_size({}, pcpus=16) == pod.ZoneSize(512 + 28, 2048, 2, 8, 0)
    assert pod.sandbox_size({}, pcpus=4).max_vcpus == 4  # never more vCPUs than the host
    # the pod's limits: they are the containers' reserve
    size = pod.sandbox_size({"io.kubernetes.cri.sandbox-memory": str(300 * MiB),
                             "io.kubernetes.cri.sandbox-cpu-quota": "250000"}, pcpus=16)
    assert size == pod.ZoneSize(364 + 31, 2048, 3, 8, 300)
    # a small pod: Linux PV keeps at most 10 times its boot memory for ballooning
    small = pod.sandbox_size({"io.kubernetes.cri.sandbox-memory": str(16 * MiB)}, pcpus=1)
    assert small == pod.ZoneSize(128 + 21, 1280, 2, 2, 16)
    # a pod bigger than the maximum boots at its size and does not grow
    big = pod.sandbox_size({"io.kubernetes.cri.sandbox-memory": str(3000 * MiB)}, pcpus=2)
    assert (big.memory_mb, big.max_memory_mb) == (3064, 3064)


def test_a_zone_of_its_own_may_grow_a_little_and_keeps_its_size() -> None:
    """Any zone can be joined (podman's infra is a plain bundle): 256 MiB of headroom, whose
    struct pages come out of the zone's kernel overhead; no spare vCPU."""
    assert pod.plain_size(256, 1) == pod.ZoneSize(256, 512, 1, 1, 0)
    assert pod.plain_size(1088, 4) == pod.ZoneSize(1088, 1344, 4, 4, 0)


def test_a_recorded_zone_without_a_maximum_keeps_its_boot_size() -> None:
    """A zone created before zones grew (or a state with junk in it) cannot grow."""
    assert pod.ZoneSize.of({"memory_mb": 256, "vcpus": 1}) == pod.ZoneSize(256, 256, 1, 1, 0)
    assert pod.ZoneSize.of({"memory_mb": 256, "max_memory_mb": "lots", "vcpus": True,
                            "max_vcpus": -3}) == pod.ZoneSize(256, 256, 1, 1, 0)
    size = pod.ZoneSize(540, 2048, 2, 8, 300)
    assert pod.ZoneSize.of(size.record()) == size


def test_the_xl_config_has_the_boot_size_and_the_maximum() -> None:
    cfg = domain.DomainConfig(name="z", kernel=Path("/k"), ramdisk=Path("/r"), cmdline="c",
                              memory_mb=540, vcpus=2, max_memory_mb=2048, max_vcpus=8)
    lines = cfg.render().splitlines()
    assert {"memory = 540", "maxmem = 2048", "vcpus = 2", "maxvcpus = 8"} <= set(lines)
    plain = domain.DomainConfig(name="z", kernel=Path("/k"), ramdisk=Path("/r"), cmdline="c",
                                memory_mb=256, vcpus=1)
    assert {"maxmem = 256", "maxvcpus = 1"} <= set(plain.render().splitlines())


def test_a_plain_zone_is_built_with_its_headroom(tmp_path, make_bundle, xen_host) -> None:  # noqa: F811
    """create writes the growth into the xl config and the state: a zone of its own may grow
    by PLAIN_ZONE_GROWTH_MB for podman's pod members, with no spare vCPU."""
    bundle = make_bundle(minimal_config(linux={"resources": {"memory": {"limit": 128 * MiB}}}))
    state_dir = tmp_path / "run" / "c1"
    state_dir.mkdir(parents=True, mode=0o700)
    recorded: list[dict] = []
    req = CreateRequest(id="c1", bundle=str(bundle), state_dir=str(state_dir),
                        spec=load_bundle(str(bundle), for_create=True),
                        record_zone=lambda zone: recorded.append(copy.deepcopy(zone)))
    with pytest.raises(ZoneError, match="building the zone failed"):
        zb.XenZoneBackend().create(req, lambda state: None)
    cfg = (Path(req.state_dir) / "zone.cfg").read_text().splitlines()
    assert {"memory = 192", "maxmem = 448", "vcpus = 1", "maxvcpus = 1"} <= set(cfg)
    assert recorded[0]["memory_mb"] == 192 and recorded[0]["max_memory_mb"] == 448
