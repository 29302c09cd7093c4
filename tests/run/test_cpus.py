"""The extraction pool is sized by the CPUs the process may use: a container's CPU quota
counts, though the container sees every core of its host."""

from __future__ import annotations

import os
from pathlib import Path

from config.loading import parse_settings
from config.settings import LimitSettings
from ingest.run.cpus import cgroup_cpu_quota, usable_cpus
from ingest.run.worker_pool import ExtractionPool

AFFINITY = len(os.sched_getaffinity(0))


def _cgroup(root: Path, files: dict[str, str], own: str = "/") -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="ascii")
    proc = root / "proc-self-cgroup"
    proc.write_text(f"0::{own}\n", encoding="ascii")
    return proc


def test_a_cgroup_v2_quota_of_half_a_cpu_gives_one_worker(tmp_path: Path) -> None:
    proc = _cgroup(tmp_path, {"cpu.max": "50000 100000\n"})
    assert cgroup_cpu_quota(tmp_path, proc) == 0.5
    assert usable_cpus(tmp_path, proc) == 1


def test_the_quota_of_the_process_own_cgroup_is_read(tmp_path: Path) -> None:
    # A service under systemd or a pod: /proc/self/cgroup names the cgroup below the root.
    proc = _cgroup(tmp_path, {"system.slice/ingest.service/cpu.max": "100000 100000\n",
                              "cpu.max": "max 100000\n"}, own="/system.slice/ingest.service")
    assert cgroup_cpu_quota(tmp_path, proc) == 1.0
    assert usable_cpus(tmp_path, proc) == 1


def test_a_fractional_quota_rounds_up_and_never_exceeds_the_affinity(tmp_path: Path) -> None:
    proc = _cgroup(tmp_path, {"cpu.max": "150000 100000\n"})
    assert usable_cpus(tmp_path, proc) == min(AFFINITY, 2)
    proc = _cgroup(tmp_path, {"cpu.max": "6400000 100000\n"})  # 64 CPUs' worth
    assert usable_cpus(tmp_path, proc) == AFFINITY


def test_no_quota_means_the_affinity(tmp_path: Path) -> None:
    proc = _cgroup(tmp_path, {"cpu.max": "max 100000\n"})
    assert cgroup_cpu_quota(tmp_path, proc) is None
    assert usable_cpus(tmp_path, proc) == AFFINITY
    assert usable_cpus(tmp_path / "nothing", tmp_path / "no-proc-file") == AFFINITY


def test_a_cgroup_v1_quota_counts_too(tmp_path: Path) -> None:
    proc = tmp_path / "no-v2"
    (tmp_path / "cpu,cpuacct").mkdir()
    (tmp_path / "cpu,cpuacct" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu,cpuacct" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cpus(tmp_path, proc) == 1
    (tmp_path / "cpu,cpuacct" / "cpu.cfs_quota_us").write_text("-1\n")
    assert usable_cpus(tmp_path, proc) == AFFINITY


def test_extraction_workers_in_the_configuration_sizes_the_pool() -> None:
    settings = parse_settings({"limits": {"extraction_workers": 1}}, {})
    assert settings.limits.extraction_workers == 1
    assert ExtractionPool(limits=settings.limits).size == 1
    # Unset: one per usable CPU.
    assert parse_settings({}, {}).limits.extraction_workers == 0
    assert ExtractionPool(limits=LimitSettings()).size == usable_cpus()


def test_a_pool_of_one_worker_runs_every_task_in_that_one_process() -> None:
    import asyncio

    async def worker_pids() -> set[int]:
        pool = ExtractionPool(limits=LimitSettings(extraction_workers=1))
        try:
            return set(await asyncio.gather(*(pool.run(os.getpid) for _ in range(6))))
        finally:
            pool.close()

    assert len(asyncio.run(worker_pids())) == 1
