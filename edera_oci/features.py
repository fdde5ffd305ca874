"""The runtime-spec Features document of edera-oci (``edera-oci features``).

It must tell the truth: dockerd and others read it to decide what to ask for. So:

* ``mountOptions`` are the option names the zone mapping (``edera_oci.zone.records``)
  turns into mount flags; fs data options (``mode=755``, ``size=...``) pass through and are
  not listed, as the spec says.
* namespaces: the zone is the isolation boundary; the types in
  ``edera_oci.validate.SUPPORTED_NAMESPACES`` are accepted (a ``network`` path is how
  podman hands over its netns), ``user`` and ``time`` are refused at create.
* seccomp, AppArmor, SELinux, Intel RDT and idmapped mounts are not enforced in a zone:
  ``enabled: false``. The cgroup section is left out: resources size the zone rather
  than a host cgroup, and what the zone does inside is not a host cgroup either.
"""

from __future__ import annotations

from typing import Any

from edera_oci import __version__
from edera_oci.spec import HOOK_KINDS

OCI_VERSION_MIN = "1.0.0"

CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip


def mount_options() -> list[str] | None:
    """Mount option names the zone mapping understands; None if it is not installed."""
    try:
        from edera_oci.zone import records
    except ImportError:
        return None
    return sorted(records.MOUNT_OPTIONS)


def capabilities() -> list[str]:
    try:
        from edera_oci.zone import records
    except ImportError:
        return list(CAPABILITIES)
    return list(records.CAPABILITIES)


def features() -> dict[str, Any]:
    from edera_oci.validate import SUPPORTED_NAMESPACES, schema_version

    doc: dict[str, Any] = {
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": schema_version(),
        "hooks": list(HOOK_KINDS),
    }
    options = mount_options()
    if options is not None:
        doc["mountOptions"] = options
    doc["linux"] = {
        "namespaces": list(SUPPORTED_NAMESPACES),
        "capabilities": capabilities(),
        "seccomp": {"enabled": False},
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
