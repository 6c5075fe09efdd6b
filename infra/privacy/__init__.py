"""The privacy budget of record: per-dataset caps, a ledger that cannot overspend, and the policies.

The budget belongs to a dataset. A tenant owner or admin sets its (epsilon, delta) caps; every
DP training job reserves its (epsilon, delta) before it reads data, commits the charge when
training starts, or releases it if it never started. The ledger of those charges is
append-only and hash-chained, and is the audit log of the dataset's privacy spend.

A worker's DP training job, in outline::

    from infra.db import tenant_session
    from infra import privacy

    with tenant_session(tenant) as s:                       # before reading any data
        reservation = privacy.reserve(s, dataset_id=d, job_id=j, epsilon=1.0, delta=1e-5,
                                      mechanism="dp-sgd (tvae)")
    ...                                                      # job could not start:
    with tenant_session(tenant) as s:                        #   privacy.release(s, reservation=...)
        privacy.commit(s, reservation=reservation,           # training starts: final, no refund
                       rdp_curve=privacy.RdpCurve.from_history(planned_history))

and before queueing: ``check_can_train(s, dataset_id=..., privacy={...} or None)``,
``check_can_generate(s, model_version_id=...)``. ``composition_report`` gives the sequential
sum of record and, labelled as such, the tighter RDP composition of the stored curves;
``verify_ledger`` recomputes the hash chain and names the first broken entry.

Modules: ``budget`` (caps, reserve/commit/release), ``job_charges`` (a training job's
charge: reserved with the job, committed as training starts, released if it never did),
``ledger`` (hash chain, verification), ``policy`` (training and generation checks, the
sensitive-dataset policy), ``report`` (composition), ``rdp`` (RDP curves and their
composition, no database), ``errors``.
"""

from infra.privacy.budget import (
    BudgetStatus,
    Reservation,
    commit,
    get_budget,
    get_reservation,
    release,
    reservation_for_job,
    reserve,
    set_budget,
)
from infra.privacy.errors import (
    PermissionDeniedError,
    PrivacyBudgetExceededError,
    PrivacyBudgetMissingError,
    PrivacyPolicyError,
)
from infra.privacy.ledger import LedgerVerification, list_entries, verify_ledger
from infra.privacy.policy import (
    GenerationCheck,
    PrivacyPolicy,
    TrainingCheck,
    check_can_generate,
    check_can_train,
    get_privacy_policy,
    set_dataset_sensitive,
    set_privacy_policy,
)
from infra.privacy.rdp import ComposedGuarantee, RdpCurve, compose
from infra.privacy.report import CompositionReport, RdpComposition, SequentialComposition, composition_report

__all__ = [
    "BudgetStatus",
    "ComposedGuarantee",
    "CompositionReport",
    "GenerationCheck",
    "LedgerVerification",
    "PermissionDeniedError",
    "PrivacyBudgetExceededError",
    "PrivacyBudgetMissingError",
    "PrivacyPolicy",
    "PrivacyPolicyError",
    "RdpComposition",
    "RdpCurve",
    "Reservation",
    "SequentialComposition",
    "TrainingCheck",
    "check_can_generate",
    "check_can_train",
    "commit",
    "compose",
    "composition_report",
    "get_budget",
    "get_privacy_policy",
    "get_reservation",
    "list_entries",
    "release",
    "reservation_for_job",
    "reserve",
    "set_budget",
    "set_dataset_sensitive",
    "set_privacy_policy",
    "verify_ledger",
]
