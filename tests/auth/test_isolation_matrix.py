"""Isolation matrix: a user of tenant A who guesses or replays an id of tenant B is refused.

For every object type (dataset, dataset version, model version, job, quality report, share
link, generated dataset/file) one object is seeded in tenant B; a user of tenant A then calls
the very service functions the pages call, in A's workspace (the tenant comes from the login,
never from input), with B's id. The refusal must be *the same* as for an id that exists
nowhere (same error type, same message once the id itself is blanked out): no existence
oracle. B's objects must be left as they were. Every case runs on SQLite (explicit tenant
filters) and on PostgreSQL with row-level security (app role without BYPASSRLS).

Then the role cases: a viewer cannot start training, generation or an assessment; a member
cannot change budgets, gates, quotas or sensitivity; an admin of A cannot act on B even when
naming B's workspace. Pages: a job id replayed into a page's session (the Train page follows
``train_last_job_id``) shows the same message for B's job as for a made-up one, and a guessed
``?share=`` token opens nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from auth.identity import Identity
from auth.share_links import create_share_link, revoke_share_link
from infra.db import Database, tenant_session
from infra.db.models import Dataset, GeneratedDataset, Job, ModelVersion, PrivacyBudget, ShareLink
from infra.privacy import budget as privacy_budget
from infra.records import catalog, job_records
from infra.records.authz import Actor, PermissionDeniedError
from infra.usecases import dataset_store, job_board, job_requests, model_registry, outputs, privacy_views, quality_gates, workspace_settings
from infra.usecases.job_requests import TrainingRequest
from infra.usecases.stored_profiles import ColumnEdits
from tests.app.page_support import MAIN_SCRIPT, clear_caches, open_page, texts
from tests.auth.conftest import SeededTenant, seed_tenant


@dataclass(frozen=True)
class Objects:
    """One tenant's seeded objects, by type."""

    tenant: SeededTenant
    dataset_id: str
    version_id: str
    model_version_id: str
    generated_id: str
    report_id: str
    job_id: str
    link_id: str


