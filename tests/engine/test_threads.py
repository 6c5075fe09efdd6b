"""CPU thread bounds: cgroup quota files as the kernel writes them, affinity, and what reaches torch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from engine.errors import ConfigError
from engine.cpus import cgroup_cpu_limit, default_threads, machine_threads, parse_cfs_quota, parse_cpu_max
from engine.models.threads import (
    TorchThreads,
    prepare_process_threads,
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cpu_max_contents() -> None:
    assert parse_cpu_max("max 100000\n") is None
    assert parse_cpu_max("200000 100000\n") == 2.0
    assert parse_cpu_max("150000 100000\n") == 1.5
    assert parse_cpu_max("50000\n") == 0.5  # period left out: the kernel's default 100000
    assert parse_cpu_max("") is None
    assert parse_cpu_max("garbage here") is None


def test_cfs_quota_contents() -> None:
    assert parse_cfs_quota("-1\n", "100000\n") is None
    assert parse_cfs_quota("250000\n", "100000\n") == 2.5
    assert parse_cfs_quota("x", "100000") is None
    assert parse_cfs_quota("100000", "0") is None


def test_cgroup_v2_group_and_its_parents(tmp_path: Path) -> None:
    root = tmp_path / "sys_fs_cgroup"
    self_cgroup = tmp_path / "proc_self_cgroup"
    _write(self_cgroup, "0::/kubepods.slice/pod1/container\n")
    _write(root / "cpu.max", "max 100000\n")
    _write(root / "kubepods.slice" / "pod1" / "cpu.max", "300000 100000\n")
    _write(root / "kubepods.slice" / "pod1" / "container" / "cpu.max", "max 100000\n")
    assert cgroup_cpu_limit(root=root, self_cgroup=self_cgroup) == 3.0  # the pod's quota binds the container
    _write(root / "kubepods.slice" / "pod1" / "container" / "cpu.max", "150000 100000\n")
    assert cgroup_cpu_limit(root=root, self_cgroup=self_cgroup) == 1.5


def test_cgroup_v2_inside_a_container_namespace(tmp_path: Path) -> None:
    """The container sees its own group as the root: the named path does not exist, the root's file does."""
    root = tmp_path / "cg"
    self_cgroup = tmp_path / "self"
    _write(self_cgroup, "0::/\n")
    _write(root / "cpu.max", "200000 100000\n")
    assert cgroup_cpu_limit(root=root, self_cgroup=self_cgroup) == 2.0
    _write(self_cgroup, "0::/elsewhere/not/mounted\n")
    assert cgroup_cpu_limit(root=root, self_cgroup=self_cgroup) == 2.0


def test_cgroup_v1_hybrid(tmp_path: Path) -> None:
    """A v1 ``cpu`` controller (hybrid layout, as on this host's kind of machine) with and without a quota."""
    root = tmp_path / "cg"
    self_cgroup = tmp_path / "self"
    _write(self_cgroup, "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/docker/abc\n")
    _write(root / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1\n")
    _write(root / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    _write(root / "unified" / "docker" / "abc" / "cgroup.procs", "1\n")
    assert cgroup_cpu_limit(root=root, self_cgroup=self_cgroup) is None
    _write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "50000\n")
    _write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    assert cgroup_cpu_limit(root=root, self_cgroup=self_cgroup) == 0.5


def test_no_cgroup_files(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(root=tmp_path / "none", self_cgroup=tmp_path / "missing") is None


def test_machine_threads_within_affinity_and_quota() -> None:
    limit = cgroup_cpu_limit()
    assert 1 <= machine_threads() <= len(os.sched_getaffinity(0))
    if limit is not None:
        assert machine_threads() <= max(1, int(limit))


@pytest.fixture
def one_cpu():
    """This process pinned to one CPU for the test, then given its CPUs back."""
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(saved)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


def test_torch_threads_never_exceed_the_cpus(one_cpu: None) -> None:
    before = torch.get_num_threads()
    for asked in (None, 1, 2, 8, 1024):
        with TorchThreads(asked) as threads:
            assert threads.n == 1
            assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_torch_threads_default_and_restore() -> None:
    before = torch.get_num_threads()
    with TorchThreads(None) as threads:
        assert threads.n == default_threads() <= machine_threads()
        assert torch.get_num_threads() == threads.n
    assert torch.get_num_threads() == before


def test_default_threads_shares_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cpus = machine_threads()
    assert default_threads() == cpus
    assert default_threads(jobs=cpus) == 1
    assert default_threads(jobs=cpus * 4) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_threads() == 1
    with pytest.raises(ConfigError, match="jobs"):
        default_threads(jobs=0)


def test_prepare_process_threads_keeps_what_the_user_set() -> None:
    env: dict[str, str] = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert prepare_process_threads(threads=2, environ=env) == {"OMP_NUM_THREADS": "2"}
    assert env == {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "2"}
    env = {}
    assert prepare_process_threads(environ=env) == {"OMP_WAIT_POLICY": "PASSIVE"}
    with pytest.raises(ConfigError, match="threads"):
        prepare_process_threads(threads=0, environ={})
