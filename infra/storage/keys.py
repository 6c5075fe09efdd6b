"""Object keys: what a key may look like, and the tenant namespace.

A key is a relative, slash-separated path such as ``datasets/42/v1/data.parquet``. The same
rules hold on every backend, so that a key valid on S3 is also a safe path under the local
folder: no empty, ``.`` or ``..`` segment, no leading slash, no backslash, no control
characters, and no segment starting with ``.`` (the local store keeps its checksum records
and temporary files under such names).
"""

from __future__ import annotations

import re

from infra.storage.errors import InvalidKeyError
from infra.tenant_ids import require_tenant

MAX_KEY_BYTES = 1024
"""S3's limit on a key, in UTF-8 bytes; the store prefix and tenant namespace count towards it."""

TENANTS_ROOT = "tenants"
"""Every tenant's objects live under ``tenants/<tenant>/``."""

_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x1f\x7f\\]")


def validate_key(key: str, *, allow_empty: bool = False) -> str:
    """Return ``key`` when it is a valid object key, else raise ``InvalidKeyError`` saying why.

    ``allow_empty`` admits ``""`` (the whole namespace), which ``list()`` uses as its default
    prefix. A prefix follows the same rules as a key; a trailing ``/`` is allowed on a prefix.
    """
    if not isinstance(key, str):
        raise InvalidKeyError(f"object key must be a string, not {type(key).__name__}")
    if key == "":
        if allow_empty:
            return key
        raise InvalidKeyError("object key is empty; use a relative path such as 'datasets/1/data.parquet'")
    if key.startswith("/"):
        raise InvalidKeyError(f"object key {key!r} is absolute; keys are relative paths inside the store")
    if _FORBIDDEN_CHARACTERS.search(key):
        raise InvalidKeyError(f"object key {key!r} contains a backslash or a control character")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"object key is longer than {MAX_KEY_BYTES} bytes")
    segments = key.split("/")
    if allow_empty and segments[-1] == "":
        segments = segments[:-1]  # "datasets/" is a prefix
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidKeyError(
                f"object key {key!r} has an empty, '.' or '..' segment; keys cannot leave their namespace"
            )
        if segment.startswith("."):
            raise InvalidKeyError(f"object key {key!r}: segments starting with '.' are reserved for the store")
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix: ``""`` or a key, optionally ending in ``/``."""
    return validate_key(prefix, allow_empty=True)


def tenant_root(tenant: str) -> str:
    """The key prefix of ``tenant``'s namespace, ``tenants/<tenant>/`` (tenant name checked)."""
    return f"{TENANTS_ROOT}/{require_tenant(tenant)}/"


__all__ = ["MAX_KEY_BYTES", "TENANTS_ROOT", "validate_key", "validate_prefix", "tenant_root"]
