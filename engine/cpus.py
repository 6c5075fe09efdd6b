"""The CPUs this process may use, and one job's share of them.

"The CPUs this process may use" is the smaller of its CPU affinity and its cgroup CPU quota
(cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``): a container limited
to 2 CPUs on a 64-core host sees 64 in ``os.cpu_count()``, and 64 threads sharing 2 CPUs
spend their time waiting for each other. ``OMP_NUM_THREADS``, when set, caps a job's share too:
it is how a worker running several jobs at once gives each job its share
(``default_threads(jobs=...)``), and how a user asks for fewer.

Every thread count in the engine starts here: torch's intra-op threads (``engine.models.threads``)
and the transformer's column threads alike.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

from engine.errors import ConfigError

CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")
# Directories under the cgroup root where a v1 ``cpu`` controller is mounted, by distribution habit.
_V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def parse_cpu_max(text: str) -> float | None:
    """CPUs a cgroup v2 ``cpu.max`` file allows (``"150000 100000"`` -> 1.5); None: no quota or unreadable text."""
    fields = text.split()
    if not fields or fields[0] == "max":
        return None
    try:
        quota = int(fields[0])
        period = int(fields[1]) if len(fields) > 1 else 100_000
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def parse_cfs_quota(quota_text: str, period_text: str) -> float | None:
    """CPUs a cgroup v1 quota allows (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``); None: ``-1`` (no quota) or unreadable."""
    try:
        quota, period = int(quota_text.strip()), int(period_text.strip())
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def _quota_at(directory: Path, *, v2: bool) -> float | None:
    """The quota one cgroup directory sets (None: none, or no such files)."""
    if v2:
        text = _read(directory / "cpu.max")
        return None if text is None else parse_cpu_max(text)
    quota, period = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
    return None if quota is None or period is None else parse_cfs_quota(quota, period)


def _levels(mount: Path, cgroup_path: str) -> list[Path]:
    """``mount/cgroup_path`` and every directory above it up to ``mount`` (a parent's quota binds its children)."""
    parts = [p for p in cgroup_path.split("/") if p and p not in (".", "..")]
    return [mount.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def cgroup_cpu_limit(*, root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP) -> float | None:
    """CPUs the cgroup quota of this process allows (e.g. 1.5); None when no quota applies or none can be read.

    ``self_cgroup`` is ``/proc/self/cgroup``: ``0::PATH`` names the cgroup v2 group, ``N:cpu,...:PATH``
    the v1 ``cpu`` group. The quota of the group and of every group above it counts (the
    smallest binds). Inside a container the group's path may not exist under the container's
    view of ``root``, whose top level is then the container's own group: every level that
    exists is read.
    """
    text = _read(self_cgroup)
    limits: list[float] = []
    for line in (text or "").splitlines():
        _, _, rest = line.partition(":")
        controllers, _, cgroup_path = rest.partition(":")
        if controllers == "":  # cgroup v2: the unified hierarchy, at the root or (hybrid systems) under unified/
            candidates = [(root, True), (root / "unified", True)]
        elif "cpu" in controllers.split(","):
            candidates = [(root / name, False) for name in dict.fromkeys((controllers, *_V1_CPU_MOUNTS))]
        else:
            continue
        for mount, v2 in candidates:
            for directory in _levels(mount, cgroup_path):
                limit = _quota_at(directory, v2=v2)
                if limit is not None:
                    limits.append(limit)
    return min(limits) if limits else None


@lru_cache(maxsize=1)
def _own_cgroup_cpus() -> int | None:
    """Whole CPUs this process's cgroup quota pays for (at least 1; None: no quota); read once per process."""
    limit = cgroup_cpu_limit()
    return None if limit is None else max(1, math.floor(limit + 1e-9))


def machine_threads() -> int:
    """The CPUs this process may use: its affinity (else ``os.cpu_count()``), no more than its cgroup quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _own_cgroup_cpus()
    return max(1, min(cpus, quota) if quota is not None else cpus)


def _omp_num_threads() -> int | None:
    """The first level of ``OMP_NUM_THREADS`` (``"4"`` or ``"4,2"``); None when unset or not a positive number."""
    text = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def default_threads(*, jobs: int = 1) -> int:
    """torch threads for one of ``jobs`` fits or sampling calls running at once in this process's CPUs.

    The CPUs this process may use (``machine_threads``) shared evenly, at least one each, and no
    more than ``OMP_NUM_THREADS`` when that is set. What a model uses when ``num_threads`` is None.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be a whole number of at least 1; got {jobs!r}")
    share = max(1, machine_threads() // jobs)
    cap = _omp_num_threads()
    return min(share, cap) if cap is not None else share


__all__ = ["cgroup_cpu_limit", "default_threads", "machine_threads", "parse_cfs_quota", "parse_cpu_max"]
