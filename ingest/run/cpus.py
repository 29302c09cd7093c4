"""How many CPUs this process may use: what sizes the extraction pool.

A container limited to two CPUs on a 16-core host (`docker run --cpus=2`, a Kubernetes CPU
limit) still sees 16 in `os.sched_getaffinity`: the limit is a cgroup CPU quota, not an
affinity. One extraction worker per CPU seen would start 16 workers of 50-60 MB each
(bench/README.md) that the quota lets run two at a time, so the quota caps the count.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


def usable_cpus(cgroup_root: Path = CGROUP_ROOT,
                proc_cgroup: Path = PROC_SELF_CGROUP) -> int:
    """The CPUs of this process's affinity, capped by its cgroup's CPU quota (rounded up)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root, proc_cgroup)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT,
                     proc_cgroup: Path = PROC_SELF_CGROUP) -> float | None:
    """CPUs' worth of time the cgroup may use (1.5 for a quota of 150 ms per 100 ms), or None
    when it has no quota or none can be read (not Linux, no cgroup file system)."""
    for path in _cgroup_v2_paths(cgroup_root, proc_cgroup):
        try:
            quota, period = path.read_text(encoding="ascii").split()[:2]
        except (OSError, ValueError):
            continue
        return None if quota == "max" else _ratio(quota, period)
    for folder in ("cpu", "cpu,cpuacct"):  # cgroup v1, as mounted in a container
        try:
            quota = (cgroup_root / folder / "cpu.cfs_quota_us").read_text(encoding="ascii")
            period = (cgroup_root / folder / "cpu.cfs_period_us").read_text(encoding="ascii")
        except OSError:
            continue
        return None if quota.strip() == "-1" else _ratio(quota, period)
    return None


def _cgroup_v2_paths(cgroup_root: Path, proc_cgroup: Path) -> list[Path]:
    """cpu.max of this process's own cgroup (named in /proc/self/cgroup as "0::/path"), then
    of the root a container sees."""
    paths = []
    try:
        for line in proc_cgroup.read_text(encoding="utf-8").splitlines():
            if line.startswith("0::"):
                paths.append(cgroup_root / line[3:].strip().lstrip("/") / "cpu.max")
    except OSError:
        pass
    paths.append(cgroup_root / "cpu.max")
    return paths


def _ratio(quota: str, period: str) -> float | None:
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None
