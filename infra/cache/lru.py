"""In-process LRU cache bounded by bytes, with a time-to-live; and the model cache built on it.

A generation worker keeps hot models in memory so that a second request for the same model
version skips loading it from the object store. Models differ in size by orders of magnitude,
so the bound is in bytes (the loader says how big each value is), not in entries.
``get_or_load`` loads a missing value once even when several threads ask for it at the same
time, so two concurrent requests never hold two copies of a large model.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from infra.cache.errors import CacheError
from infra.settings import Settings, get_settings
from infra.tenant_ids import require_tenant

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class CacheStats:
    """Counters since the cache was made, and what it holds now."""

    hits: int
    misses: int
    loads: int
    evictions: int  # dropped to stay under max_bytes
    expirations: int  # dropped because their TTL ran out
    rejected: int  # values larger than max_bytes, returned but not kept
    entries: int
    bytes: int


@dataclass
class _Entry(Generic[V]):
    value: V
    size: int
    expires_at: float | None


class LRUCache(Generic[K, V]):
    """A thread-safe LRU map whose values have a size in bytes and an optional TTL.

    - ``max_bytes``: the sum of sizes never exceeds it; the least recently used entries go
      first. A value larger than ``max_bytes`` is not kept (``max_bytes=0`` keeps nothing).
    - ``ttl_s``: entries older than this are dropped (``None`` or ``0``: never). With
      ``sliding=True`` the age counts from the last use, so a model in steady use stays.
    - ``clock``: seconds, monotonic; tests pass their own.
    """

    def __init__(
        self,
        *,
        max_bytes: int,
        ttl_s: float | None = None,
        sliding: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes < 0:
            raise CacheError(f"max_bytes must be >= 0, got {max_bytes}")
        if ttl_s is not None and ttl_s < 0:
            raise CacheError(f"ttl_s must be >= 0, got {ttl_s}")
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s or None
        self.sliding = sliding
        self._clock = clock
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.RLock()
        self._loading: dict[K, threading.Lock] = {}
        self._counts = {"hits": 0, "misses": 0, "loads": 0, "evictions": 0, "expirations": 0, "rejected": 0}

    # -- reading
    def get(self, key: K, default: V | None = None) -> V | None:
        """The value under ``key``, or ``default``; a hit makes it the most recently used."""
        with self._lock:
            entry = self._live_entry(key)
            if entry is None:
                self._counts["misses"] += 1
                return default
            self._counts["hits"] += 1
            return entry.value

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return self._live_entry(key, touch=False) is not None  # type: ignore[arg-type]

    def __len__(self) -> int:
        with self._lock:
            self._expire_all()
            return len(self._entries)

    @property
    def bytes_used(self) -> int:
        with self._lock:
            self._expire_all()
            return self._bytes

    def stats(self) -> CacheStats:
        with self._lock:
            self._expire_all()
            return CacheStats(**self._counts, entries=len(self._entries), bytes=self._bytes)

    # -- writing
    def put(self, key: K, value: V, *, size_bytes: int) -> bool:
        """Keep ``value`` under ``key``; returns False when it is too large to keep."""
        if size_bytes < 0:
            raise CacheError(f"size_bytes must be >= 0, got {size_bytes}")
        with self._lock:
            self._remove(key)
            if size_bytes > self.max_bytes:
                self._counts["rejected"] += 1
                return False
            self._expire_all()
            expires_at = self._clock() + self.ttl_s if self.ttl_s else None
            self._entries[key] = _Entry(value, size_bytes, expires_at)
            self._bytes += size_bytes
            while self._bytes > self.max_bytes:
                oldest = next(iter(self._entries))
                self._remove(oldest)
                self._counts["evictions"] += 1
            return True

    def get_or_load(self, key: K, load: Callable[[], tuple[V, int]]) -> V:
        """The cached value, or ``load()``'s ``(value, size_bytes)``, kept and returned.

        Concurrent callers for the same missing key wait for one load instead of each loading.
        If ``load`` raises, nothing is kept and the error reaches this caller; waiting callers
        then try to load themselves.
        """
        with self._lock:
            entry = self._live_entry(key)
            if entry is not None:
                self._counts["hits"] += 1
                return entry.value
            self._counts["misses"] += 1
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                entry = self._live_entry(key)
                if entry is not None:  # another thread loaded it while we waited
                    return entry.value
            try:
                value, size = load()
                with self._lock:
                    self._counts["loads"] += 1
                self.put(key, value, size_bytes=size)
                return value
            finally:
                with self._lock:
                    if self._loading.get(key) is key_lock:
                        del self._loading[key]

    def pop(self, key: K) -> V | None:
        """Drop ``key`` and return its value (``None`` if it was not cached)."""
        with self._lock:
            entry = self._remove(key)
            return entry.value if entry is not None else None

    def discard_where(self, predicate: Callable[[K], bool]) -> int:
        """Drop every entry whose key matches ``predicate``; returns how many."""
        with self._lock:
            doomed = [key for key in self._entries if predicate(key)]
            for key in doomed:
                self._remove(key)
            return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    # -- internals (hold self._lock)
    def _live_entry(self, key: K, *, touch: bool = True) -> _Entry[V] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self._clock()
        if entry.expires_at is not None and now >= entry.expires_at:
            self._remove(key)
            self._counts["expirations"] += 1
            return None
        if touch:
            self._entries.move_to_end(key)
            if self.sliding and self.ttl_s:
                entry.expires_at = now + self.ttl_s
        return entry

    def _expire_all(self) -> None:
        if not self.ttl_s:
            return
        now = self._clock()
        expired = [key for key, entry in self._entries.items() if entry.expires_at is not None and now >= entry.expires_at]
        for key in expired:
            self._remove(key)
        self._counts["expirations"] += len(expired)

    def _remove(self, key: K) -> _Entry[V] | None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size
        return entry


ModelKey = tuple[str, str]
"""(tenant, model version id) — the model cache's key."""


