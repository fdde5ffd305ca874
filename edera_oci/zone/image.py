"""Find the zone image (kernel + initramfs) and refuse one built for another runtime."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from edera_oci import __version__
from edera_oci.errors import ZoneError

from .protocol import PROTOCOL_VERSION

SEARCH = (
    Path(__file__).resolve().parents[2] / "build" / "zone-image",  # a source checkout
    Path("/usr/lib/edera-oci/zone-image"),
)


@dataclass(frozen=True)
class ZoneImage:
    kernel: Path
    ramdisk: Path
    manifest: dict


def find_zone_image() -> ZoneImage:
    env = os.environ.get("EDERA_OCI_ZONE_IMAGE")
    candidates = [Path(env)] if env else list(SEARCH)
    for directory in candidates:
        manifest_path = directory / "manifest.json"
        if not manifest_path.exists():
            continue
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("protocol") != PROTOCOL_VERSION or \
                manifest.get("runtime_version") != __version__:
            raise ZoneError(
                f"the zone image in {directory} was built for edera-oci "
                f"{manifest.get('runtime_version')} (protocol {manifest.get('protocol')}), "
                f"this is {__version__} (protocol {PROTOCOL_VERSION}): run `make zone-image`"
            )
        return ZoneImage(directory / "vmlinux", directory / "initramfs.img", manifest)
    where = ", ".join(str(c) for c in candidates)
    raise ZoneError(f"no zone image found (looked in {where}): run `make zone-image` "
                    "or set EDERA_OCI_ZONE_IMAGE")
