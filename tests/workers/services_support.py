"""Real services for the crash tests: a dedicated PostgreSQL database, Redis DB 13, worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from infra.db import Database, migrate
from infra.db.postgres import drop_database, provision
from tests.conftest import POSTGRES_URL, REPO

JOBS_REDIS_URL = os.environ.get("DOPPEL_TEST_JOBS_REDIS_URL", "redis://127.0.0.1:6379/13")
PG_DATABASE = "doppel_jobs_test"
PG_OWNER_ROLE = "doppel_jobs_owner"
PG_APP_ROLE = "doppel_jobs_app"


@dataclass
class JobServices:
    """PostgreSQL (as the app role, RLS on), Redis and a local object folder, and the worker environment."""

    database: Database
    app_url: str
    redis_url: str
    storage_dir: Path
    logs: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def worker_env(self, **overrides: str) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "DOPPEL_DATA_DIR": str(self.storage_dir.parent),
            "DOPPEL_DATABASE_URL": self.app_url,
            "DOPPEL_STORAGE_URL": self.storage_dir.as_uri(),
            "DOPPEL_BROKER_URL": self.redis_url,
            "DOPPEL_JOB_LEASE_S": "4",
            "DOPPEL_BROKER_HEARTBEAT_TIMEOUT_S": "4",
            "DOPPEL_BROKER_MAINTENANCE_CHANCE": "1000000",
            "DOPPEL_JOB_RETRY_MIN_BACKOFF_S": "0.5",
            "DOPPEL_CHECKPOINT_EVERY_EPOCHS": "2",
        }
        env.update(overrides)
        return env

    def start_worker(self, name: str, *, queues: tuple[str, ...] = ("gpu", "cpu"), threads: int = 1,
                     **env: str) -> subprocess.Popen[bytes]:
        """A real worker process, ``python -m workers``, logging to ``logs/<name>.log``."""
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "workers", "--queues", *queues, "--threads", str(threads)],
            cwd=REPO, env=self.worker_env(**env), stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        self.workers.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        self.workers.clear()


def provision_services(tmp: Path, *, database_name: str = PG_DATABASE,
                       redis_url: str = JOBS_REDIS_URL) -> Iterator[JobServices]:
    """A fresh PostgreSQL database (owner and app roles, migrated) and an empty Redis DB, removed after."""
    provisioned = provision(POSTGRES_URL, database=database_name, owner_role=PG_OWNER_ROLE, app_role=PG_APP_ROLE,
                            recreate=True)
    migrate(provisioned.owner_url, app_role=PG_APP_ROLE)
    redis.Redis.from_url(redis_url).flushdb()
    database = Database(provisioned.app_url)
    (tmp / "objects").mkdir()
    (tmp / "logs").mkdir()
    services = JobServices(database, provisioned.app_url, redis_url, tmp / "objects", tmp / "logs")
    try:
        yield services
    finally:
        services.stop_workers()
        database.dispose()
        redis.Redis.from_url(redis_url).flushdb()
        drop_database(POSTGRES_URL, database=database_name)


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status
