"""linux.seccomp for a zone: what the zone init's libseccomp applies, the checks that refuse
the rest (naming the field), and the SECCOMP_* records (zone_image/PROTOCOL.md).

The zone init builds the filter with libseccomp (Debian 12's 2.5.4, linked statically) with
runc's semantics: ``SCMP_ACT_KILL`` is ``KILL_THREAD``; ``errnoRet`` defaults to EPERM for
``SCMP_ACT_ERRNO`` and ``SCMP_ACT_TRACE``; syscall names libseccomp does not know are skipped;
rules that repeat the default action are skipped. ``SCMP_ACT_NOTIFY`` and ``listenerPath``
need a seccomp agent on the host, which cannot reach a process inside a zone: refused.
"""

from __future__ import annotations

from typing import Any

from .protocol import Tag

# The names the zone init maps (zone_image/init/config.c, seccomp_action).
ACTIONS = (
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",
)
# Every runtime-spec architecture is known to libseccomp 2.5.4 (the C unit tests check it).
ARCHITECTURES = (
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
)
# WAIT_KILLABLE_RECV only changes how a notifying filter waits for its agent (and needs
# libseccomp 2.6): there is no agent in a zone.
FLAGS = (
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
)
KNOWN_FLAGS = (*FLAGS, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
OPERATORS = (
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)
# libseccomp carries the errno of ERRNO/TRACE in 16 bits.
MAX_ERRNO_RET = 0xFFFF
SYSCALL_ARGS = 6

NO_AGENT = "a zone has no seccomp agent (SCMP_ACT_NOTIFY needs one on the host)"


def _action_errors(action: Any, field: str) -> list[str]:
    if action == "SCMP_ACT_NOTIFY":
        return [f"{field}: SCMP_ACT_NOTIFY is not supported: {NO_AGENT}"]
    if action not in ACTIONS:
        return [f"{field}: {action!r} is not a seccomp action ({', '.join(ACTIONS)})"]
    return []


def _errno_errors(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ERRNO_RET:
        return [f"{field}: {value!r} is not an errno in 0..{MAX_ERRNO_RET}"]
    return []


def seccomp_errors(seccomp: Any, field: str = "linux.seccomp") -> list[str]:
    """Why a zone cannot apply this linux.seccomp, one message per field; [] when it can."""
    if seccomp is None:
        return []
    if not isinstance(seccomp, dict):
        return [f"{field}: must be an object"]
    errors = _action_errors(seccomp.get("defaultAction"), f"{field}.defaultAction")
    errors += _errno_errors(seccomp.get("defaultErrnoRet"), f"{field}.defaultErrnoRet")
    if seccomp.get("listenerPath"):
        errors.append(f"{field}.listenerPath: {NO_AGENT}")
    for i, arch in enumerate(seccomp.get("architectures") or []):
        if arch not in ARCHITECTURES:
            errors.append(f"{field}.architectures[{i}]: {arch!r} is not an architecture "
                          "the zone's libseccomp knows")
    for i, flag in enumerate(seccomp.get("flags") or []):
        if flag not in FLAGS:
            errors.append(f"{field}.flags[{i}]: {flag!r} is not supported in a zone "
                          f"({', '.join(FLAGS)})")
    syscalls = seccomp.get("syscalls") or []
    for i, rule in enumerate(syscalls if isinstance(syscalls, list) else []):
        where = f"{field}.syscalls[{i}]"
        if not isinstance(rule, dict):
            errors.append(f"{where}: must be an object")
            continue
        errors += _action_errors(rule.get("action"), f"{where}.action")
        errors += _errno_errors(rule.get("errnoRet"), f"{where}.errnoRet")
        names = rule.get("names")
        if not isinstance(names, list) or not names:
            errors.append(f"{where}.names: must be a non-empty array")
            names = []
        for k, name in enumerate(names):
            if not isinstance(name, str) or not name or "," in name or "\0" in name:
                errors.append(f"{where}.names[{k}]: {name!r} is not a syscall name")
        for j, arg in enumerate(rule.get("args") or []):
            at = f"{where}.args[{j}]"
            if not isinstance(arg, dict):
                errors.append(f"{at}: must be an object")
                continue
            index = arg.get("index")
            if not isinstance(index, int) or not 0 <= index < SYSCALL_ARGS:
                errors.append(f"{at}.index: {index!r} is not a syscall argument "
                              f"(0..{SYSCALL_ARGS - 1})")
            for key in ("value", "valueTwo"):
                v = arg.get(key, 0)
                if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 64:
                    errors.append(f"{at}.{key}: {v!r} is not a 64-bit unsigned number")
            if arg.get("op") not in OPERATORS:
                errors.append(f"{at}.op: {arg.get('op')!r} is not a seccomp operator "
                              f"({', '.join(OPERATORS)})")
    return errors


def _errno_field(value: Any) -> str:
    return "" if value is None else str(int(value))


def seccomp_records(seccomp: dict[str, Any] | None) -> list[tuple[int, Any]]:
    """The SECCOMP_* records of linux.seccomp ([] when there is none: no filter).

    The caller has validated it (``seccomp_errors``); a config that slipped past raises
    ValueError rather than send the zone something it would refuse later."""
    if seccomp is None:
        return []
    errors = seccomp_errors(seccomp)
    if errors:
        raise ValueError(errors[0])
    recs: list[tuple[int, Any]] = [
        (Tag.SECCOMP_DEFAULT, [seccomp["defaultAction"],
                               _errno_field(seccomp.get("defaultErrnoRet"))]),
    ]
    recs += [(Tag.SECCOMP_ARCH, a) for a in seccomp.get("architectures") or []]
    recs += [(Tag.SECCOMP_FLAG, f) for f in seccomp.get("flags") or []]
    for rule in seccomp.get("syscalls") or []:
        fields: list[Any] = [rule["action"], _errno_field(rule.get("errnoRet")),
                             ",".join(rule["names"])]
        for arg in rule.get("args") or []:
            fields += [int(arg["index"]), int(arg["value"]), int(arg.get("valueTwo", 0)),
                       arg["op"]]
        recs.append((Tag.SECCOMP_SYSCALL, fields))
    return recs
