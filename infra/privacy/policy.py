"""What may be trained on a dataset and generated from a model, privacy-wise.

The jobs layer calls these before it queues (and again before it runs) a job:

- ``check_can_train(session, dataset_id=..., privacy=...)`` — a DP run (``privacy`` with
  ``epsilon`` and ``delta``) needs a budget with room for it (the binding check is
  ``reserve``; this one lets a page refuse early with the same message). A non-DP run
  (``privacy=None``) is refused on a dataset marked ``sensitive`` when the tenant's policy
  ``require_dp_on_sensitive`` is on.
- ``check_can_generate(session, model_version_id=...)`` — generation from a DP model is
  post-processing and costs nothing, but only once the model's training charge is committed
  on its dataset's ledger (and covers the epsilon and delta the model claims); generation
  from a non-DP model follows the same sensitive-dataset policy as training (a model trained
  before the dataset was marked sensitive, or before the policy was set, is caught here).

A model version is DP when its ``privacy_spent`` records an ``epsilon`` (the engine's manifest
``privacy`` section); its training charge is found on the ledger by the version's ``job_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.db.lookup import get_owned
from infra.db.models import Dataset, DatasetVersion, ModelVersion, TenantQuota
from infra.db.session import TenantSession
from infra.privacy.budget import (
    BudgetStatus,
    Reservation,
    actor_user_id,
    amounts,
    get_budget,
    require_admin,
    reservation_for_job,
)
from infra.privacy.errors import PrivacyBudgetExceededError, PrivacyPolicyError
from infra.records.audit import record_event

_TOLERANCE = 1e-9


@dataclass(frozen=True)
class PrivacyPolicy:
    """A tenant's privacy policy."""

    require_dp_on_sensitive: bool


@dataclass(frozen=True)
class TrainingCheck:
    """A training request that may go ahead: DP or not, and the budget it would draw on."""

    dataset_id: str
    dp: bool
    epsilon: float | None = None
    delta: float | None = None
    budget: BudgetStatus | None = None


@dataclass(frozen=True)
class GenerationCheck:
    """A generation request that may go ahead. It costs no privacy budget either way.

    ``charge`` is the DP model's committed training charge (None for a non-DP model).
    """

    model_version_id: str
    dataset_id: str
    dp: bool
    charge: Reservation | None = None
    epsilon_cost: float = 0.0


# --- policy settings ------------------------------------------------------------------------


def get_privacy_policy(session: TenantSession) -> PrivacyPolicy:
    """The session tenant's privacy policy (off unless an admin turned it on)."""
    row = session.get(TenantQuota, session.tenant)
    return PrivacyPolicy(require_dp_on_sensitive=bool(row and row.require_dp_on_sensitive))


def set_privacy_policy(session: TenantSession, *, require_dp_on_sensitive: bool, actor: Any) -> PrivacyPolicy:
    """Turn the "sensitive datasets need DP models" policy on or off; ``actor``: an owner's or admin's user id."""
    if not isinstance(require_dp_on_sensitive, bool):
        raise TypeError(f"require_dp_on_sensitive must be True or False; got {require_dp_on_sensitive!r}")
    who = require_admin(session, actor)
    row = session.get(TenantQuota, session.tenant) or TenantQuota(tenant_id=session.tenant)
    previous = bool(row.require_dp_on_sensitive)
    row.require_dp_on_sensitive = require_dp_on_sensitive
    session.add(row)
    session.flush()
    record_event(session, actor=who, action="privacy_policy.set", object_type="tenant", object_id=session.tenant,
                 details={"require_dp_on_sensitive": {"from": previous, "to": require_dp_on_sensitive},
                          "user_id": actor_user_id(actor)})
    return PrivacyPolicy(require_dp_on_sensitive=require_dp_on_sensitive)


def set_dataset_sensitive(session: TenantSession, *, dataset_id: str, sensitive: bool, actor: Any) -> Dataset:
    """Mark a dataset sensitive (or not); ``actor``: an owner's or admin's user id. Audited."""
    if not isinstance(sensitive, bool):
        raise TypeError(f"sensitive must be True or False; got {sensitive!r}")
    who = require_admin(session, actor)
    dataset = get_owned(session, Dataset, dataset_id, what="dataset", for_update=True)
    previous, dataset.sensitive = dataset.sensitive, sensitive
    session.flush()
    record_event(session, actor=who, action="dataset.sensitivity_set", object_type="dataset", object_id=dataset.id,
                 details={"from": previous, "to": sensitive, "user_id": actor_user_id(actor)})
    return dataset


# --- checks ---------------------------------------------------------------------------------


def _privacy_amounts(privacy: Any) -> tuple[float, float]:
    if hasattr(privacy, "to_dict"):
        privacy = privacy.to_dict()
    if isinstance(privacy, Mapping):
        if "epsilon" not in privacy or "delta" not in privacy:
            raise PrivacyPolicyError(f"a DP training request needs 'epsilon' and 'delta'; got {dict(privacy)!r}")
        return amounts(privacy["epsilon"], privacy["delta"])
    return amounts(getattr(privacy, "epsilon", None), getattr(privacy, "delta", None))


