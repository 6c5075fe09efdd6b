"""A small-value cache shared by every process: Redis in production, a dict when embedded.

For values several app and worker processes want to agree on without a database round trip:
a rendered report summary, a profile's preview, a rate-limit counter. Values are bytes or
JSON (never pickle: a cache entry must not be able to run code), at most ``max_value_bytes``
each; big things belong in the object store. ``DOPPEL_CACHE_URL`` picks the backend:
``redis://…`` (or ``rediss://``, ``unix://``) for Redis, empty for the in-process one.

TTL: ``ttl_s=None`` uses the cache's default (``DOPPEL_CACHE_DEFAULT_TTL_S``), ``ttl_s=0``
means no expiry. Keys live under a namespace (``doppel:`` by default; ``for_tenant`` adds
``t:<tenant>:``), so ``clear()`` only ever removes this cache's own keys.
"""

from __future__ import annotations

import json
import re
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from infra.cache.errors import CacheError, CacheUnavailableError
from infra.settings import Settings, get_settings
from infra.tenant_ids import require_tenant

DEFAULT_MAX_VALUE_BYTES = 1024 * 1024
_NAMESPACE = re.compile(r"[a-z0-9][a-z0-9:_-]{0,127}")
_BAD_KEY = re.compile(r"[\s\x00-\x1f\x7f*?\[\]]")


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > 512 or _BAD_KEY.search(key):
        raise CacheError(
            f"invalid cache key {key!r}: 1-512 characters without whitespace, control characters or * ? [ ]"
        )
    return key


