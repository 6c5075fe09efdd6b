"""Errors the metadata layer raises on purpose; each message names the object and the problem.

They derive from ``engine.errors.DoppelError`` so that pages and workers catch one class and
show ``str(err)``. A lookup of another tenant's id raises the same ``NotFoundError`` as an id
that does not exist: the message never tells the two apart.
"""

from __future__ import annotations

from engine.errors import ConfigError, DoppelError


class NotFoundError(DoppelError, LookupError):
    """No such object for this tenant (whether or not another tenant has one)."""


class ConflictError(DoppelError):
    """The change clashes with an existing object (a duplicate name, a job in the wrong state)."""


class ImmutableRecordError(DoppelError):
    """An update of an immutable row (dataset or model version) or of an append-only log."""


class TenantMismatchError(DoppelError):
    """A row of one tenant was handed to a session of another."""


class QuotaExceededError(DoppelError):
    """The tenant's quota (concurrent jobs, stored bytes, rows per generation) would be exceeded."""


__all__ = [
    "ConfigError",
    "ConflictError",
    "ImmutableRecordError",
    "NotFoundError",
    "QuotaExceededError",
    "TenantMismatchError",
]