@pytest.fixture
def services_on(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The services (which open their own sessions) pointed at this backend and a private object folder."""
    monkeypatch.setenv("DOPPEL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DOPPEL_DATABASE_URL", db.url)
    clear_caches()
    yield db
    clear_caches()


def seed_objects(database: Database, prefix: str) -> Objects:
    """A tenant (one user per role) with one object of every type, a queued job, a share link and a budget."""
    seeded = seed_tenant(database, prefix=prefix)
    with tenant_session(seeded.name, database=database) as s:
        dataset = catalog.list_datasets(s)[0]
        version = catalog.list_dataset_versions(s, dataset.id)[0]
        model = catalog.list_models(s)[0]
        model_version = catalog.list_model_versions(s, model.id)[0]
        generated = s.scalars(select(GeneratedDataset).where(GeneratedDataset.tenant_id == seeded.name)).one()
        job = job_records.submit_job(s, kind="train", queue="cpu", payload={"dataset_version_id": version.id},
                                     actor="test")
        create_share_link(s, report_id=seeded.report_id, expires_in=timedelta(days=1), actor=seeded.actors["member"])
        link = s.scalars(select(ShareLink).where(ShareLink.tenant_id == seeded.name)).one()
        privacy_budget.set_budget(s, dataset_id=dataset.id, epsilon_cap=2.0, delta_cap=1e-5,
                                  actor=seeded.actors["admin"])
    return Objects(seeded, dataset.id, version.id, model_version.id, generated.id, seeded.report_id, job.id, link.id)


def snapshot(database: Database, objects: Objects) -> dict[str, Any]:
    """What a cross-tenant attempt could change in B: states, statuses, caps, flags, counts."""
    t = objects.tenant.name
    with tenant_session(t, database=database) as s:
        job = s.get(Job, objects.job_id)
        link = s.get(ShareLink, objects.link_id)
        budget = s.scalars(select(PrivacyBudget).where(PrivacyBudget.tenant_id == t)).one()
        return {
            "job": (job.state, bool(job.cancel_requested)),
            "model_version": s.get(ModelVersion, objects.model_version_id).status,
            "link_revoked": link.revoked_at,
            "budget": (budget.epsilon_cap, budget.delta_cap),
            "sensitive": s.get(Dataset, objects.dataset_id).sensitive,
            "versions": len(catalog.list_dataset_versions(s, objects.dataset_id)),
            "jobs": s.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == t)),
        }


@pytest.fixture
def a_and_b(services_on: Database) -> tuple[Objects, Objects]:
    return seed_objects(services_on, "a"), seed_objects(services_on, "b")


# Each probe: (role in A, object type, what the page does) -> a call in A's workspace with ``object_id``.
Probe = Callable[[str, Actor, str], object]


def _in_session(call: Callable[..., object]) -> Probe:
    def probe(tenant: str, actor: Actor, object_id: str) -> object:
        with tenant_session(tenant) as s:
            return call(s, actor, object_id)
    return probe


PROBES: dict[str, tuple[str, str, Probe]] = {
    "dataset version: read (Profile/Train)": ("member", "version_id", lambda t, a, i: dataset_store.get_version(
        t, version_id=i, actor=a, preview_rows=0)),
    "dataset version: save edits (Profile)": ("member", "version_id", lambda t, a, i: dataset_store.save_edits(
        t, version_id=i, edits=ColumnEdits(drop=("age",)), actor=a)),
    "dataset version: train on it (Train)": ("member", "version_id", lambda t, a, i: job_requests.request_training(
        t, request=TrainingRequest(dataset_version_id=i, model="ctgan", epochs=1), actor=a)),
    "dataset: delete (Data)": ("member", "dataset_id", lambda t, a, i: dataset_store.delete_dataset(
        t, dataset_id=i, confirm_name="customers", actor=a)),
    "dataset: ledger (Privacy)": ("viewer", "dataset_id", lambda t, a, i: privacy_views.ledger(
        t, dataset_id=i, actor=a)),
    "dataset: remaining budget (Privacy)": ("viewer", "dataset_id", lambda t, a, i: privacy_views.remaining_budget(
        t, dataset_id=i, actor=a)),
    "dataset: set budget (Privacy, admin)": ("admin", "dataset_id", lambda t, a, i: privacy_views.set_budget(
        t, dataset_id=i, epsilon_cap=9.0, delta_cap=1e-4, actor=a)),
    "dataset: mark sensitive (Privacy, admin)": ("admin", "dataset_id", lambda t, a, i: privacy_views.set_sensitive(
        t, dataset_id=i, sensitive=True, actor=a)),
    "model version: read (Models)": ("viewer", "model_version_id", lambda t, a, i: model_registry.get_version(
        t, model_version_id=i, actor=a)),
    "model version: withdraw (Models)": ("member", "model_version_id", lambda t, a, i: model_registry.set_status(
        t, model_version_id=i, status="withdrawn", actor=a)),
    "model version: generate (Generate)": ("member", "model_version_id", lambda t, a, i: job_requests.request_generation(
        t, model_version_id=i, n_rows=10, actor=a)),
    "job: read (Jobs)": ("viewer", "job_id", lambda t, a, i: job_board.get_job(t, job_id=i, actor=a)),
    "job: log (Jobs)": ("viewer", "job_id", lambda t, a, i: job_board.job_events(t, job_id=i, actor=a)),
    "job: cancel (Jobs)": ("member", "job_id", lambda t, a, i: job_board.cancel_job(t, job_id=i, actor=a)),
    "report: read (Quality)": ("viewer", "report_id", lambda t, a, i: outputs.report_document(
        t, report_id=i, actor=a)),
    "report: share it (Quality)": ("member", "report_id", _in_session(lambda s, a, i: create_share_link(
        s, report_id=i, expires_in=timedelta(days=1), actor=a))),
    "share link: revoke (Quality)": ("member", "link_id", _in_session(lambda s, a, i: revoke_share_link(
        s, link_id=i, actor=a))),
    "generated: read (Generate)": ("viewer", "generated_id", lambda t, a, i: outputs.get_generated(
        t, generated_dataset_id=i, actor=a)),
    "generated: preview (Generate)": ("viewer", "generated_id", lambda t, a, i: outputs.preview_generated(
        t, generated_dataset_id=i, actor=a)),
    "generated: download file (Generate)": ("viewer", "generated_id", lambda t, a, i: outputs.download_generated(
        t, generated_dataset_id=i, actor=a)),
    "generated: assess (Quality)": ("member", "generated_id", lambda t, a, i: job_requests.request_assessment(
        t, generated_dataset_id=i, actor=a)),
}


def refusal(call: Callable[[], object], object_id: str) -> tuple[str, str]:
    """(error type, message with the id blanked out) of a call that must fail."""
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the type is compared below
        call()
    return type(caught.value).__name__, str(caught.value).replace(object_id, "<id>")


@pytest.mark.parametrize("case", list(PROBES))
def test_an_id_of_another_tenant_is_refused_like_an_unknown_one(services_on, a_and_b, case):
    a, b = a_and_b
    role, field, probe = PROBES[case]
    actor, b_id, made_up = a.tenant.actors[role], getattr(b, field), str(uuid.uuid4())
    before = snapshot(services_on, b)

    replayed = refusal(lambda: probe(a.tenant.name, actor, b_id), b_id)
    guessed = refusal(lambda: probe(a.tenant.name, actor, made_up), made_up)

    assert replayed == guessed, f"{case}: B's id and a made-up id are refused differently"
    assert replayed[0] == "NotFoundError", replayed
    assert b.tenant.name not in replayed[1]
    assert snapshot(services_on, b) == before
    with tenant_session(a.tenant.name) as s:  # nothing was started in A on B's behalf either
        assert s.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == a.tenant.name)) == 1


def test_a_member_of_a_sees_none_of_b_in_any_listing(services_on, a_and_b):
    a, b = a_and_b
    member, t = a.tenant.actors["member"], a.tenant.name
    b_ids = {b.dataset_id, b.version_id, b.model_version_id, b.generated_id, b.report_id, b.job_id, b.link_id}
    seen = {d.id for d in dataset_store.list_datasets(t, actor=member)}
    seen |= {v.id for d in dataset_store.list_datasets(t, actor=member) for v in d.versions}
    seen |= {v.id for m in model_registry.list_models(t, actor=member) for v in m.versions}
    seen |= {g.id for g in outputs.list_generated(t, actor=member)}
    seen |= {g.id for g in outputs.list_generated(t, actor=member, model_version_id=b.model_version_id)}
    seen |= {r.id for r in outputs.list_reports(t, actor=member)}
    seen |= {j.id for j in job_board.list_jobs(t, actor=member)}
    seen |= {d.dataset_id for d in privacy_views.overview(t, actor=member)}
    assert seen and not seen & b_ids
    assert {a.dataset_id, a.version_id, a.model_version_id, a.generated_id, a.report_id, a.job_id} <= seen


# --- roles -----------------------------------------------------------------------------------


def test_a_viewer_cannot_start_training_generation_or_assessment(services_on, a_and_b):
    a, _ = a_and_b
    viewer, t = a.tenant.actors["viewer"], a.tenant.name
    starts = {
        "training": lambda: job_requests.request_training(
            t, request=TrainingRequest(dataset_version_id=a.version_id, model="ctgan", epochs=1), actor=viewer),
        "generation": lambda: job_requests.request_generation(t, model_version_id=a.model_version_id, n_rows=10,
                                                              actor=viewer),
        "assessment": lambda: job_requests.request_assessment(t, generated_dataset_id=a.generated_id, actor=viewer),
    }
    for what, start in starts.items():
        with pytest.raises(PermissionDeniedError, match="your role here is viewer; to start a job you need the member"):
            start()
    assert len(job_board.list_jobs(t, actor=viewer)) == 1  # only the seeded one


def test_a_member_cannot_change_budgets_gates_quotas_or_sensitivity(services_on, a_and_b):
    a, _ = a_and_b
    member, t = a.tenant.actors["member"], a.tenant.name
    before = snapshot(services_on, a)
    # PermissionError: the privacy layer and the role checks each raise their own subclass of it
    with pytest.raises(PermissionError, match="only a tenant owner or admin"):
        privacy_views.set_budget(t, dataset_id=a.dataset_id, epsilon_cap=50.0, delta_cap=1e-3, actor=member)
    with pytest.raises(PermissionError, match="only a tenant owner or admin"):
        privacy_views.set_sensitive(t, dataset_id=a.dataset_id, sensitive=True, actor=member)
    with pytest.raises(PermissionError, match="only a tenant owner or admin"):
        privacy_views.set_policy(t, require_dp_on_sensitive=False, actor=member)
    with pytest.raises(PermissionError, match="to change quality gates you need the admin role"):
        quality_gates.set_gate_settings(t, gates={"exact_copies": {"threshold": 5.0}}, actor=member)
    with pytest.raises(PermissionError, match="to change quotas you need the admin role"):
        workspace_settings.set_quotas(t, actor=member, max_concurrent_jobs=99, max_stored_bytes=None,
                                      max_rows_per_generation=None)
    assert snapshot(services_on, a) == before
    assert quality_gates.tenant_quality_config(t) == {}


def test_an_admin_of_a_cannot_act_on_b_even_naming_b(services_on, a_and_b):
    a, b = a_and_b
    admin = a.tenant.actors["admin"]
    before = snapshot(services_on, b)
    with pytest.raises(PermissionError, match="not a member"):
        privacy_views.set_budget(b.tenant.name, dataset_id=b.dataset_id, epsilon_cap=50.0, delta_cap=1e-3,
                                 actor=admin)
    with pytest.raises(PermissionError, match="not a member of this workspace"):
        workspace_settings.set_quotas(b.tenant.name, actor=admin, max_concurrent_jobs=99, max_stored_bytes=None,
                                      max_rows_per_generation=None)
    with pytest.raises(PermissionError, match="not a member of this workspace"):
        quality_gates.set_gate_settings(b.tenant.name, gates={"exact_copies": {"threshold": 5.0}}, actor=admin)
    with pytest.raises(PermissionError, match="not a member of this workspace"):
        job_board.cancel_job(b.tenant.name, job_id=b.job_id, actor=admin)
    with pytest.raises(PermissionError, match="not a member of this workspace"):
        outputs.report_document(b.tenant.name, report_id=b.report_id, actor=admin)
    assert snapshot(services_on, b) == before


# --- pages -----------------------------------------------------------------------------------


def _act_as(monkeypatch: pytest.MonkeyPatch, tenant: str, role: str, actor: Actor) -> None:
    identity = Identity(tenant=tenant, local_mode=False, role=role, user_id=actor.user_id, label=actor.label)
    monkeypatch.setattr("app.components.acting.current_identity", lambda: identity)
    monkeypatch.setattr("app.components.acting.current_actor", lambda: actor)


def _page_errors(page: str, session: dict[str, object]) -> list[str]:
    at = open_page(page, session=session)
    assert not at.exception, [e.value for e in at.exception]
    return texts(at.error)


def test_a_job_id_replayed_into_the_train_page_shows_what_a_made_up_one_shows(services_on, a_and_b, monkeypatch):
    a, b = a_and_b
    _act_as(monkeypatch, a.tenant.name, "member", a.tenant.actors["member"])
    frame = pl.DataFrame({"age": [23, 35, 47, 51, 62, 29] * 5, "sex": ["F", "M"] * 15})
    stored = dataset_store.store_table(a.tenant.name, frame=frame, dataset_name="people", source={"kind": "test"},
                                       actor=a.tenant.actors["member"])
    made_up = str(uuid.uuid4())
    state = {"workbench_dataset_version_id": stored.version_id}
    replayed = [m.replace(b.job_id, "<id>") for m in _page_errors("train", state | {"train_last_job_id": b.job_id})]
    guessed = [m.replace(made_up, "<id>") for m in _page_errors("train", state | {"train_last_job_id": made_up})]
    assert replayed == guessed == ["job '<id>' not found"]


def test_a_guessed_share_token_opens_nothing(services_on, a_and_b):
    at = AppTest.from_file(MAIN_SCRIPT, default_timeout=60)
    at.query_params["share"] = "x" * 43
    at.run()
    assert not at.exception
    assert texts(at.error) == ["This share link is not valid. Check that the whole link was copied, or ask for a new one."]
    assert not at.markdown or all("0.93" not in text for text in texts(at.markdown))
