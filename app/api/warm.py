"""Warm models and stream slots of one API process.

``WarmModels`` keeps loaded models in an in-process byte-bounded LRU (``infra.cache.lru.ModelCache``,
``DOPPEL_MODEL_CACHE_MAX_BYTES``, keyed by tenant and model version): the first samples or
stream request for a version loads it once, even when several arrive together; later ones reuse
it. ``StreamSlots`` bounds the streams served at once (``DOPPEL_API_STREAM_SLOTS``); a stream holds
its slot until its client disconnects or its quota ends.
"""

from __future__ import annotations

import threading
from typing import Any

from app.api.problems import ApiProblem
from infra.cache.lru import ModelCache
from infra.settings import get_settings
from infra.usecases.model_serving import ServingVersion, load_serving_model


class WarmModels:
    """Loaded models of this process, by tenant and model version."""

    def __init__(self, *, max_bytes: int | None = None) -> None:
        settings = get_settings()
        self.cache: ModelCache[Any] = ModelCache(
            max_bytes=settings.model_cache_max_bytes if max_bytes is None else max_bytes,
            ttl_s=settings.model_cache_ttl_s or None,
        )
        self.loads = 0

    def model(self, tenant: str, version: ServingVersion) -> Any:
        def load() -> tuple[Any, int]:
            self.loads += 1
            return load_serving_model(tenant, object_key=version.object_key)

        return self.cache.get_or_load(tenant=tenant, model_version=version.id, load=load)


class StreamSlots:
    """At most ``size`` streams at once in this process."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size or get_settings().api_stream_slots
        self._active = 0
        self._lock = threading.Lock()

    @property
    def active(self) -> int:
        with self._lock:
            return self._active

    def ensure_free(self) -> None:
        """Refuse (429) when every slot is taken."""
        with self._lock:
            if self._active >= self.size:
                raise ApiProblem(429, f"this server already serves {self.size} streams; try again shortly",
                                 headers={"Retry-After": "1"})

    def acquire(self, *, strict: bool = True) -> None:
        """Take a slot (``strict``: refuse when none is free; else a race past ``ensure_free`` may overbook by one)."""
        with self._lock:
            if strict and self._active >= self.size:
                raise ApiProblem(429, f"this server already serves {self.size} streams; try again shortly",
                                 headers={"Retry-After": "1"})
            self._active += 1

    def release(self) -> None:
        with self._lock:
            self._active = max(0, self._active - 1)


__all__ = ["StreamSlots", "WarmModels"]
