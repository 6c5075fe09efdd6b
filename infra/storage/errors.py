"""The errors the object store raises on purpose.

All derive from ``StorageError`` (itself an ``engine.DoppelError``), so a page can show
``str(err)`` and a worker can tell what to retry: only ``TransientStorageError`` is worth a
retry with backoff; every other storage error will fail the same way again.
"""

from __future__ import annotations

from engine.errors import DoppelError


class StorageError(DoppelError):
    """Base class of every error the object store raises on purpose."""


class InvalidKeyError(StorageError, ValueError):
    """An object key is empty, absolute, contains ``..`` or another segment the store refuses."""


class ObjectNotFoundError(StorageError, LookupError):
    """No object is stored under the key."""


class CorruptObjectError(StorageError):
    """An object's bytes do not match the SHA-256 checksum stored with it, or it has none."""


class TransientStorageError(StorageError):
    """The store could not be reached or answered with a temporary failure; retrying may help."""


class UnsupportedOperationError(StorageError):
    """The backend cannot do this (for example, a presigned link on the local folder store)."""


__all__ = [
    "StorageError",
    "InvalidKeyError",
    "ObjectNotFoundError",
    "CorruptObjectError",
    "TransientStorageError",
    "UnsupportedOperationError",
]
