"""Typed view of a validated ``config.json`` (OCI runtime-spec), for the parts edera-oci uses.

Built by :meth:`Spec.from_dict` from a dict that ``edera_oci.validate`` has already checked
against the vendored schemas, so the constructors here only pick fields and fill the spec's
defaults; they do not re-validate. Each object keeps its ``raw`` dict too: the zone backend
may need fields that are not modelled here, and ``state`` / hooks must see the config as
written. Pure data: no I/O, no heavy imports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(value) if value else ()


@dataclass(frozen=True)
class User:
    """Who the container process runs as: the zone init sets these ids before exec."""

    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()
    username: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> User:
        d = d or {}
        return cls(
            uid=d.get("uid", 0),
            gid=d.get("gid", 0),
            umask=d.get("umask"),
            additional_gids=tuple(d.get("additionalGids") or ()),
            username=d.get("username"),
        )


@dataclass(frozen=True)
class Rlimit:
    """One POSIX rlimit, applied by the zone init to the container process."""

    type: str
    soft: int
    hard: int

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Rlimit:
        return cls(type=d["type"], soft=d["soft"], hard=d["hard"])


@dataclass(frozen=True)
class Capabilities:
    """The five Linux capability sets of the container process (names like ``CAP_KILL``)."""

    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Capabilities:
        return cls(
            bounding=_strs(d.get("bounding")),
            effective=_strs(d.get("effective")),
            inheritable=_strs(d.get("inheritable")),
            permitted=_strs(d.get("permitted")),
            ambient=_strs(d.get("ambient")),
        )

    def all_names(self) -> set[str]:
        return {
            *self.bounding,
            *self.effective,
            *self.inheritable,
            *self.permitted,
            *self.ambient,
        }


@dataclass(frozen=True)
class ConsoleSize:
    """Initial terminal size (characters), used only when ``terminal`` is true."""

    height: int
    width: int


@dataclass(frozen=True)
class Process:
    """The container's process (``config.json`` ``process``), also the ``exec --process`` JSON.

    ``args`` is what the zone init execs at ``start``; ``terminal`` decides whether a pty is
    handed back over ``--console-socket``.
    """

    args: tuple[str, ...]
    cwd: str
    env: tuple[str, ...] = ()
    terminal: bool = False
    user: User = field(default_factory=User)
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None
    console_size: ConsoleSize | None = None
    apparmor_profile: str | None = None
    selinux_label: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Process:
        caps = d.get("capabilities")
        size = d.get("consoleSize")
        return cls(
            args=_strs(d.get("args")),
            cwd=d.get("cwd", "/"),
            env=_strs(d.get("env")),
            terminal=bool(d.get("terminal", False)),
            user=User.from_dict(d.get("user")),
            capabilities=Capabilities.from_dict(caps) if caps is not None else None,
            rlimits=tuple(Rlimit.from_dict(r) for r in d.get("rlimits") or ()),
            no_new_privileges=bool(d.get("noNewPrivileges", False)),
            oom_score_adj=d.get("oomScoreAdj"),
            console_size=ConsoleSize(size["height"], size["width"]) if size else None,
            apparmor_profile=d.get("apparmorProfile"),
            selinux_label=d.get("selinuxLabel"),
            raw=d,
        )

    def env_dict(self) -> dict[str, str]:
        """``env`` as a dict (later entries win, like execve's consumers see it)."""
        out: dict[str, str] = {}
        for item in self.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out


@dataclass(frozen=True)
class Mount:
    """One entry of ``mounts``: made inside the zone, or a host directory shared into it."""

    destination: str
    type: str | None = None
    source: str | None = None
    options: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Mount:
        return cls(
            destination=d["destination"],
            type=d.get("type"),
            source=d.get("source"),
            options=_strs(d.get("options")),
            raw=d,
        )

    @property
    def is_bind(self) -> bool:
        return self.type == "bind" or any(o in ("bind", "rbind") for o in self.options)


@dataclass(frozen=True)
class Hook:
    """One OCI hook: run on the host with the container state JSON on stdin."""

    path: str
    args: tuple[str, ...] | None = None
    env: tuple[str, ...] | None = None
    timeout: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Hook:
        args = d.get("args")
        env = d.get("env")
        return cls(
            path=d["path"],
            args=tuple(args) if args is not None else None,
            env=tuple(env) if env is not None else None,
            timeout=d.get("timeout"),
        )


HOOK_KINDS = (
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
)


@dataclass(frozen=True)
class Hooks:
    """The six hook lists, in the runtime-spec's names (``createRuntime`` etc.)."""

    prestart: tuple[Hook, ...] = ()
    createRuntime: tuple[Hook, ...] = ()  # the runtime-spec's own key names
    createContainer: tuple[Hook, ...] = ()
    startContainer: tuple[Hook, ...] = ()
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Hooks:
        d = d or {}
        return cls(**{k: tuple(Hook.from_dict(h) for h in d.get(k) or ()) for k in HOOK_KINDS})

    def of(self, kind: str) -> tuple[Hook, ...]:
        if kind not in HOOK_KINDS:
            raise KeyError(kind)
        return getattr(self, kind)


@dataclass(frozen=True)
class Root:
    """The container's root filesystem; ``path`` is absolute (resolved against the bundle)."""

    path: str
    readonly: bool = False


@dataclass(frozen=True)
class Namespace:
    """A requested namespace; ``path`` joins an existing one (podman's netns path)."""

    type: str
    path: str | None = None


@dataclass(frozen=True)
class CpuResources:
    """CPU limits; the backend maps them onto the zone's vCPUs and scheduler weight."""

    shares: int | None = None
    quota: int | None = None
    period: int | None = None
    cpus: str | None = None
    mems: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CpuResources:
        return cls(d.get("shares"), d.get("quota"), d.get("period"), d.get("cpus"), d.get("mems"))


@dataclass(frozen=True)
class MemoryResources:
    """Memory limits in bytes; the backend sizes the zone's RAM from ``limit``."""

    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    swappiness: int | None = None
    disable_oom_killer: bool | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MemoryResources:
        return cls(
            limit=d.get("limit"),
            reservation=d.get("reservation"),
            swap=d.get("swap"),
            swappiness=d.get("swappiness"),
            disable_oom_killer=d.get("disableOOMKiller"),
        )


@dataclass(frozen=True)
class Resources:
    """``linux.resources``: the parts modelled here plus ``raw`` for ``update`` and the rest."""

    cpu: CpuResources | None = None
    memory: MemoryResources | None = None
    pids_limit: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Resources:
        d = d or {}
        return cls(
            cpu=CpuResources.from_dict(d["cpu"]) if "cpu" in d else None,
            memory=MemoryResources.from_dict(d["memory"]) if "memory" in d else None,
            pids_limit=(d.get("pids") or {}).get("limit"),
            raw=d,
        )


@dataclass(frozen=True)
class Linux:
    """``linux``: namespaces, resources, sysctls and the path masks the zone init applies."""

    namespaces: tuple[Namespace, ...] = ()
    resources: Resources = field(default_factory=Resources)
    sysctl: dict[str, str] = field(default_factory=dict)
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    cgroups_path: str | None = None
    rootfs_propagation: str | None = None
    seccomp: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Linux:
        d = d or {}
        return cls(
            namespaces=tuple(
                Namespace(n["type"], n.get("path")) for n in d.get("namespaces") or ()
            ),
            resources=Resources.from_dict(d.get("resources")),
            sysctl=dict(d.get("sysctl") or {}),
            masked_paths=_strs(d.get("maskedPaths")),
            readonly_paths=_strs(d.get("readonlyPaths")),
            cgroups_path=d.get("cgroupsPath"),
            rootfs_propagation=d.get("rootfsPropagation"),
            seccomp=d.get("seccomp"),
            raw=d,
        )

    def namespace(self, ns_type: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == ns_type:
                return ns
        return None


@dataclass(frozen=True)
class Spec:
    """A whole ``config.json``, as the runtime uses it (see the module docstring)."""

    oci_version: str
    root: Root | None
    process: Process | None
    hostname: str | None = None
    domainname: str | None = None
    mounts: tuple[Mount, ...] = ()
    hooks: Hooks = field(default_factory=Hooks)
    linux: Linux = field(default_factory=Linux)
    annotations: dict[str, str] = field(default_factory=dict)
    bundle: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any], bundle: str | None = None) -> Spec:
        """Build from a validated config dict; ``root.path`` is resolved against ``bundle``."""
        root = None
        if "root" in d:
            path = d["root"]["path"]
            if bundle is not None and not os.path.isabs(path):
                path = os.path.normpath(os.path.join(bundle, path))
            root = Root(path=path, readonly=bool(d["root"].get("readonly", False)))
        return cls(
            oci_version=d["ociVersion"],
            root=root,
            process=Process.from_dict(d["process"]) if "process" in d else None,
            hostname=d.get("hostname"),
            domainname=d.get("domainname"),
            mounts=tuple(Mount.from_dict(m) for m in d.get("mounts") or ()),
            hooks=Hooks.from_dict(d.get("hooks")),
            linux=Linux.from_dict(d.get("linux")),
            annotations=dict(d.get("annotations") or {}),
            bundle=bundle,
            raw=d,
        )
