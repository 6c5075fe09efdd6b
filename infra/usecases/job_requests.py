"""The workbench's requests for background work: train, generate, assess.

The jobs layer (``infra.usecases.training``, ``.generation``, ``.assessment``) checks
everything before a job exists — the acting user's role, the privacy policy and budget (a DP
training reserves its charge with the job), the generation rate limit, the quotas — and
queues the job. This module turns what the pages ask for into its arguments.

A training request takes the few settings that matter as typed fields (``TrainingRequest``);
the profile edits of the dataset version (types, keys) become the model's ``column_types``,
and the protections (rare-category k, extreme-value clipping) go to its ``transformer_params``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError
from infra.db import tenant_session
from infra.db.models import Job
from infra.records import catalog
from infra.records.authz import Actor, require_permission
from infra.usecases.assessment import submit_assessment
from infra.usecases.dataset_store import training_column_types
from infra.usecases.generation import submit_generation
from infra.usecases.quality_gates import tenant_quality_config
from infra.usecases.training import submit_training


@dataclass(frozen=True)
class Protections:
    """The protections that apply with or without differential privacy (DESIGN.md).

    ``rare_category_k``: categories seen on fewer rows are merged; ``cap_extremes``: numbers and
    dates are clipped by the engine's default rule (``engine.transform.protect.DEFAULT_EXTREMES``:
    no value beyond the k-th most extreme on each side); off, nothing is clipped.
    """

    rare_category_k: int = 5
    cap_extremes: bool = True

    def transformer_params(self) -> dict[str, Any]:
        if isinstance(self.rare_category_k, bool) or not isinstance(self.rare_category_k, int) or self.rare_category_k < 1:
            raise ConfigError(f"the rare-category threshold k must be a whole number of rows, at least 1; got {self.rare_category_k!r}")
        return {"rare_category_k": self.rare_category_k, **({} if self.cap_extremes else {"extremes": None})}


@dataclass(frozen=True)
class TrainingRequest:
    """What the Train page asks for. ``epochs=None``: the model's (or the profile's) default."""

    dataset_version_id: str
    model: str = "auto"
    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    device: str = "auto"
    model_name: str | None = None
    epsilon: float | None = None  # None: no differential privacy
    delta: float = 1e-5
    protections: Protections = field(default_factory=Protections)
    advanced: dict[str, Any] = field(default_factory=dict)  # other model parameters (validation_share, …)
    transformer: dict[str, Any] = field(default_factory=dict)  # other transformer parameters (n_modes, …)
    holdout_share: float | None = None  # None: the platform's share (DOPPEL_HOLDOUT_SHARE)
    holdout_stratify: str | None = None  # a column (the target) both parts keep the shares of; None: plain draw
    distributed: bool = False  # data-parallel training under torchrun
    processes: int | None = None  # its processes; None: the worker's setting (one per GPU)

    @property
    def privacy(self) -> dict[str, float] | None:
        return None if self.epsilon is None else {"epsilon": float(self.epsilon), "delta": float(self.delta)}


def request_training(tenant: str, *, request: TrainingRequest, actor: Actor) -> Job:
    """Check and queue a training job; returns the job (state ``queued``)."""
    with tenant_session(tenant) as session:
        # Not a copy of submit_training's job.start check: this read of the version's edits comes
        # first, and without it a non-member could tell a real version id from an unknown one.
        require_permission(session, actor, "data.view")
        version = catalog.get_dataset_version(session, request.dataset_version_id)
        column_types = training_column_types(version.source)
    params: dict[str, Any] = dict(request.advanced)
    if request.batch_size is not None:
        params["batch_size"] = request.batch_size
    params["transformer_params"] = {**request.transformer, **request.protections.transformer_params()}
    if column_types:
        params["column_types"] = column_types
    return submit_training(
        tenant, dataset_version_id=request.dataset_version_id, actor=actor, model=request.model,
        model_name=request.model_name or None, epochs=request.epochs, seed=request.seed, device=request.device,
        params=params, privacy=request.privacy, holdout_share=request.holdout_share,
        holdout_stratify=request.holdout_stratify or None, distributed=request.distributed,
        processes=request.processes,
    )


def request_generation(
    tenant: str,
    *,
    model_version_id: str,
    n_rows: int,
    actor: Actor,
    seed: int | None = None,
    conditions: str | dict[str, Any] | None = None,
    output_format: str = "parquet",
) -> Job:
    """Queue a generation job (the jobs layer checks the role, rate limit and privacy policy)."""
    return submit_generation(tenant, model_version_id=model_version_id, n_rows=n_rows, actor=actor, seed=seed,
                             conditions=conditions, format=output_format)


def request_assessment(
    tenant: str, *, generated_dataset_id: str, actor: Actor, target: str | None = None, seed: int = 0,
    holdout_dataset_version_id: str | None = None, use_model_holdout: bool = True,
) -> Job:
    """Queue the quality assessment of a generated dataset with the tenant's gate thresholds.

    The holdout (real rows the model never saw: the utility ceiling, the exact-copy allowance,
    the membership attacks) is by default the one the model's training set aside
    (``infra.usecases.assessment.default_holdout``); ``holdout_dataset_version_id`` names
    another version instead; ``use_model_holdout=False`` assesses without one.
    """
    config = tenant_quality_config(tenant)
    return submit_assessment(tenant, generated_dataset_id=generated_dataset_id, actor=actor, target=target,
                             config=config or None, seed=seed, holdout_dataset_version_id=holdout_dataset_version_id,
                             use_model_holdout=use_model_holdout)


__all__ = ["Protections", "TrainingRequest", "request_assessment", "request_generation",
           "request_training"]
