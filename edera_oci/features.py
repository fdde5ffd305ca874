"""The runtime-spec Features document of edera-oci (``edera-oci features``).

It must tell the truth: dockerd and others read it to decide what to ask for. So it is
derived from ``edera_oci.support``, the table of what a zone does with each config.json field:

* ``mountOptions``: the options whose row is ``applied`` (the flags the zone mapping,
  ``edera_oci.zone.records``, turns into mount flags, and ``defaults``); fs data options
  (``mode=755``, ``size=...``) pass through and are not listed, as the spec says.
* namespaces: the ``linux.namespaces[TYPE]`` rows that are ``applied``: those the zone init
  creates inside the zone (mount, PID, IPC, UTS, cgroup) and ``network``, which the zone's own
  network stack provides (the engine's netns is mirrored into it). ``user`` and ``time`` are
  refused at create.
* seccomp is applied by the zone init (libseccomp, static): the actions, architectures,
  flags and operators listed are those ``edera_oci.zone.seccomp`` lets through and the zone
  maps; ``SCMP_ACT_NOTIFY`` is not among them (no seccomp agent reaches a zone).
* AppArmor, SELinux, Intel RDT and idmapped mounts: ``enabled`` when their row is
  ``applied``. The cgroup section is left out: resources size the zone rather than a host
  cgroup, and what the zone does inside is not a host cgroup either.
"""

from __future__ import annotations

from typing import Any

from edera_oci import __version__
from edera_oci.spec import HOOK_KINDS

OCI_VERSION_MIN = "1.0.0"

def features() -> dict[str, Any]:
    from edera_oci import support
    from edera_oci.validate import schema_version
    from edera_oci.zone import records, seccomp

    doc: dict[str, Any] = {
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": schema_version(),
        "hooks": [kind for kind in HOOK_KINDS if support.enabled(f"hooks.{kind}")],
    }
    doc["mountOptions"] = support.mount_options()
    doc["linux"] = {
        "namespaces": support.namespaces(),
        "capabilities": list(records.CAPABILITIES),
        "seccomp": {
            "enabled": support.enabled("linux.seccomp"),
            "actions": list(seccomp.ACTIONS),
            "operators": list(seccomp.OPERATORS),
            "archs": list(seccomp.ARCHITECTURES),
            "knownFlags": list(seccomp.KNOWN_FLAGS),
            "supportedFlags": list(seccomp.FLAGS),
        },
        "apparmor": {"enabled": support.enabled("process.apparmorProfile")},
        "selinux": {"enabled": support.enabled("process.selinuxLabel")},
        "intelRdt": {"enabled": support.enabled("linux.intelRdt")},
        "mountExtensions": {"idmap": {"enabled": support.enabled("mounts[].uidMappings")}},
    }
    doc["annotations"] = {
        "dev.edera.oci.version": __version__,
        "dev.edera.oci.zone": "true",
    }
    return doc
