"""The hotplug scripts libxl runs for a zone's devices, small because they run on every create
and destroy.

Debian's own `block` script takes a global lock and checks every other domain's disks for
sharing before it sets up a loop device. A zone's disk images are its own files, made for it
and never shared, and under emulation that check cost about 2.5 s per disk at create and
1.2 s at destroy. The runtime's script does just the work: a loop device for the image and
its numbers for blkback. On remove it does nothing: the runtime's teardown frees the loop
device once the domain is gone. The vif script only reports
success, because the runtime moves and wires the vif itself (edera_oci.zone.network).
"""

from __future__ import annotations

import os
from pathlib import Path

SCRIPT_DIR = Path("/var/lib/edera-oci")

BLOCK_SCRIPT = """#!/bin/sh
# edera-oci's block hotplug script: the zone's disk image gets a loop device of its own.
case "$1" in
    add)
        file=$(xenstore-read "$XENBUS_PATH/params") || exit 1
        mode=$(xenstore-read "$XENBUS_PATH/mode")
        ro=; [ "$mode" = r ] && ro=-r
        dev=$(losetup $ro -f --show "$file") || exit 1
        xenstore-write "$XENBUS_PATH/node" "$dev" \\
            "$XENBUS_PATH/physical-device" "$(stat -L -c %t:%T "$dev")" \\
            "$XENBUS_PATH/physical-device-path" "$dev" \\
            "$XENBUS_PATH/hotplug-status" connected ;;
    remove)
        # the runtime frees the loop device right after the domain is gone (disks.py):
        # one ioctl there, where this would take three processes on every destroy
        ;;
esac
exit 0
"""

VIF_SCRIPT = """#!/bin/sh
# edera-oci's vif hotplug script: the runtime moves the vif into the container's netns itself.
case "$1" in
    online|add) ip link set "$vif" up 2>/dev/null
                xenstore-write "$XENBUS_PATH/hotplug-status" connected ;;
    offline|remove) xenstore-rm "$XENBUS_PATH/hotplug-status" 2>/dev/null ;;
esac
exit 0
"""


def ensure_script(name: str, text: str) -> Path:
    """The script at SCRIPT_DIR/name with exactly this text, replaced atomically if not."""
    path = SCRIPT_DIR / name
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.rename(tmp, path)
    return path


def block_script() -> Path:
    return ensure_script("block-hotplug", BLOCK_SCRIPT)


def vif_script() -> Path:
    return ensure_script("vif-hotplug", VIF_SCRIPT)
