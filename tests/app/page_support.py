"""Fixtures of the page tests: a real embedded workspace (SQLite, local objects, in-process worker).

``workspace`` (once per test session) seeds a workspace through the real services: a sample of
adult.csv saved as a dataset, a CTGAN trained on it for one epoch by the in-process worker,
200 rows generated from it with a condition, and their quality report. ``app_env`` points a
test's process at that workspace (``DOPPEL_DATA_DIR``), with the caches of settings and store
cleared before and after, so other test packages see their own settings again.

Pages are run through the real entry script (``app/main.py``) with Streamlit's AppTest.
``tests/app/conftest.py`` registers the fixtures, so the workspace is seeded once per test run.
"""

from __future__ import annotations

import io
import re
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

MAIN_SCRIPT = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
TIMEOUT_S = 120
JOB_TIMEOUT_S = 240
JOB_POLL_S = 0.1  # a job's state is one small query; a coarser poll only adds its half to every wait
COLUMNS = ["age", "workclass", "education", "sex", "hours-per-week", "income"]
FAST_TRANSFORMER = {"n_modes": 3, "gmm_sample_rows": 500, "gmm_max_iter": 20}
ENVIRONMENT = {
    "DOPPEL_JOB_LEASE_S": "4",  # heartbeats (and progress) every second
    "DOPPEL_ALLOW_PRIVATE_DB_HOSTS": "true",  # the test databases live on 127.0.0.1
    "DOPPEL_CHECKPOINT_EVERY_EPOCHS": "50",
}


@dataclass(frozen=True)
class Workspace:
    """The seeded workspace: where it lives and the ids of what it holds."""

    data_dir: Path
    tenant: str
    actor: object
    dataset_version_id: str
    model_version_id: str
    generated_id: str
    report_id: str


def adult_sample(datasets: Path, *, rows: int = 400, seed: int = 7) -> pl.DataFrame:
    """A few hundred rows and six columns of the real adult.csv."""
    import engine

    return engine.read(datasets / "adult.csv").select(COLUMNS).sample(rows, seed=seed)


def csv_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def store_sample(workspace: Workspace, datasets: Path, *, prefix: str, rows: int = 400) -> object:
    """A sample of adult.csv stored as a new dataset of its own (``<prefix>-<random>``): its ``StoredVersion``."""
    import uuid

    from infra.usecases import dataset_store

    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    return dataset_store.store_upload(workspace.tenant, data=csv_bytes(adult_sample(datasets, rows=rows)),
                                      filename=f"{name}.csv", dataset_name=name, actor=workspace.actor)


def clear_caches() -> None:
    from infra.settings import get_settings
    from infra.storage import get_store

    get_settings.cache_clear()
    get_store.cache_clear()


def _install_worker_environment() -> None:
    from workers.environment import WorkerEnvironment, use_environment

    use_environment(WorkerEnvironment.from_settings())


def wait_for_job(tenant: str, job_id: str, actor: object, *, timeout: float = JOB_TIMEOUT_S) -> object:
    """The job once it has ended (succeeded, failed or cancelled); fails the test after ``timeout``."""
    from infra.usecases import job_board

    deadline = time.monotonic() + timeout
    while True:
        job = job_board.get_job(tenant, job_id=job_id, actor=actor)
        if not job.active:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job.state} after {timeout:.0f}s ({job.message})")
        time.sleep(JOB_POLL_S)


