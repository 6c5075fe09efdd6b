"""Use case: train a model on a dataset version, as a background job.

    job = submit_training("acme", dataset_version_id=v.id, model="tvae", epochs=300, actor=user)
    # later: job_records.get_job(session, job.id).state / .progress / .result["model_version_id"]

Checks before anything starts: the model kind and its parameters (as the engine would refuse
them), the acting user's role (``job.start``: member or higher), the dataset version (it
exists for this tenant and has stored data), the tenant's privacy policy and the dataset's
budget (``infra.privacy.check_can_train``: no non-DP training on a sensitive dataset under
the policy), the tenant's quotas (concurrent jobs, storage). Then one transaction creates the
model line (if needed) and the queued job, and for a DP job reserves its (epsilon, delta) on
the dataset's budget; the message goes to the tenant tier's ``gpu`` queue after it commits.
The job is described once, by a ``TrainingJobSpec`` (``infra.jobs.training_spec``) that is
its payload. The worker trains in a child process (``torchrun`` for a distributed job),
checkpoints every ``checkpoint_every`` epochs and registers exactly one model version
(``workers.training``).

Every job sets a seeded holdout of the version aside before anything reads the rows (see
``submit_training``): the model never sees it, and the quality report compares against it.

A schema dataset version (several related tables: its ``source`` names ``"tables"`` and the
``"keys"`` to train with) makes the same kind of job, with the same checks, whose spec says
``trains_on="tables"``: the worker calls ``engine.train_tables`` with the version's keys,
``model`` ("auto" or a flat model kind) for the root tables and ``max_training_time_s``
shared by the tables; its holdout is whole root subtrees (``infra.records.schema_holdouts``)
and its model versions have ``model_type == "tables"``. What only one table's model takes
(epochs, model parameters, a holdout stratum, checkpoints, distributed training) is refused.
Differential privacy works as for a table (policy, budget, the charge reserved with the job),
with the root entity as the unit (``engine.train_tables(privacy=...)``), and needs keys that
were declared, not inferred from the rows. A retried schema job starts again (no
checkpoints); a DP one whose charge was committed stops instead of spending it twice.

A table of histories (a version whose ``source["sequence"]`` names its entity, time and
context columns: ``infra.usecases.sequence_roles``) trains the same way with
``trains_on="sequences"``: ``engine.train_sequences``, a holdout of whole histories or of their
ends (``infra.records.sequence_holdouts``), model versions of type "sequences", the same
settings refused; under DP the entity (its whole history) is the unit.

Differential privacy: ``privacy`` is passed to the engine, which trains with DP-SGD (or MST)
and reports what it spent in the model version's ``privacy_spent``. Its charge on the dataset's
privacy ledger is reserved here, before any data is read, committed by the worker when the
training starts, and released if the job ends before that (``infra.privacy.job_charges``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from engine.errors import ConfigError, InputError
from infra.db import Database, TenantSession
from infra.db.errors import ConflictError
from infra.db.models import DatasetVersion, Job, Model, ModelVersion
from infra.jobs.submit import submit
from infra.jobs.training_spec import TrainingJobSpec
from infra.privacy import check_can_train
from infra.privacy.job_charges import reserve_for_job
from infra.records import catalog
from infra.records.authz import Actor, require_actor, require_permission
from infra.records.holdouts import HoldoutRule
from infra.settings import get_settings
from infra.usecases.stored_profiles import profile_from_dict

DEVICES = ("auto", "cpu", "cuda")
# Names that are arguments of their own (or the worker's), never model parameters.
RESERVED_PARAMS = frozenset({"checkpoint_dir", "checkpoint_every", "on_progress", "privacy", "epochs", "seed", "device"})


def _check_model_settings(model: str, *, epochs: int | None, seed: int, device: str, params: dict[str, Any],
                          privacy: Any) -> dict[str, Any] | None:
    """Refuse what the engine would refuse, before a job exists; returns privacy as a dict.

    A named kind's parameters are checked by its frozen configuration
    (``engine.models.registry.validate_params``): the ``ConfigError`` names the model, the
    parameter, the value and what is allowed, and is what the Train page shows.
    """
    from engine.models.registry import available_kinds, validate_params
    from engine.privacy.config import Privacy

    if not isinstance(model, str) or (model != "auto" and model not in available_kinds()):
        raise ConfigError(f"unknown model {model!r}: expected 'auto' or one of {', '.join(available_kinds())}")
    if not isinstance(params, dict):
        raise ConfigError("params must be a dict of the model's parameters")
    if device not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    reserved = RESERVED_PARAMS & set(params)
    if reserved:
        raise ConfigError(f"params may not set {sorted(reserved)}: they are arguments of their own or set by the worker")
    coerced = Privacy.coerce(privacy)
    if model != "auto":
        validate_params(model, {**params, "epochs": epochs, "seed": seed, "device": device}, private=coerced is not None)
    elif epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ConfigError(f"epochs must be a positive integer or None; got {epochs!r}")
    return None if coerced is None else coerced.to_dict()


SCHEMA_KIND = "tables"
"""The model type (and model-line kind) of a schema's model versions."""

