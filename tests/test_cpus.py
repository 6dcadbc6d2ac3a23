"""available_cpus(): the affinity mask and the cgroup CPU quota bound every default thread count."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from faceledger.cpus import available_cpus, cgroup_cpu_quota


def _tree(tmp_path: Path, proc_cgroup: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(proc_cgroup)
    return root, proc


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("150000 100000\n", 1.5), ("100000 100000\n", 1.0), ("max 100000\n", None),
     ("50000 100000\n", 0.5), ("garbage\n", None)],
)  # fmt: skip
def test_cgroup_v2_cpu_max(tmp_path: Path, cpu_max: str, expected: float | None) -> None:
    root, proc = _tree(tmp_path, "0::/\n", {"cpu.max": cpu_max})
    assert cgroup_cpu_quota(root, proc) == expected


def test_cgroup_v2_nested_takes_the_tightest_ancestor(tmp_path: Path) -> None:
    root, proc = _tree(
        tmp_path,
        "0::/user.slice/app.service\n",
        {
            "cpu.max": "max 100000\n",
            "user.slice/cpu.max": "200000 100000\n",
            "user.slice/app.service/cpu.max": "max 100000\n",
        },
    )
    assert cgroup_cpu_quota(root, proc) == 2.0
    assert available_cpus(cgroup_root=root, proc_cgroup=proc) == min(
        2, len(os.sched_getaffinity(0))
    )


def test_cgroup_v1_cfs_quota(tmp_path: Path) -> None:
    lines = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n"
    root, proc = _tree(
        tmp_path,
        lines,
        {
            "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "50000\n",
            "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
            "cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
            "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cgroup_cpu_quota(root, proc) == 0.5
    assert available_cpus(cgroup_root=root, proc_cgroup=proc) == 1  # ceil, at least 1


def test_cgroup_v1_unlimited_and_container_view(tmp_path: Path) -> None:
    # /proc shows the host path, but the container mounts its own cgroup at the root
    root, proc = _tree(
        tmp_path,
        "1:cpu:/docker/abc\n",
        {"cpu/cpu.cfs_quota_us": "250000\n", "cpu/cpu.cfs_period_us": "100000\n"},
    )
    assert cgroup_cpu_quota(root, proc) == 2.5
    root2, proc2 = _tree(
        tmp_path / "u",
        "1:cpu:/\n",
        {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
    )
    assert cgroup_cpu_quota(root2, proc2) is None


def test_no_cgroup_falls_back_to_affinity(tmp_path: Path) -> None:
    missing = tmp_path / "nothing"
    assert cgroup_cpu_quota(missing, missing) is None
    assert available_cpus(cgroup_root=missing, proc_cgroup=missing) == len(os.sched_getaffinity(0))


def test_quota_above_affinity_does_not_raise_the_count(tmp_path: Path) -> None:
    root, proc = _tree(tmp_path, "0::/\n", {"cpu.max": "6400000 100000\n"})
    assert available_cpus(cgroup_root=root, proc_cgroup=proc) == len(os.sched_getaffinity(0))


def test_a_process_pinned_to_one_core_runs_one_thread_and_one_worker() -> None:
    """Real affinity, real onnxruntime session: pinned to one CPU, the default is 1 thread."""
    cpu = min(os.sched_getaffinity(0))
    code = textwrap.dedent(
        """
        import os
        from faceledger.cpus import available_cpus
        from faceledger.engine.batch import default_workers
        from faceledger.engine.onnx.runtime import OnnxDescriptor
        session = OnnxDescriptor()._session
        print(len(os.sched_getaffinity(0)), available_cpus(), default_workers(),
              session.get_session_options().intra_op_num_threads)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
        check=True,
    ).stdout
    assert out.split() == ["1", "1", "1", "1"]
