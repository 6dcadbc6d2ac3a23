"""How many CPUs this process may actually use: the one default for every thread and worker count.

``os.cpu_count()`` counts the machine's cores. A process pinned to fewer (``taskset``, a cpuset)
or given a CPU quota (a container's ``--cpus``, systemd's ``CPUQuota=``) gets fewer; running more
threads or workers than that only makes them wait for each other (one pinned core: 46 ms per
image with two onnxruntime threads, 21 ms with one). So the default is the smallest of:

- the CPUs in the affinity mask (``os.sched_getaffinity``), else ``os.cpu_count()``;
- the cgroup CPU quota, rounded up: cgroup v2 ``cpu.max`` ("quota period" or "max period"),
  cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1: none), the tightest of the
  process's cgroup and its ancestors that are visible;

and at least 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
_V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def available_cpus(*, cgroup_root: Path | None = None, proc_cgroup: Path | None = None) -> int:
    """CPUs this process can use (affinity and cgroup quota), at least 1.

    ``cgroup_root`` and ``proc_cgroup`` default to the real /sys/fs/cgroup and
    /proc/self/cgroup; tests pass fake ones.
    """
    if hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:  # pragma: no cover - macOS, Windows
        count = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root or CGROUP_ROOT, proc_cgroup or PROC_CGROUP)
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)


def cgroup_cpu_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The cgroup CPU quota in CPUs (e.g. 1.5), or None when there is none or no cgroup."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits: list[float] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # cgroup v2: "0::/path"
            for folder in _self_and_ancestors(root, path):
                limits += _v2_limit(folder / "cpu.max")
        elif "cpu" in controllers.split(","):  # cgroup v1: "4:cpu,cpuacct:/path"
            for mount in _V1_CPU_MOUNTS:
                for folder in _self_and_ancestors(root / mount, path):
                    limits += _v1_limit(folder)
    return min(limits) if limits else None


def _self_and_ancestors(mount: Path, path: str) -> list[Path]:
    """mount/path, then each parent up to the mount itself (which is all a container may see
    when its cgroup is mounted at the root)."""
    parts = [p for p in path.strip("/").split("/") if p and p != ".."]
    return [mount.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def _v2_limit(file: Path) -> list[float]:
    try:
        fields = file.read_text().split()
    except OSError:
        return []
    if len(fields) != 2 or fields[0] == "max":
        return []
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return []
    return [quota / period] if quota > 0 and period > 0 else []


def _v1_limit(folder: Path) -> list[float]:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return []
    return [quota / period] if quota > 0 and period > 0 else []
