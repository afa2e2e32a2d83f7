"""CPU threads for a shared machine: use the cores that other processes leave free.

On a 2-core laptop with a browser or a second notebook busy beside it, torch's default of one
OpenMP thread per core makes every parallel op wait for a core that another process holds
(measured in ``benchmarks/RESULTS.md``). ``choose_threads()`` samples how busy the machine is
*before* our own work starts and keeps only the free cores.
"""
from __future__ import annotations

import os
import time
from typing import Optional

import torch

# torch's own default (one thread per physical core), read before anyone changes it.
DEFAULT_THREADS = torch.get_num_threads()


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's quota), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _cpu_jiffies() -> Optional[tuple[int, int]]:
    """(busy, total) jiffies of the whole machine from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def busy_cores_elsewhere(interval: float = 0.25) -> float:
    """How many cores other processes kept busy during ``interval`` seconds (0.0 when unknown)."""
    first = _cpu_jiffies()
    if first is None:
        return 0.0
    own_start, wall_start = time.process_time(), time.perf_counter()
    time.sleep(interval)
    second = _cpu_jiffies()
    own = time.process_time() - own_start
    wall = time.perf_counter() - wall_start
    busy, total = second[0] - first[0], second[1] - first[1]
    if total <= 0 or wall <= 0:
        return 0.0
    ncpu = os.cpu_count() or 1
    return max(0.0, busy / total * ncpu - own / wall)


def choose_threads(max_threads: Optional[int] = None, interval: float = 0.25) -> int:
    """Threads for torch: the free cores (cores minus what other processes use), 1 at least.

    ``max_threads`` caps the answer (default: torch's own default, one per physical core).
    """
    cap = max_threads or DEFAULT_THREADS
    free = available_cores() - int(busy_cores_elsewhere(interval) + 0.5)
    return max(1, min(cap, free))
