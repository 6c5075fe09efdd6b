"""Each job of a worker gets its share of the CPUs, set in the environment before torch loads."""

from __future__ import annotations

import os

import pytest
from dramatiq.brokers.stub import StubBroker

from engine.cpus import machine_threads
from infra.settings import Settings
from workers.threads import JobThreads, install, prepare_job_threads


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """OMP variables unset for the test and restored afterwards, whatever the test writes."""
    for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY"):
        monkeypatch.setenv(name, "0")  # recorded, so teardown restores the original state
        monkeypatch.delenv(name)
    return monkeypatch


def test_the_setting_replaces_the_users_thread_count_but_keeps_their_wait_policy(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("OMP_NUM_THREADS", "7")
    clean_environment.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert prepare_job_threads(jobs=4, settings=Settings(worker_job_threads=1)) == 1
    assert os.environ["OMP_NUM_THREADS"] == "1"
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_without_the_setting_the_jobs_share_the_cpus_and_wait_passively(clean_environment: pytest.MonkeyPatch) -> None:
    threads = prepare_job_threads(jobs=machine_threads() * 2, settings=Settings(worker_job_threads=0))
    assert threads == 1
    assert os.environ["OMP_NUM_THREADS"] == "1"
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_the_middleware_is_installed_once() -> None:
    broker = StubBroker()
    install(broker)
    install(broker)
    assert sum(isinstance(m, JobThreads) for m in broker.middleware) == 1