class SharedCache(ABC):
    """Byte and JSON values under string keys, with per-entry TTLs (see the module docstring)."""

    def __init__(self, *, namespace: str = "doppel", default_ttl_s: float | None = None, max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> None:
        if not _NAMESPACE.fullmatch(namespace):
            raise CacheError(f"invalid cache namespace {namespace!r}: lowercase letters, digits, ':', '_' or '-'")
        self.namespace = namespace
        self.default_ttl_s = default_ttl_s or None
        self.max_value_bytes = max_value_bytes

    # -- backend primitives, on full (namespaced) keys; ttl in seconds or None for none
    @abstractmethod
    def _get(self, full_key: str) -> bytes | None: ...

    @abstractmethod
    def _set(self, full_key: str, value: bytes, ttl_s: float | None, only_if_absent: bool) -> bool: ...

    @abstractmethod
    def _delete(self, full_key: str) -> bool: ...

    @abstractmethod
    def _incr(self, full_key: str, amount: int, ttl_s: float | None) -> int: ...

    @abstractmethod
    def _clear(self, prefix: str) -> int: ...

    # -- the interface
    def _full(self, key: str) -> str:
        return f"{self.namespace}:{_check_key(key)}"

    def _ttl(self, ttl_s: float | None) -> float | None:
        if ttl_s is None:
            return self.default_ttl_s
        if ttl_s < 0:
            raise CacheError(f"ttl_s must be >= 0, got {ttl_s}")
        return ttl_s or None

    def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, or ``None`` when absent or expired."""
        return self._get(self._full(key))

    def set(self, key: str, value: bytes | str, *, ttl_s: float | None = None, only_if_absent: bool = False) -> bool:
        """Store ``value`` (str is stored as UTF-8); with ``only_if_absent`` returns False if the key exists."""
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        if len(data) > self.max_value_bytes:
            raise CacheError(
                f"value for {key!r} is {len(data)} bytes, over the shared cache's {self.max_value_bytes}; "
                "keep large values in the object store"
            )
        return self._set(self._full(key), data, self._ttl(ttl_s), only_if_absent)

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if it was there."""
        return self._delete(self._full(key))

    def incr(self, key: str, amount: int = 1, *, ttl_s: float | None = None) -> int:
        """Add ``amount`` to an integer counter (created at 0) and return the new value.

        The TTL applies when the counter is created (a fixed window), not on every increment.
        """
        return self._incr(self._full(key), int(amount), self._ttl(ttl_s))

    def get_json(self, key: str) -> Any | None:
        """The JSON value under ``key``, or ``None``."""
        raw = self.get(key)
        return None if raw is None else json.loads(raw)

    def set_json(self, key: str, value: Any, *, ttl_s: float | None = None, only_if_absent: bool = False) -> bool:
        """Store ``value`` as compact JSON."""
        return self.set(key, json.dumps(value, separators=(",", ":")), ttl_s=ttl_s, only_if_absent=only_if_absent)

    def clear(self) -> int:
        """Remove every key of this namespace; returns how many."""
        return self._clear(f"{self.namespace}:")

    def for_tenant(self, tenant: str) -> "SharedCache":
        """The same backend under ``<namespace>:t:<tenant>``: a tenant's keys cannot meet another's."""
        return self._with_namespace(f"{self.namespace}:t:{require_tenant(tenant)}")

    @abstractmethod
    def _with_namespace(self, namespace: str) -> "SharedCache": ...


class MemoryCache(SharedCache):
    """The embedded backend: one dict per process, LRU-bounded by entry count."""

    def __init__(
        self,
        *,
        namespace: str = "doppel",
        default_ttl_s: float | None = None,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        _store: "_MemoryBackend | None" = None,
    ) -> None:
        super().__init__(namespace=namespace, default_ttl_s=default_ttl_s, max_value_bytes=max_value_bytes)
        self._backend = _store or _MemoryBackend(max_entries=max_entries, clock=clock)

    def _get(self, full_key: str) -> bytes | None:
        return self._backend.get(full_key)

    def _set(self, full_key: str, value: bytes, ttl_s: float | None, only_if_absent: bool) -> bool:
        return self._backend.set(full_key, value, ttl_s, only_if_absent)

    def _delete(self, full_key: str) -> bool:
        return self._backend.delete(full_key)

    def _incr(self, full_key: str, amount: int, ttl_s: float | None) -> int:
        return self._backend.incr(full_key, amount, ttl_s)

    def _clear(self, prefix: str) -> int:
        return self._backend.clear(prefix)

    def _with_namespace(self, namespace: str) -> "MemoryCache":
        return MemoryCache(namespace=namespace, default_ttl_s=self.default_ttl_s, max_value_bytes=self.max_value_bytes, _store=self._backend)


class _MemoryBackend:
    def __init__(self, *, max_entries: int, clock: Callable[[], float]) -> None:
        self._items: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()

    def _live(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] is not None and self._clock() >= item[1]:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item[0]

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live(key)

    def _put(self, key: str, value: bytes, ttl_s: float | None) -> None:
        self._items[key] = (value, self._clock() + ttl_s if ttl_s else None)
        self._items.move_to_end(key)
        while len(self._items) > self._max_entries:
            self._items.popitem(last=False)

    def set(self, key: str, value: bytes, ttl_s: float | None, only_if_absent: bool) -> bool:
        with self._lock:
            if only_if_absent and self._live(key) is not None:
                return False
            self._put(key, value, ttl_s)
            return True

    def delete(self, key: str) -> bool:
        with self._lock:
            present = self._live(key) is not None
            self._items.pop(key, None)
            return present

    def incr(self, key: str, amount: int, ttl_s: float | None) -> int:
        with self._lock:
            current = self._live(key)
            if current is None:
                value = amount
                self._put(key, str(value).encode(), ttl_s)
                return value
            try:
                value = int(current) + amount
            except ValueError:
                raise CacheError(f"cache key {key!r} does not hold an integer") from None
            expires_at = self._items[key][1]
            self._items[key] = (str(value).encode(), expires_at)
            return value

    def clear(self, prefix: str) -> int:
        with self._lock:
            doomed = [key for key in self._items if key.startswith(prefix)]
            for key in doomed:
                del self._items[key]
            return len(doomed)


class RedisCache(SharedCache):
    """The production backend: Redis (``redis://host:6379/0``, ``rediss://`` for TLS)."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "doppel",
        default_ttl_s: float | None = None,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        client: Any = None,
    ) -> None:
        super().__init__(namespace=namespace, default_ttl_s=default_ttl_s, max_value_bytes=max_value_bytes)
        import redis

        self.url = url
        self._client = client or redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30)

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        import redis

        try:
            return fn(*args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as err:
            raise CacheUnavailableError(f"shared cache unreachable ({what}): {err}") from err
        except redis.exceptions.ResponseError as err:
            raise CacheError(f"shared cache refused {what}: {err}") from None

    @staticmethod
    def _ms(ttl_s: float | None) -> int | None:
        return max(1, int(ttl_s * 1000)) if ttl_s else None

    def _get(self, full_key: str) -> bytes | None:
        return self._call("GET", self._client.get, full_key)

    def _set(self, full_key: str, value: bytes, ttl_s: float | None, only_if_absent: bool) -> bool:
        return bool(self._call("SET", self._client.set, full_key, value, px=self._ms(ttl_s), nx=only_if_absent))

    def _delete(self, full_key: str) -> bool:
        return bool(self._call("DEL", self._client.delete, full_key))

    def _incr(self, full_key: str, amount: int, ttl_s: float | None) -> int:
        def run() -> int:
            pipe = self._client.pipeline(transaction=True)
            # Create the counter with its TTL only if absent (a fixed window), then add.
            pipe.set(full_key, 0, nx=True, px=self._ms(ttl_s))
            pipe.incrby(full_key, amount)
            return int(pipe.execute()[1])

        try:
            return self._call("INCRBY", run)
        except CacheError as err:
            if isinstance(err, CacheUnavailableError):
                raise
            raise CacheError(f"cache key {full_key!r} does not hold an integer") from None

    def _clear(self, prefix: str) -> int:
        def run() -> int:
            removed = 0
            batch: list[bytes] = []
            for key in self._client.scan_iter(match=f"{prefix}*", count=500):
                batch.append(key)
                if len(batch) >= 500:
                    removed += self._client.delete(*batch)
                    batch.clear()
            if batch:
                removed += self._client.delete(*batch)
            return removed

        return self._call("SCAN/DEL", run)

    def _with_namespace(self, namespace: str) -> "RedisCache":
        return RedisCache(self.url, namespace=namespace, default_ttl_s=self.default_ttl_s, max_value_bytes=self.max_value_bytes, client=self._client)

    def ping(self) -> bool:
        """True when Redis answers (for health checks)."""
        return bool(self._call("PING", self._client.ping))


_embedded: dict[str, MemoryCache] = {}
_embedded_lock = threading.Lock()


def open_cache(url: str | None = None, *, settings: Settings | None = None, namespace: str = "doppel") -> SharedCache:
    """The shared cache at ``url`` (default ``DOPPEL_CACHE_URL``).

    Empty: the process-wide in-memory cache (the same object on every call, so callers in one
    process share it). ``redis://``, ``rediss://``, ``unix://``: a Redis client.
    """
    settings = settings or get_settings()
    url = settings.cache_url if url is None else url
    default_ttl = settings.cache_default_ttl_s
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if not url:
        with _embedded_lock:
            cache = _embedded.get(namespace)
            if cache is None:
                cache = _embedded[namespace] = MemoryCache(namespace=namespace, default_ttl_s=default_ttl)
            return cache
    if scheme in ("redis", "rediss", "unix"):
        return RedisCache(url, namespace=namespace, default_ttl_s=default_ttl)
    raise CacheError(f"unsupported cache URL {url!r} (DOPPEL_CACHE_URL): expected redis://host:port/db or empty")


__all__ = ["SharedCache", "MemoryCache", "RedisCache", "open_cache", "DEFAULT_MAX_VALUE_BYTES"]