SEQUENCE_KIND = "sequences"
"""The model type (and model-line kind) of a table of histories' model versions."""


def schema_keys(version: DatasetVersion) -> dict[str, Any] | None:
    """The keys a schema dataset version trains with (its ``source["keys"]``); None for a single table.

    A schema version's ``source`` names its ``"tables"``; ``InputError`` when it records no
    usable keys (``{"primary_keys": {...}, "foreign_keys": [...]}``).
    """
    source = version.source or {}
    if "tables" not in source:
        return None
    keys = source.get("keys")
    if not isinstance(keys, Mapping) or not isinstance(keys.get("foreign_keys", []), list) \
            or not isinstance(keys.get("primary_keys", {}), Mapping):
        raise InputError(f"dataset version {version.id} holds related tables but records no keys "
                         "({'primary_keys': {...}, 'foreign_keys': [...]}); store the tables again with their keys")
    return {"primary_keys": dict(keys.get("primary_keys") or {}), "foreign_keys": list(keys.get("foreign_keys") or [])}


def _check_schema_privacy(source: Mapping[str, Any], *, privacy: Mapping[str, Any], holdout: HoldoutRule) -> None:
    """Differential privacy on related tables needs declared keys and a delta below 1 / root entities.

    ``engine.train_tables`` makes a root entity (a root row with all its descendants) the unit
    of privacy, read through the keys; keys a profile inferred from the rows were an
    unaccounted look at them (the engine refuses ``keys=None`` under DP for that reason). The
    engine also refuses a delta of 1 / (root entities it trains on) or more; checked here on
    the root rows left after the holdout, so that such a run is refused before its charge.
    """
    from infra.usecases.training_plan import schema_plan

    plan = schema_plan(source)
    roots = sum(t.rows or 0 for t in plan.tables if t.is_root) if plan is not None else 0
    share = holdout.share_for(roots) or 0.0
    training_roots = max(1, math.floor(roots * (1.0 - share)))
    if roots and float(privacy["delta"]) >= 1.0 / training_roots:
        raise ConfigError(f"delta={float(privacy['delta']):g} is not below 1 / root entities = "
                          f"{1.0 / training_roots:.3g} for the {training_roots:,} root rows this run trains on; a delta "
                          "that large permits publishing whole entities: choose a smaller delta")
    inferred = source.get("keys_inferred") or {}
    guessed = [*(f"primary key of {t}" for t in inferred.get("primary_keys") or []),
               *(inferred.get("foreign_keys") or [])]
    if source.get("keys_from") == "inferred" or guessed:
        what = ", ".join(guessed) or "the keys"
        raise ConfigError(f"under differential privacy the keys must be declared: {what} were inferred from the rows, "
                          "an unaccounted look at them; confirm the keys on the Profile page (it stores a version with "
                          "declared keys) and train that version, or train without privacy")


