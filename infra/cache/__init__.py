"""Caches: a worker's in-memory model cache, and a small shared cache for every process.

- ``ModelCache`` / ``LRUCache`` (``infra.cache.lru``): in-process, bounded by bytes, TTL from
  last use; the generation worker keeps loaded models here, keyed by tenant and model version.
- ``open_cache()`` (``infra.cache.shared``): small byte/JSON values shared by processes,
  Redis when ``DOPPEL_CACHE_URL`` is set, an in-process dict otherwise.
"""

from __future__ import annotations

from infra.cache.errors import CacheError, CacheUnavailableError
from infra.cache.lru import CacheStats, LRUCache, ModelCache
from infra.cache.shared import MemoryCache, RedisCache, SharedCache, open_cache

__all__ = [
    "CacheError",
    "CacheUnavailableError",
    "CacheStats",
    "LRUCache",
    "ModelCache",
    "SharedCache",
    "MemoryCache",
    "RedisCache",
    "open_cache",
]
