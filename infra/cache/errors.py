"""The errors the caches raise on purpose (all ``engine.DoppelError``)."""

from __future__ import annotations

from engine.errors import DoppelError


class CacheError(DoppelError):
    """A cache call was refused: a bad key, a value too large, a malformed DOPPEL_CACHE_URL."""


class CacheUnavailableError(CacheError):
    """The shared cache (Redis) could not be reached; transient, the caller may retry or go without."""


__all__ = ["CacheError", "CacheUnavailableError"]