def _check_schema_settings(*, epochs: int | None, params: dict[str, Any], distributed: bool, processes: int | None,
                           checkpoint_every: int | None, holdout_stratify: str | None, sequences: bool = False) -> None:
    """Refuse, with what to do instead, the settings a schema (or a table of histories) job cannot use."""
    what = "a table of histories" if sequences else "a schema"
    if distributed or processes is not None:
        raise ConfigError(f"{what} trains its models one after another in one process: distributed training is not "
                          f"available for {what}; set distributed=False (and no processes)")
    if epochs is not None:
        raise ConfigError(f"epochs={epochs} applies to one table's model; {what} is trained for as long as each of "
                          "its models needs, within max_training_time_s: leave epochs unset and set "
                          "max_training_time_s instead")
    if params:
        raise ConfigError(f"model parameters {sorted(params)} apply to one table's model, not to {what}; "
                          f"{what} job takes model ('auto' or a model{'' if sequences else ' for the root tables'}), "
                          "seed, device, privacy and max_training_time_s")
    if checkpoint_every is not None:
        raise ConfigError(f"{what} job writes no checkpoints (a retried one starts again); "
                          "leave checkpoint_every unset")
    if holdout_stratify is not None:
        unit = "whole histories (or each history's end)" if sequences else "root row (whole subtrees)"
        raise ConfigError(f"the holdout is drawn by {unit} for {what}, not stratified on a column; "
                          "leave holdout_stratify unset")


def _check_sequence_model(model: str) -> None:
    from engine.sequences.train import MODELS

    if model not in MODELS:
        raise ConfigError(f"a table of histories trains with one of {list(MODELS)} (ARGN draws each step given its "
                          f"context and history); got model={model!r}")


def _check_distributed(*, distributed: bool, processes: int | None, kind: str | None) -> None:
    """A data-parallel job needs a model that trains under torchrun; ``processes`` only goes with one."""
    from engine.models.registry import model_class

    if processes is not None and (isinstance(processes, bool) or not isinstance(processes, int) or processes < 1):
        raise ConfigError(f"processes must be a positive whole number of training processes, got {processes!r}")
    if processes is not None and not distributed:
        raise ConfigError(f"processes={processes} needs distributed=True: a single-process job runs one process")
    if distributed and kind is not None and not model_class(kind).trains_distributed:
        raise ConfigError(f"{kind} trains in one process and cannot be trained distributed; "
                          "choose another model or distributed=False")


def _line_of_dataset(session: TenantSession, *, dataset_id: str, name: str) -> Model | None:
    """The dataset's model line named ``name``, if it has one."""
    return next((line for line in catalog.list_models(session, dataset_id=dataset_id) if line.name == name), None)


def resolved_kind(model: str, *, version: DatasetVersion, privacy: dict[str, Any] | None) -> str | None:
    """The model kind a job for ``model`` trains on ``version``: ``model`` itself, or what "auto" becomes.

    "auto" is resolved by ``engine.training.resolve_auto``, the rule ``engine.train`` follows:
    under DP by the epsilon alone (MST at small budgets, ARGN above); without DP from the
    version's stored profile (its edits applied). None when a version has no stored profile
    (only versions written around the upload path): the kind is then known once trained.
    """
    if model != "auto":
        return model
    from engine.training import resolve_auto

    stored = dict(version.profile or {})
    if privacy is not None:
        return resolve_auto(columns=list(stored.get("columns") or {}), privacy=privacy).model
    if "columns" not in stored:
        return None
    profile = profile_from_dict(stored)
    return resolve_auto(columns=list(profile.columns), profile=profile).model


