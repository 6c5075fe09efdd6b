"""A workspace of its own for the page tests of histories: a registered sequence model, and optionally a report.

Not the seeded workspace of ``page_support`` (whose lists other page tests read): the small
nasdaq sequence model of ``tests/infra/sequence_output_support.py`` (trained once per session)
registered in the local tenant, and, for the Quality page, histories generated from it and
assessed by the in-process worker. Pages run through the real entry script with AppTest.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.app.page_support import ENVIRONMENT, _install_worker_environment, clear_caches, wait_for_job
from tests.infra.sequence_output_support import register_sequences, trained_sequences


@dataclass(frozen=True)
class SequenceWorkspace:
    data_dir: Path
    tenant: str
    actor: object
    model_version_id: str
    generated_id: str | None = None
    report_id: str | None = None


def _seed(datasets: Path, *, assess: bool) -> dict[str, object]:
    from auth.provisioning import ensure_local_user
    from infra.tenant_ids import LOCAL_TENANT
    from infra.usecases import job_requests
    from infra.usecases.sequence_generation import submit_sequence_generation

    actor = ensure_local_user()
    registered = register_sequences(trained_sequences(datasets), tenant=LOCAL_TENANT)
    seeded: dict[str, object] = {"tenant": LOCAL_TENANT, "actor": actor, "model_version_id": registered.model_version_id}
    if assess:
        job = submit_sequence_generation(LOCAL_TENANT, model_version_id=registered.model_version_id, actor=actor,
                                         n_entities=19, seed=1)
        generated = wait_for_job(LOCAL_TENANT, job.id, actor)
        assert generated.state == "succeeded", generated.error
        generated_id = generated.result["generated_dataset_id"]
        assessment = job_requests.request_assessment(LOCAL_TENANT, generated_dataset_id=generated_id, actor=actor)
        assessed = wait_for_job(LOCAL_TENANT, assessment.id, actor)
        assert assessed.state == "succeeded", assessed.error
        seeded.update(generated_id=generated_id, report_id=assessed.result["quality_report_id"])
    return seeded


@contextmanager
def sequence_workspace(tmp_path_factory: pytest.TempPathFactory, datasets: Path, *,
                       assess: bool) -> Iterator[SequenceWorkspace]:
    """The workspace, seeded in its own data folder; the embedded worker is stopped at the end."""
    from workers.environment import use_environment

    data_dir = tmp_path_factory.mktemp("sequence-workbench")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOPPEL_DATA_DIR", str(data_dir))
        for name, value in ENVIRONMENT.items():
            patch.setenv(name, value)
        clear_caches()
        _install_worker_environment()
        try:
            seeded = _seed(datasets, assess=assess)
        finally:
            clear_caches()
            use_environment(None)
    yield SequenceWorkspace(data_dir=data_dir, **seeded)  # type: ignore[arg-type]
    from infra.jobs.queue import stop_embedded_worker

    stop_embedded_worker()  # the next job (of another module) starts it again, in its own environment


@contextmanager
def pointed_at(workspace: SequenceWorkspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[SequenceWorkspace]:
    """For one test: settings, store and worker pointed at ``workspace``."""
    from workers.environment import use_environment

    monkeypatch.setenv("DOPPEL_DATA_DIR", str(workspace.data_dir))
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    clear_caches()
    _install_worker_environment()
    try:
        yield workspace
    finally:
        clear_caches()
        use_environment(None)


__all__ = ["SequenceWorkspace", "pointed_at", "sequence_workspace"]