class ModelCache(Generic[V]):
    """Loaded generation models kept in a worker's memory, keyed by tenant and model version.

    Model versions are immutable, so an entry is never stale; the TTL (from last use) only
    gives memory back when a model goes cold. The loader returns ``(model, size_bytes)``: use
    the in-memory size when you know it (for torch, the parameters' and buffers' bytes), else
    the size of the model file (``store.size(key)``) as an estimate.

    >>> cache = ModelCache.from_settings()                                       # doctest: +SKIP
    >>> model = cache.get_or_load(tenant="acme", model_version=mv.id,
    ...                           load=lambda: load_model_version(mv))           # doctest: +SKIP
    """

    def __init__(self, *, max_bytes: int, ttl_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._lru: LRUCache[ModelKey, V] = LRUCache(max_bytes=max_bytes, ttl_s=ttl_s, sliding=True, clock=clock)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "ModelCache[V]":
        """Sized by ``DOPPEL_MODEL_CACHE_MAX_BYTES`` and ``DOPPEL_MODEL_CACHE_TTL_S``."""
        settings = settings or get_settings()
        return cls(max_bytes=settings.model_cache_max_bytes, ttl_s=settings.model_cache_ttl_s)

    @staticmethod
    def key(tenant: str, model_version: str | int) -> ModelKey:
        return (require_tenant(tenant), str(model_version))

    def get(self, *, tenant: str, model_version: str | int) -> V | None:
        return self._lru.get(self.key(tenant, model_version))

    def put(self, *, tenant: str, model_version: str | int, model: V, size_bytes: int) -> bool:
        return self._lru.put(self.key(tenant, model_version), model, size_bytes=size_bytes)

    def get_or_load(self, *, tenant: str, model_version: str | int, load: Callable[[], tuple[V, int]]) -> V:
        return self._lru.get_or_load(self.key(tenant, model_version), load)

    def evict(self, *, tenant: str, model_version: str | int) -> bool:
        """Forget one model (for example when its version is deleted); True if it was cached."""
        return self._lru.pop(self.key(tenant, model_version)) is not None

    def evict_tenant(self, tenant: str) -> int:
        """Forget every model of ``tenant``; returns how many."""
        tenant = self.key(tenant, "")[0]
        return self._lru.discard_where(lambda key: key[0] == tenant)

    def __contains__(self, key: object) -> bool:
        return key in self._lru

    def __len__(self) -> int:
        return len(self._lru)

    def stats(self) -> CacheStats:
        return self._lru.stats()


__all__ = ["CacheStats", "LRUCache", "ModelCache", "ModelKey"]