def _line_kind(session: TenantSession, line: Model) -> str | None:
    """The kind of model ``line`` holds, fixed by its first version (None for a line with nothing yet).

    Before its first version is registered, the kind of the oldest training job still queued
    or running for the line fixes it, so two runs submitted back to back cannot mix kinds either.
    """
    first = session.scalar(
        select(ModelVersion.model_type)
        .where(ModelVersion.tenant_id == session.tenant, ModelVersion.model_id == line.id)
        .order_by(ModelVersion.version).limit(1)
    )
    if first is not None:
        return first
    pending = session.scalars(
        select(Job).where(Job.tenant_id == session.tenant, Job.kind == "train", Job.state.in_(("queued", "running")))
        .order_by(Job.created_at)
    )
    return next((job.payload.get("model_kind") for job in pending
                 if (job.payload or {}).get("model_id") == line.id and (job.payload or {}).get("model_kind")), None)


def _model_line(session: TenantSession, *, dataset_id: str, dataset_name: str, model: str, model_id: str | None,
                model_name: str | None, actor: str | None, kind: str | None = None) -> Model:
    """The model line the new version joins: ``model_id``'s, or the one named so for this dataset (created if new).

    One line holds one kind of model (``kind``: what the job trains, "auto" resolved): the
    default name is ``"<dataset> (<kind>)"``, and a named line whose kind (``_line_kind``,
    fixed by its first version) differs is not mixed: the run goes to ``"<name> (<kind>)"``
    instead. ``model_id`` names the line itself, so a different kind there is refused.

    Getting or creating is safe under concurrency: when several submissions for one dataset
    create the same new line at once, the tenant's unique name lets one insert win; the others'
    insert fails inside its savepoint (``catalog.create_model``), and they read the winner's
    line again (committed by then: the losing insert waited for it) and join it. Only a name
    that another dataset's line holds is refused.
    """
    if model_id is not None:
        line = catalog.get_model(session, model_id)
        if line.dataset_id != dataset_id:
            raise ConfigError(f"model {line.name!r} belongs to another dataset; train a new model for this one")
        held = _line_kind(session, line) if kind is not None else None
        if held is not None and held != kind:
            raise ConfigError(f"model {line.name!r} holds {held} versions and this run trains {kind}; "
                              f"choose {held}, or train a new model for {kind}")
        return line
    name = (model_name or f"{dataset_name} ({kind or model})").strip()  # as the line stores it
    line = _named_line(session, dataset_id=dataset_id, name=name, actor=actor)
    held = _line_kind(session, line) if kind is not None else None
    if held is None or held == kind:
        return line
    other = _named_line(session, dataset_id=dataset_id, name=f"{name} ({kind})", actor=actor)
    held = _line_kind(session, other)
    if held is not None and held != kind:
        raise ConfigError(f"model {other.name!r} holds {held} versions and this run trains {kind}; "
                          "choose another model name")
    return other


def _named_line(session: TenantSession, *, dataset_id: str, name: str, actor: str | None) -> Model:
    """The dataset's line named ``name``, created if new (see ``_model_line`` on concurrency)."""
    existing = _line_of_dataset(session, dataset_id=dataset_id, name=name)
    if existing is not None:
        return existing  # the next version of an existing line
    try:
        return catalog.create_model(session, name=name, dataset_id=dataset_id, actor=actor)
    except ConflictError as err:
        created_meanwhile = _line_of_dataset(session, dataset_id=dataset_id, name=name)
        if created_meanwhile is not None:  # a concurrent submission for this dataset created it first
            return created_meanwhile
        raise ConflictError(f"{err}, for another dataset; choose another model name") from err