def _seed(datasets: Path) -> dict[str, object]:
    from auth.provisioning import ensure_local_user
    from infra.tenant_ids import LOCAL_TENANT
    from infra.usecases import dataset_store, job_requests, outputs
    from infra.usecases.job_requests import TrainingRequest

    actor = ensure_local_user()
    frame = adult_sample(datasets)
    stored = dataset_store.store_upload(LOCAL_TENANT, data=csv_bytes(frame), filename="adult-sample.csv",
                                        dataset_name="adult-sample", actor=actor)
    train = job_requests.request_training(LOCAL_TENANT, request=TrainingRequest(
        dataset_version_id=stored.version_id, model="ctgan", epochs=1, batch_size=200, transformer=FAST_TRANSFORMER,
        model_name="seeded ctgan"), actor=actor)
    trained = wait_for_job(LOCAL_TENANT, train.id, actor)
    assert trained.state == "succeeded", trained.error
    model_version_id = trained.result["model_version_id"]
    generate = job_requests.request_generation(LOCAL_TENANT, model_version_id=model_version_id, n_rows=200,
                                               actor=actor, seed=1, conditions="sex == 'Female'",
                                               output_format="csv")
    generated = wait_for_job(LOCAL_TENANT, generate.id, actor)
    assert generated.state == "succeeded", generated.error
    generated_id = generated.result["generated_dataset_id"]
    assess = job_requests.request_assessment(LOCAL_TENANT, generated_dataset_id=generated_id, actor=actor,
                                             target="income")
    assessed = wait_for_job(LOCAL_TENANT, assess.id, actor)
    assert assessed.state == "succeeded", assessed.error
    assert outputs.list_reports(LOCAL_TENANT, actor=actor)
    return {"tenant": LOCAL_TENANT, "actor": actor, "dataset_version_id": stored.version_id,
            "model_version_id": model_version_id, "generated_id": generated_id,
            "report_id": assessed.result["quality_report_id"]}


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Iterator[Workspace]:
    data_dir = tmp_path_factory.mktemp("workbench")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOPPEL_DATA_DIR", str(data_dir))
        for name, value in ENVIRONMENT.items():
            patch.setenv(name, value)
        clear_caches()
        _install_worker_environment()
        try:
            seeded = _seed(datasets)
        finally:
            clear_caches()
    yield Workspace(data_dir=data_dir, **seeded)  # type: ignore[arg-type]
    from infra.jobs.queue import stop_embedded_worker
    from workers.environment import use_environment

    stop_embedded_worker()
    use_environment(None)
    clear_caches()


@pytest.fixture
def app_env(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """This test runs against the seeded workspace (settings, store and worker pointed at it)."""
    from workers.environment import use_environment

    monkeypatch.setenv("DOPPEL_DATA_DIR", str(workspace.data_dir))
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    clear_caches()
    _install_worker_environment()
    yield workspace
    clear_caches()
    use_environment(None)


def open_page(name: str, *, session: dict[str, object] | None = None) -> AppTest:
    """Run the app and switch to ``pages/<name>.py``; ``session`` seeds st.session_state first."""
    at = AppTest.from_file(MAIN_SCRIPT, default_timeout=TIMEOUT_S)
    for key, value in (session or {}).items():
        at.session_state[key] = value
    at.run()
    return at.switch_page(f"../pages/{name}.py").run()


def plain(markdown: str) -> str:
    """The text a reader sees for Markdown whose punctuation was backslash-escaped."""
    return re.sub(r"\\([" + re.escape(string.punctuation) + "])", r"\1", markdown)


def texts(elements: object) -> list[str]:
    """The text of every element of an AppTest element list (Markdown escapes removed)."""
    return [plain(str(e.value)) for e in elements]  # type: ignore[attr-defined]


def button(at: AppTest, label: str) -> object:
    """The one button labelled ``label`` (fails listing the labels there are)."""
    found = [b for b in at.button if b.label == label]
    assert len(found) == 1, f"no single button {label!r}; buttons: {[b.label for b in at.button]}"
    return found[0]


def no_traceback(at: AppTest) -> None:
    """The page raised nothing and showed no traceback."""
    assert not at.exception, [e.value for e in at.exception]
    assert not any("Traceback" in text for text in texts(at.error))


__all__ = ["ENVIRONMENT", "FAST_TRANSFORMER", "MAIN_SCRIPT", "Workspace", "act_as", "adult_sample", "app_env", "button",
           "csv_bytes", "no_traceback", "open_page", "store_sample", "texts", "wait_for_job", "workspace"]


def act_as(monkeypatch: pytest.MonkeyPatch, workspace: Workspace, role: str) -> object:
    """Make the pages act as a member of the local workspace with ``role`` (a real user and membership).

    Local mode makes everyone the owner; this swaps the identity the pages read
    (``app.components.acting``), so the page shows what that role sees, and the services
    check that role for real.
    """
    from auth.identity import Identity
    from infra.db import tenant_session
    from infra.records import tenancy
    from infra.records.authz import Actor

    with tenant_session(workspace.tenant) as session:
        user = tenancy.ensure_user(session, subject=f"test|{role}", email=f"{role}@local.test", display_name=role)
        tenancy.set_member(session, user_id=user.id, role=role, actor="test")
        actor = Actor(user_id=user.id, label=f"{role}@local.test")
    identity = Identity(tenant=workspace.tenant, local_mode=False, role=role, user_id=actor.user_id,
                        label=actor.label)
    monkeypatch.setattr("app.components.acting.current_identity", lambda: identity)
    monkeypatch.setattr("app.components.acting.current_actor", lambda: actor)
    return actor
