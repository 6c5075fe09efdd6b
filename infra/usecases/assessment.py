"""Use case: assess a generated dataset (the quality report), as a background job.

    choice = default_holdout("acme", g.id, actor=user)   # the model's own holdout, or None
    job = submit_assessment("acme", generated_dataset_id=g.id, target="income", actor=user)

The holdout (real rows the model never saw) is the yardstick of the privacy gates. By default
it is the one its training job set aside (``infra.records.holdouts``): the model version
records the row positions, and the worker rebuilds the holdout and the training part from the
dataset version; the report then compares the synthetic rows with the training part (``real``,
the rows the model did see) and with that holdout. ``holdout_dataset_version_id`` names another
version instead; ``use_model_holdout=False`` assesses without one. A model without a holdout
(its table was too small to spare one, or it predates holdouts) is assessed against its whole
version, and the report says that the privacy gates had no unseen rows to compare with.

Checks before anything starts: the acting user's role (``job.start``: member or higher), the
generated dataset (and the holdout version, if given) exist for this tenant and have stored
data; the quotas. The job goes to the tenant tier's ``cpu`` queue; the worker runs
``engine.assess`` and records the report (``workers.assessment``).

A generated schema (related tables) is assessed with ``engine.assess_tables``
(``workers.schema_assessment``): its holdout is the model's own (whole root subtrees,
``infra.records.schema_holdouts``) or none, and it takes no target column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError, InputError
from infra.db import Database, TenantSession, tenant_session
from infra.db.models import Job
from infra.jobs.submit import submit
from infra.records import catalog
from infra.records.authz import Actor, require_actor, require_permission
from infra.records.holdouts import record_of
from infra.records.schema_holdouts import TablesHoldoutRecord, tables_record_of
from infra.records.sequence_holdouts import SequencesHoldoutRecord, sequences_record_of

HOLDOUT_SOURCES = ("model_version", "dataset_version", "none")
"""Where an assessment's holdout comes from: the model's own, another dataset version, nowhere."""


@dataclass(frozen=True)
class HoldoutChoice:
    """The holdout a model version's training set aside: what the Quality page offers by default."""

    model_version_id: str
    model_label: str  # "adult (argn) v2"
    dataset_version_id: str
    dataset_label: str  # "adult v1"
    rows: int
    training_rows: int
    share: float
    seed: int
    stratify: str | None = None
    tables: dict[str, int] | None = None  # a schema's: the holdout's rows per table
    histories: int | None = None  # a sequence model's: the histories the holdout holds (some of each, by time)
    by: str | None = None  # a sequence model's: "entity" (whole histories) or "time" (the end of each)

    @property
    def description(self) -> str:
        """One sentence for the page: which rows, from where, set aside when."""
        if self.by is not None:
            how = (f"{self.histories:,} whole histories" if self.by == "entity"
                   else f"the last {self.share:.0%} of each of {self.histories:,} histories")
            return (f"{self.rows:,} steps of {self.dataset_label} that {self.model_label} never saw: {how}, set aside "
                    f"when it was trained (seed {self.seed}); it trained on the other {self.training_rows:,} steps")
        if self.tables is not None:
            per_table = ", ".join(f"{name} {rows:,}" for name, rows in self.tables.items())
            return (f"{self.rows:,} rows of {self.dataset_label} ({per_table}) that {self.model_label} never saw: whole "
                    f"subtrees of root rows set aside when it was trained ({self.share:.0%} of the roots, seed "
                    f"{self.seed}); it trained on the other {self.training_rows:,} rows")
        strata = f", stratified on {self.stratify}" if self.stratify else ""
        return (f"{self.rows:,} rows of {self.dataset_label} that {self.model_label} never saw: set aside when it was "
                f"trained ({self.share:.0%}, seed {self.seed}{strata}); it trained on the other "
                f"{self.training_rows:,} rows")


def is_schema_output(generated: Any) -> bool:
    """Whether a generated dataset is a schema (related tables, ``workers.schema_generation``)."""
    return (generated.params or {}).get("kind") == "tables"


def is_sequence_output(generated: Any) -> bool:
    """Whether a generated dataset holds histories (a sequence model's, ``workers.sequence_generation``)."""
    return (generated.params or {}).get("kind") == "sequences"


def _model_holdout(session: TenantSession, generated_dataset_id: str) -> tuple[Any, Any]:
    """(model version, its holdout record): a ``HoldoutRecord``, a ``TablesHoldoutRecord`` for a schema, or None."""
    generated = catalog.get_generated_dataset(session, generated_dataset_id)
    model_version = catalog.get_model_version(session, generated.model_version_id)
    if is_schema_output(generated):
        return model_version, tables_record_of(model_version.metrics)
    if is_sequence_output(generated):
        return model_version, sequences_record_of(model_version.metrics)
    return model_version, record_of(model_version.metrics)


