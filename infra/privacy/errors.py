"""Errors of the privacy budget and policy; each message names the dataset and the numbers.

They derive from ``engine.errors.DoppelError`` so that pages and workers catch one class and
show ``str(err)``. Budget and policy refusals are distinct classes, so a jobs layer can tell
"wait for budget / ask an admin" from "this model may not be used". A user without the admin
role is refused with ``infra.records.authz.PermissionDeniedError``, the class every role
check raises, so one ``except`` catches every refusal by role.
"""

from __future__ import annotations

from engine.errors import DoppelError
from infra.records.authz import PermissionDeniedError  # the roles' one refusal class, re-exported here


class PrivacyBudgetExceededError(DoppelError):
    """The (epsilon, delta) asked for does not fit in what is left of the dataset's budget.

    ``remaining_epsilon`` and ``remaining_delta`` say what is left (cap - spent - reserved).
    """

    def __init__(self, message: str, *, remaining_epsilon: float, remaining_delta: float) -> None:
        super().__init__(message)
        self.remaining_epsilon = remaining_epsilon
        self.remaining_delta = remaining_delta


class PrivacyBudgetMissingError(DoppelError):
    """DP work was asked of a dataset that has no privacy budget (a tenant admin sets one)."""


class PrivacyPolicyError(DoppelError):
    """The tenant's privacy policy, or the ledger's state, forbids training or generating."""


__all__ = ["PermissionDeniedError", "PrivacyBudgetExceededError", "PrivacyBudgetMissingError", "PrivacyPolicyError"]