def submit_training(
    tenant: str,
    *,
    dataset_version_id: str,
    actor: Actor,
    model: str = "auto",
    model_id: str | None = None,
    model_name: str | None = None,
    epochs: int | None = None,
    seed: int = 0,
    device: str = "auto",
    params: dict[str, Any] | None = None,
    privacy: Any = None,
    checkpoint_every: int | None = None,
    time_limit_s: float | None = None,
    distributed: bool = False,
    processes: int | None = None,
    holdout_share: float | None = None,
    holdout_stratify: str | None = None,
    max_training_time_s: float | None = None,
    database: Database | None = None,
) -> Job:
    """Queue a training job for ``dataset_version_id``; returns the job (state ``queued``).

    ``model_id`` adds a version to an existing model line; otherwise the line named
    ``model_name`` (default ``"<dataset> (<kind>)"``, "auto" resolved) is used or created. A
    line holds one kind of model: a run of another kind goes to ``"<name> (<kind>)"`` (a named
    line) or is refused with a ``ConfigError`` (``model_id``); see ``_model_line``. ``params`` go to
    the model (``batch_size``, ``transformer_params``, its own hyperparameters). ``actor``: the
    signed-in user, who needs the ``job.start`` permission in the tenant. ``privacy``
    (``{"epsilon", "delta", ...}`` or an ``engine.Privacy``) makes it a DP job whose charge is
    reserved with the job. Raises ``ConfigError`` for bad settings, ``PermissionDeniedError``
    for a role that may not start jobs, ``NotFoundError`` for an unknown dataset version,
    ``PrivacyPolicyError`` (non-DP on a sensitive dataset under the policy),
    ``PrivacyBudgetMissingError`` / ``PrivacyBudgetExceededError`` (no budget, or not enough
    left: the message says how much is) and ``QuotaExceededError`` when a quota would be
    exceeded; nothing is created then.

    The holdout: the worker sets ``holdout_share`` of the version's rows aside (default
    ``DOPPEL_HOLDOUT_SHARE``; at least ``DOPPEL_HOLDOUT_MIN_ROWS``; none for a table of fewer
    than ``DOPPEL_HOLDOUT_MIN_TABLE_ROWS`` rows), seeded with ``seed`` and stratified on
    ``holdout_stratify`` if given, before anything reads the rows (``infra.records.holdouts``).
    The rule is fixed here, in the job's payload.

    ``distributed``: data-parallel training under ``torchrun`` with ``processes`` processes
    (None: the worker's setting, else one per GPU it sees); a model that trains in one process
    (MST) is refused. The job's payload is its ``TrainingJobSpec`` (``infra.jobs.training_spec``),
    built here once and read back as it is by the worker and the training process.

    ``max_training_time_s``: the training's own time (a table model's parameter of that name;
    a schema's tables share it by their rows). A schema dataset version trains with
    ``engine.train_tables`` (see the module's docstring): ``model`` is "auto" or the flat
    model of its root tables; epochs, ``params``, ``distributed``/``processes``,
    ``checkpoint_every`` and ``holdout_stratify`` are refused with a ``ConfigError`` that says
    what to set instead, and so is ``privacy`` on keys inferred from the rows.
    """
    actor = require_actor(actor)
    params = dict(params or {})
    settings = get_settings()
    if max_training_time_s is not None:
        if isinstance(max_training_time_s, bool) or not isinstance(max_training_time_s, (int, float)) \
                or not 0 < float(max_training_time_s) <= settings.train_time_limit_s:
            raise ConfigError(f"max_training_time_s must be in (0, {settings.train_time_limit_s:,.0f}] seconds, "
                              f"got {max_training_time_s!r}")
        if "max_training_time_s" in params:
            raise ConfigError("max_training_time_s is given twice (as an argument and in params); give it once")
    table_params = params if max_training_time_s is None else {
        **params, "max_training_time_s": float(max_training_time_s)}
    privacy_dict = _check_model_settings(model, epochs=epochs, seed=seed, device=device, params=table_params,
                                         privacy=privacy)
    holdout = HoldoutRule.from_settings(settings, share=holdout_share, stratify=holdout_stratify)
    if checkpoint_every is not None and (isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int)
                                         or checkpoint_every < 1):
        raise ConfigError(f"checkpoint_every must be a positive number of epochs, got {checkpoint_every!r}")
    if time_limit_s is not None and not 0 < float(time_limit_s) <= settings.train_time_limit_s:
        raise ConfigError(f"time_limit_s must be in (0, {settings.train_time_limit_s:,.0f}] seconds, got {time_limit_s!r}")
    _check_distributed(distributed=bool(distributed), processes=processes, kind=None if model == "auto" else model)

    def prepare_whole(session: TenantSession, version: DatasetVersion, *, keys: dict[str, Any] | None = None,
                      roles: dict[str, Any] | None = None) -> dict[str, Any]:
        """The spec of a job that trains a schema (``keys``) or a table of histories (``roles``) as one model."""
        sequences = roles is not None
        _check_schema_settings(epochs=epochs, params=params, distributed=bool(distributed), processes=processes,
                               checkpoint_every=checkpoint_every, holdout_stratify=holdout_stratify, sequences=sequences)
        if sequences:
            _check_sequence_model(model)
        elif privacy_dict is not None:
            _check_schema_privacy(version.source or {}, privacy=privacy_dict, holdout=holdout)
        kind = SEQUENCE_KIND if sequences else SCHEMA_KIND
        dataset = catalog.get_dataset(session, version.dataset_id)
        check_can_train(session, dataset_id=dataset.id, privacy=privacy_dict)
        line = _model_line(session, dataset_id=dataset.id, dataset_name=dataset.name, model=model, model_id=model_id,
                           model_name=model_name, actor=actor.label, kind=kind)
        return TrainingJobSpec.build(
            dataset_id=dataset.id, dataset_version_id=version.id, model_id=line.id, model=model,
            model_kind=kind, seed=seed, device=device, privacy=privacy_dict, holdout=holdout,
            trains_on="sequences" if sequences else "tables", keys=keys, sequence=roles,
            max_training_time_s=float(max_training_time_s) if max_training_time_s is not None else None,
            time_limit_s=float(time_limit_s) if time_limit_s is not None else None,
            checkpoint_every=settings.checkpoint_every_epochs,
        ).to_payload()

    def prepare(session: TenantSession) -> dict[str, Any]:
        require_permission(session, actor, "job.start")
        version = catalog.get_dataset_version(session, dataset_version_id)
        if not version.object_key:
            raise InputError(f"dataset version {dataset_version_id} has no stored data to train on")
        keys = schema_keys(version)
        if keys is not None:
            return prepare_whole(session, version, keys=keys)
        roles = (version.source or {}).get("sequence")
        if isinstance(roles, Mapping):
            return prepare_whole(session, version, roles=dict(roles))
        dataset = catalog.get_dataset(session, version.dataset_id)
        check_can_train(session, dataset_id=dataset.id, privacy=privacy_dict)
        kind = resolved_kind(model, version=version, privacy=privacy_dict)
        _check_distributed(distributed=bool(distributed), processes=processes, kind=kind)
        line = _model_line(session, dataset_id=dataset.id, dataset_name=dataset.name, model=model,
                           model_id=model_id, model_name=model_name, actor=actor.label, kind=kind)
        return TrainingJobSpec.build(
            dataset_id=dataset.id, dataset_version_id=version.id, model_id=line.id, model=model,
            model_kind=kind,  # what the job trains ("auto" resolved): its model line holds this kind only
            params=table_params, epochs=epochs, seed=seed, device=device, privacy=privacy_dict, holdout=holdout,
            time_limit_s=float(time_limit_s) if time_limit_s is not None else None,
            checkpoint_every=checkpoint_every or settings.checkpoint_every_epochs,
            distributed=bool(distributed), processes=processes,
        ).to_payload()

    def reserve_budget(session: TenantSession, job: Job) -> None:
        if privacy_dict is not None:  # before any data is read, in the job row's transaction
            reserve_for_job(session, job=job, dataset_id=job.payload["dataset_id"], privacy=privacy_dict, model=model)

    return submit(tenant, kind="train", actor=actor.label, prepare=prepare, after_create=reserve_budget,
                  database=database)


__all__ = ["SCHEMA_KIND", "SEQUENCE_KIND", "resolved_kind", "schema_keys", "submit_training"]