def default_holdout(tenant: str, generated_dataset_id: str, *, actor: Actor,
                    database: Database | None = None) -> HoldoutChoice | None:
    """The holdout ``submit_assessment`` uses when none is named: the one the generating model's
    training set aside; None when that model has none (a small table, or trained before holdouts).

    ``actor`` needs ``report.view``.
    """
    actor = require_actor(actor)
    with tenant_session(tenant, database=database) as session:
        require_permission(session, actor, "report.view")
        model_version, record = _model_holdout(session, generated_dataset_id)
        if record is None or not record.has_holdout or record.share is None:
            return None
        dataset_version = catalog.get_dataset_version(session, model_version.dataset_version_id)
        dataset = catalog.get_dataset(session, dataset_version.dataset_id)
        model = catalog.get_model(session, model_version.model_id)
        if isinstance(record, SequencesHoldoutRecord):  # histories: whole ones, or the end of each
            return HoldoutChoice(
                model_version_id=model_version.id, model_label=f"{model.name} v{model_version.version}",
                dataset_version_id=dataset_version.id, dataset_label=f"{dataset.name} v{dataset_version.version}",
                rows=record.rows, training_rows=record.training_rows, share=float(record.share), seed=record.seed,
                histories=record.holdout_entities, by=record.by,
            )
        if isinstance(record, TablesHoldoutRecord):  # a schema's: whole root subtrees, counted over its tables
            return HoldoutChoice(
                model_version_id=model_version.id, model_label=f"{model.name} v{model_version.version}",
                dataset_version_id=dataset_version.id, dataset_label=f"{dataset.name} v{dataset_version.version}",
                rows=sum(record.rows.values()), training_rows=sum(record.training_rows.values()),
                share=float(record.share), seed=record.seed, tables=dict(record.rows),
            )
        return HoldoutChoice(
            model_version_id=model_version.id, model_label=f"{model.name} v{model_version.version}",
            dataset_version_id=dataset_version.id, dataset_label=f"{dataset.name} v{dataset_version.version}",
            rows=record.rows, training_rows=record.training_rows, share=float(record.share), seed=record.seed,
            stratify=record.stratify,
        )


def submit_assessment(
    tenant: str,
    *,
    generated_dataset_id: str,
    actor: Actor,
    holdout_dataset_version_id: str | None = None,
    use_model_holdout: bool = True,
    target: str | None = None,
    config: dict[str, Any] | None = None,
    seed: int = 0,
    database: Database | None = None,
) -> Job:
    """Queue the assessment of ``generated_dataset_id``; returns the job (state ``queued``).

    The holdout: ``holdout_dataset_version_id`` if given, else the model's own
    (``default_holdout``) unless ``use_model_holdout`` is False, else none. The job's payload
    says which (``holdout_source``: one of ``HOLDOUT_SOURCES``).
    ``actor``: the signed-in user, who needs the ``job.start`` permission (``PermissionDeniedError``).
    """
    actor = require_actor(actor)
    if config is not None and not isinstance(config, dict):
        raise ConfigError("config must be a dict of quality settings (see engine.quality.QualityConfig) or None")
    if target is not None and not isinstance(target, str):
        raise ConfigError(f"target must be a column name or None, got {target!r}")

    def prepare(session: TenantSession) -> dict[str, Any]:
        require_permission(session, actor, "job.start")
        generated = catalog.get_generated_dataset(session, generated_dataset_id)
        if not generated.object_key and (generated.params or {}).get("destination"):
            raise InputError(f"generated dataset {generated_dataset_id} was written to {generated.params['destination']}, "
                             "outside the workspace: only generated data stored here can be assessed")
        if not generated.object_key:
            raise InputError(f"generated dataset {generated_dataset_id} has no stored data")
        _, record = _model_holdout(session, generated.id)
        if is_schema_output(generated):
            if holdout_dataset_version_id is not None:
                raise ConfigError("a generated schema is assessed against its model's own holdout (whole root "
                                  "subtrees) or none; another dataset version cannot serve as its holdout")
            if target is not None:
                raise ConfigError("a generated schema takes no target column: its utility test predicts a parent "
                                  "column from the parent's subtree (config['subtrees']['targets'] chooses it)")
            source = "model_version" if use_model_holdout and record is not None and record.has_holdout else "none"
            return {"generated_dataset_id": generated.id, "schema": True, "holdout_source": source,
                    "config": config, "seed": seed}
        if is_sequence_output(generated):
            if holdout_dataset_version_id is not None:
                raise ConfigError("generated histories are assessed against their model's own holdout (whole "
                                  "histories, or the end of each) or none; another dataset version cannot serve as "
                                  "their holdout")
            if target is not None:
                raise ConfigError("generated histories take no target column: their predictive score predicts each "
                                  "numeric step column's next step")
            source = "model_version" if use_model_holdout and record is not None and record.has_holdout else "none"
            return {"generated_dataset_id": generated.id, "sequences": True, "holdout_source": source,
                    "config": config, "seed": seed}
        if holdout_dataset_version_id is not None:
            holdout = catalog.get_dataset_version(session, holdout_dataset_version_id)
            if not holdout.object_key:
                raise InputError(f"holdout dataset version {holdout_dataset_version_id} has no stored data")
            source = "dataset_version"
        elif use_model_holdout and record is not None and record.has_holdout:
            source = "model_version"
        else:
            source = "none"
        return {"generated_dataset_id": generated.id, "holdout_dataset_version_id": holdout_dataset_version_id,
                "holdout_source": source, "target": target, "config": config, "seed": seed}

    return submit(tenant, kind="assess", actor=actor.label, prepare=prepare, database=database)


__all__ = ["HOLDOUT_SOURCES", "HoldoutChoice", "default_holdout", "is_schema_output", "is_sequence_output",
           "submit_assessment"]
