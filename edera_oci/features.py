"""The runtime-spec Features document of edera-oci (``edera-oci features``).

It must tell the truth: dockerd and others read it to decide what to ask for. So:

* ``mountOptions`` are the option names the zone mapping (``edera_oci.zone.records``)
  turns into mount flags; fs data options (``mode=755``, ``size=...``) pass through and are
  not listed, as the spec says.
* namespaces: those the workload really gets: the ones the zone init creates inside the zone
  (``edera_oci.zone.records.ZONE_NAMESPACES``: mount, PID, IPC, UTS, cgroup), and
  ``network``, which the zone's own network stack provides (the engine's netns is mirrored
  into it). ``user`` and ``time`` are refused at create.
* seccomp is applied by the zone init (libseccomp, static): the actions, architectures,
  flags and operators listed are those ``edera_oci.zone.seccomp`` lets through and the zone
  maps; ``SCMP_ACT_NOTIFY`` is not among them (no seccomp agent reaches a zone).
* AppArmor, SELinux, Intel RDT and idmapped mounts are not enforced in a zone:
  ``enabled: false``. The cgroup section is left out: resources size the zone rather
  than a host cgroup, and what the zone does inside is not a host cgroup either.
"""

from __future__ import annotations

from typing import Any

from edera_oci import __version__
from edera_oci.spec import HOOK_KINDS

OCI_VERSION_MIN = "1.0.0"

def features() -> dict[str, Any]:
    from edera_oci.validate import schema_version
    from edera_oci.zone import records, seccomp

    doc: dict[str, Any] = {
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": schema_version(),
        "hooks": list(HOOK_KINDS),
    }
    # What the zone mapping (edera_oci.zone.records) understands, so features cannot drift.
    doc["mountOptions"] = sorted(records.MOUNT_OPTIONS)
    doc["linux"] = {
        "namespaces": sorted((*records.ZONE_NAMESPACES, "network")),
        "capabilities": list(records.CAPABILITIES),
        "seccomp": {
            "enabled": True,
            "actions": list(seccomp.ACTIONS),
            "operators": list(seccomp.OPERATORS),
            "archs": list(seccomp.ARCHITECTURES),
            "knownFlags": list(seccomp.KNOWN_FLAGS),
            "supportedFlags": list(seccomp.FLAGS),
        },
        "apparmor": {"enabled": False},
        "selinux": {"enabled": False},
        "intelRdt": {"enabled": False},
        "mountExtensions": {"idmap": {"enabled": False}},
    }
    doc["annotations"] = {
        "dev.edera.oci.version": __version__,
        "dev.edera.oci.zone": "true",
    }
    return doc
