"""runc's ``events --stats`` data as containerd's cgroups v2 Metrics, the message a shim's
``Stats`` answers and containerd's CRI plugin turns into the kubelet's container stats.

The field numbers are the public contract of ``io.containerd.cgroups.v2.Metrics``
(containerd/cgroups, v2/stats/metrics.proto): Metrics {pids 1, cpu 2, memory 4}, PidsStat
{current 1, limit 2}, CPUStat {usage_usec 1, user_usec 2, system_usec 3, nr_periods 4,
nr_throttled 5, throttled_usec 6}, MemoryStat {the memory.stat keys 1-31, usage 32,
usage_limit 33, swap_usage 34, swap_limit 35}.
"""

from __future__ import annotations

from typing import Any

from edera_oci.shim.wire import Message, encode

TYPE_URL = "io.containerd.cgroups.v2.Metrics"

# memory.stat's keys, as cgroup v2 names them, to their MemoryStat field numbers.
MEMORY_STAT_FIELDS = {
    name: i for i, name in enumerate((
        "anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty",
        "file_writeback", "anon_thp", "inactive_anon", "active_anon", "inactive_file",
        "active_file", "unevictable", "slab_reclaimable", "slab_unreclaimable", "pgfault",
        "pgmajfault", "workingset_refault", "workingset_activate", "workingset_nodereclaim",
        "pgrefill", "pgscan", "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree",
        "pglazyfreed", "thp_fault_alloc", "thp_collapse_alloc"), start=1)
}
MEMORY_USAGE, MEMORY_LIMIT, SWAP_USAGE = 32, 33, 34


def _count(value: Any) -> int | None:
    """A counter as runc prints it: a non-negative integer that fits a uint64."""
    return value if type(value) is int and 0 <= value < 1 << 64 else None


def _fields(pairs: dict[int, Any]) -> Message:
    """The set, non-zero counters (proto3 leaves zeros off the wire)."""
    return {number: n for number, value in pairs.items() if (n := _count(value))}


def metrics(stats: dict[str, Any]) -> Message:
    """The Metrics message for runc's stats data (``{"cpu": ..., "memory": ..., "pids": ...}``)."""
    cpu = stats.get("cpu") or {}
    usage = cpu.get("usage") or {}
    throttling = cpu.get("throttling") or {}

    def usec(ns: Any) -> int | None:
        return n // 1000 if (n := _count(ns)) is not None else None

    cpu_stat = _fields({1: usec(usage.get("total")), 2: usec(usage.get("user")),
                        3: usec(usage.get("kernel")), 4: throttling.get("periods"),
                        5: throttling.get("throttledPeriods"),
                        6: usec(throttling.get("throttledTime"))})
    memory = stats.get("memory") or {}
    raw = memory.get("raw") or {}
    memory_stat = _fields({number: raw.get(name) for name, number in MEMORY_STAT_FIELDS.items()})
    memory_stat.update(_fields({
        MEMORY_USAGE: (memory.get("usage") or {}).get("usage"),
        MEMORY_LIMIT: (memory.get("usage") or {}).get("limit"),
        SWAP_USAGE: (memory.get("swap") or {}).get("usage"),
    }))
    pids = stats.get("pids") or {}
    message: Message = {}
    for number, part in ((1, _fields({1: pids.get("current"), 2: pids.get("limit")})),
                         (2, cpu_stat), (4, memory_stat)):
        if part:
            message[number] = part
    return message


def stats_response(stats: dict[str, Any]) -> bytes:
    """The task service's StatsResponse {stats: Any} for runc's stats data."""
    return encode({1: {1: TYPE_URL, 2: encode(metrics(stats))}})