def _refuse_non_dp_on_sensitive(session: TenantSession, dataset: Dataset, what: str) -> None:
    if dataset.sensitive and get_privacy_policy(session).require_dp_on_sensitive:
        raise PrivacyPolicyError(
            f"dataset {dataset.name!r} is marked sensitive and tenant {session.tenant!r}'s policy requires "
            f"differential privacy on sensitive datasets: {what}"
        )


def check_can_train(session: TenantSession, *, dataset_id: str, privacy: Mapping[str, Any] | Any | None) -> TrainingCheck:
    """May a model be trained on the dataset with ``privacy`` (``{"epsilon", "delta"}``, or None for no DP)?

    Raises ``PrivacyPolicyError`` (non-DP on a sensitive dataset under the policy),
    ``PrivacyBudgetMissingError`` (DP without a budget) or ``PrivacyBudgetExceededError``
    (DP that does not fit now). Reserves nothing: the job calls ``reserve`` before reading data.
    """
    dataset = get_owned(session, Dataset, dataset_id, what="dataset")
    if privacy is None:
        _refuse_non_dp_on_sensitive(session, dataset, "train with a privacy setting (epsilon, delta)")
        return TrainingCheck(dataset_id=dataset.id, dp=False)
    epsilon, delta = _privacy_amounts(privacy)
    status = get_budget(session, dataset_id=dataset.id)
    if (status.epsilon_spent + (status.epsilon_reserved + epsilon) > status.epsilon_cap
            or status.delta_spent + (status.delta_reserved + delta) > status.delta_cap):
        raise PrivacyBudgetExceededError(
            f"privacy budget of dataset {dataset.name!r} exceeded: training asks for epsilon {epsilon:.6g}, "
            f"delta {delta:.6g}, but only {status.describe()}",
            remaining_epsilon=status.epsilon_remaining,
            remaining_delta=status.delta_remaining,
        )
    return TrainingCheck(dataset_id=dataset.id, dp=True, epsilon=epsilon, delta=delta, budget=status)


def is_dp_model(model_version: ModelVersion) -> bool:
    """Whether the version was trained with differential privacy (its ``privacy_spent`` has an epsilon)."""
    spent = model_version.privacy_spent
    return isinstance(spent, Mapping) and spent.get("epsilon") is not None


def check_can_generate(session: TenantSession, *, model_version_id: str) -> GenerationCheck:
    """May synthetic data be generated from this model version? It never costs budget.

    ``PrivacyPolicyError`` when the version is DP but its training charge is not committed on
    the dataset's ledger (reserved only, released, missing, or smaller than what the model
    claims to have spent), or when it is not DP, its dataset is marked sensitive and the
    tenant's policy requires DP there.
    """
    version = get_owned(session, ModelVersion, model_version_id, what="model version")
    dataset_version = get_owned(session, DatasetVersion, version.dataset_version_id, what="dataset version")
    dataset = get_owned(session, Dataset, dataset_version.dataset_id, what="dataset")
    if not is_dp_model(version):
        _refuse_non_dp_on_sensitive(session, dataset, f"model version {version.id} was trained without it")
        return GenerationCheck(model_version_id=version.id, dataset_id=dataset.id, dp=False)

    refusal = f"generation from DP model version {version.id} is refused"
    if version.job_id is None:
        raise PrivacyPolicyError(f"{refusal}: it names no training job, so no charge on dataset {dataset.name!r}'s "
                                 "privacy ledger accounts for it")
    charge = reservation_for_job(session, dataset_id=dataset.id, job_id=version.job_id)
    if charge is None or charge.state != "committed":
        state = "no charge" if charge is None else f"a charge that is only {charge.state}"
        raise PrivacyPolicyError(f"{refusal}: training job {version.job_id} has {state} on dataset "
                                 f"{dataset.name!r}'s privacy ledger; its charge must be committed first")
    spent = version.privacy_spent or {}
    claimed_epsilon, claimed_delta = float(spent["epsilon"]), float(spent.get("delta") or 0.0)
    if (claimed_epsilon > charge.epsilon * (1 + _TOLERANCE) + 1e-12
            or claimed_delta > charge.delta * (1 + _TOLERANCE) + 1e-15):
        raise PrivacyPolicyError(
            f"{refusal}: the model claims epsilon {claimed_epsilon:.6g}, delta {claimed_delta:.6g} but the ledger "
            f"charged its job only epsilon {charge.epsilon:.6g}, delta {charge.delta:.6g}"
        )
    return GenerationCheck(model_version_id=version.id, dataset_id=dataset.id, dp=True, charge=charge)


__all__ = [
    "GenerationCheck",
    "PrivacyPolicy",
    "TrainingCheck",
    "check_can_generate",
    "check_can_train",
    "get_privacy_policy",
    "is_dp_model",
    "set_dataset_sensitive",
    "set_privacy_policy",
]
