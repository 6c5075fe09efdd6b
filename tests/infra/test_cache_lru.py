"""The in-process LRU cache bounded by bytes, and the model cache built on it."""

from __future__ import annotations

import threading
import time

import pytest

from infra.cache import CacheError, LRUCache, ModelCache
from infra.settings import Settings


class Clock:
    """A hand-wound clock: TTLs are checked without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_least_recently_used_entries_leave_first_when_bytes_run_out() -> None:
    cache: LRUCache[str, str] = LRUCache(max_bytes=100)
    cache.put("a", "A", size_bytes=40)
    cache.put("b", "B", size_bytes=40)
    cache.get("a")  # a is now more recent than b

    cache.put("c", "C", size_bytes=40)

    assert "a" in cache and "c" in cache and "b" not in cache
    assert cache.bytes_used == 80
    assert cache.stats().evictions == 1


def test_one_large_value_can_push_out_several_small_ones() -> None:
    cache: LRUCache[str, int] = LRUCache(max_bytes=100)
    for i in range(10):
        cache.put(f"small-{i}", i, size_bytes=10)

    cache.put("big", -1, size_bytes=75)

    assert len(cache) == 3 and cache.bytes_used == 95
    assert [k for k in ["small-7", "small-8", "small-9", "big"] if k in cache] == ["small-8", "small-9", "big"]


def test_a_value_larger_than_the_whole_cache_is_not_kept() -> None:
    cache: LRUCache[str, str] = LRUCache(max_bytes=100)
    cache.put("keep", "k", size_bytes=50)

    assert cache.put("huge", "h", size_bytes=101) is False
    assert "huge" not in cache and "keep" in cache
    assert cache.stats().rejected == 1


def test_replacing_a_key_counts_its_new_size_only() -> None:
    cache: LRUCache[str, str] = LRUCache(max_bytes=100)
    cache.put("a", "v1", size_bytes=60)
    cache.put("a", "v2", size_bytes=30)

    assert cache.get("a") == "v2" and cache.bytes_used == 30


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache: LRUCache[str, str] = LRUCache(max_bytes=100, ttl_s=60, sliding=False, clock=clock)
    cache.put("a", "A", size_bytes=10)

    clock.now += 59
    assert cache.get("a") == "A"
    clock.now += 2
    assert cache.get("a") is None
    assert cache.bytes_used == 0 and cache.stats().expirations == 1


def test_a_sliding_ttl_keeps_an_entry_in_steady_use() -> None:
    clock = Clock()
    cache: LRUCache[str, str] = LRUCache(max_bytes=100, ttl_s=60, sliding=True, clock=clock)
    cache.put("hot", "H", size_bytes=10)
    cache.put("cold", "C", size_bytes=10)

    for _ in range(5):
        clock.now += 50
        assert cache.get("hot") == "H"

    assert "cold" not in cache and "hot" in cache


def test_get_or_load_loads_once_and_then_hits() -> None:
    cache: LRUCache[str, str] = LRUCache(max_bytes=100)
    loads = []

    def load() -> tuple[str, int]:
        loads.append(1)
        return "model", 10

    assert cache.get_or_load("m", load) == "model"
    assert cache.get_or_load("m", load) == "model"
    assert len(loads) == 1
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.loads) == (1, 1, 1)


def test_concurrent_requests_for_a_missing_key_share_one_load() -> None:
    cache: LRUCache[str, object] = LRUCache(max_bytes=100)
    started = threading.Event()
    release = threading.Event()
    loads = []
    results: list[object] = []

    def load() -> tuple[object, int]:
        loads.append(1)
        started.set()
        release.wait(10)
        return object(), 10

    threads = [threading.Thread(target=lambda: results.append(cache.get_or_load("m", load))) for _ in range(4)]
    for thread in threads:
        thread.start()
    started.wait(10)
    time.sleep(0.05)  # let the other threads reach the per-key lock
    release.set()
    for thread in threads:
        thread.join(10)

    assert len(loads) == 1
    assert len(results) == 4 and all(r is results[0] for r in results)


def test_a_failed_load_keeps_nothing_and_the_next_caller_loads_again() -> None:
    cache: LRUCache[str, str] = LRUCache(max_bytes=100)

    def broken() -> tuple[str, int]:
        raise OSError("object store down")

    with pytest.raises(OSError):
        cache.get_or_load("m", broken)
    assert "m" not in cache
    assert cache.get_or_load("m", lambda: ("ok", 1)) == "ok"


def test_a_zero_byte_budget_disables_the_cache() -> None:
    cache: LRUCache[str, str] = LRUCache(max_bytes=0)
    calls = []

    for _ in range(2):
        cache.get_or_load("m", lambda: (calls.append(1) or "v", 1))  # type: ignore[func-returns-value]

    assert len(calls) == 2 and len(cache) == 0


def test_negative_sizes_and_budgets_are_refused() -> None:
    with pytest.raises(CacheError):
        LRUCache(max_bytes=-1)
    with pytest.raises(CacheError):
        LRUCache(max_bytes=10).put("a", 1, size_bytes=-5)


# -- the model cache -------------------------------------------------------------------------

def test_models_are_cached_per_tenant_and_model_version() -> None:
    cache: ModelCache[str] = ModelCache(max_bytes=1000)
    cache.put(tenant="acme", model_version="mv-1", model="acme model 1", size_bytes=100)
    cache.put(tenant="globex", model_version="mv-1", model="globex model 1", size_bytes=100)

    assert cache.get(tenant="acme", model_version="mv-1") == "acme model 1"
    assert cache.get(tenant="globex", model_version="mv-1") == "globex model 1"
    assert cache.get(tenant="acme", model_version="mv-2") is None


def test_evicting_a_tenant_forgets_only_its_models() -> None:
    cache: ModelCache[str] = ModelCache(max_bytes=1000)
    for version in (1, 2):
        cache.put(tenant="acme", model_version=version, model=f"a{version}", size_bytes=10)
    cache.put(tenant="globex", model_version=1, model="g1", size_bytes=10)

    assert cache.evict_tenant("acme") == 2
    assert len(cache) == 1 and cache.get(tenant="globex", model_version=1) == "g1"
    assert cache.evict(tenant="globex", model_version=1) is True
    assert cache.evict(tenant="globex", model_version=1) is False


def test_a_cold_model_leaves_after_the_ttl() -> None:
    clock = Clock()
    cache: ModelCache[str] = ModelCache(max_bytes=1000, ttl_s=600, clock=clock)
    cache.get_or_load(tenant="acme", model_version="mv", load=lambda: ("model", 10))

    clock.now += 601

    assert cache.get(tenant="acme", model_version="mv") is None


def test_the_model_cache_is_sized_by_the_settings() -> None:
    settings = Settings(model_cache_max_bytes=123, model_cache_ttl_s=7)

    cache: ModelCache[str] = ModelCache.from_settings(settings)

    assert cache._lru.max_bytes == 123 and cache._lru.ttl_s == 7


def test_a_model_key_needs_a_valid_tenant() -> None:
    with pytest.raises(ValueError, match="invalid tenant"):
        ModelCache(max_bytes=10).get(tenant="Acme Corp", model_version=1)
