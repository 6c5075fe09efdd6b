"""Tenant names: the one local tenant of single-user mode, and the name check every layer applies.

It sits at the bottom of infra (it imports only the engine's errors): the database session, the
object store's keys and the caches check a tenant name here, below the records and use cases.
"""

from __future__ import annotations

import re

from engine.errors import ConfigError

LOCAL_TENANT = "local"
"""The tenant of single-user local mode (no login provider configured)."""

_TENANT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def require_tenant(tenant: str) -> str:
    """Return ``tenant`` when it is a valid tenant name, else raise ConfigError.

    Tenant names become path segments and row-level-security values, so they are kept to
    lowercase letters, digits, ``-`` and ``_`` (1 to 63 characters, starting alphanumeric).
    """
    if not isinstance(tenant, str) or _TENANT_NAME.fullmatch(tenant) is None:
        raise ConfigError(
            f"invalid tenant {tenant!r}: expected 1-63 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return tenant
