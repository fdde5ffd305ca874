"""The zone's disk images against real loop devices on the host (the runtime frees them itself)."""

from __future__ import annotations

import subprocess

import pytest

from edera_oci.zone import disks


def attach(image) -> str:
    return subprocess.run(["losetup", "-f", "--show", str(image)], check=True,
                          capture_output=True, text=True).stdout.strip()


def losetup_lists(image) -> list[str]:
    out = subprocess.run(["losetup", "-j", str(image)], check=True, capture_output=True,
                         text=True).stdout
    return [ln.split(":", 1)[0] for ln in out.splitlines() if ln]


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "root.ext4"
    path.write_bytes(b"\0" * (1 << 20))
    yield path
    for dev in losetup_lists(path):  # a failed test must not leak a loop device
        subprocess.run(["losetup", "-d", dev], capture_output=True)


def test_loops_of_an_image_are_found_and_freed(image, tmp_path):
    other = tmp_path / "other.ext4"
    other.write_bytes(b"\0" * (1 << 20))
    first, second, foreign = attach(image), attach(image), attach(other)
    try:
        assert sorted(disks.loops_backing(image)) == sorted([first, second])
        disks.detach_loops(image)
        assert losetup_lists(image) == []
        assert losetup_lists(other) == [foreign]  # another image's device is left alone
    finally:
        subprocess.run(["losetup", "-d", foreign], capture_output=True)


def test_a_deleted_image_is_still_found(image):
    dev = attach(image)
    image.unlink()  # sysfs then says "<path> (deleted)"
    assert disks.loops_backing(image) == [dev]
    disks.detach_loops(image)
    assert disks.loops_backing(image) == []


def test_an_image_without_loops_is_a_no_op(image):
    assert disks.loops_backing(image) == []
    disks.detach_loops(image)
