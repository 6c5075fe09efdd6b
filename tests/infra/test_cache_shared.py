"""The shared small-value cache, on both backends: the in-process dict and a real Redis (DB 14)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest

from infra.cache import CacheError, CacheUnavailableError, MemoryCache, RedisCache, SharedCache, open_cache
from infra.settings import Settings

REDIS_CACHE_URL = os.environ.get("DOPPEL_TEST_REDIS_CACHE_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.services)])
def cache(request: pytest.FixtureRequest) -> Iterator[SharedCache]:
    namespace = f"doppel-test:{uuid.uuid4().hex[:8]}"
    if request.param == "memory":
        yield MemoryCache(namespace=namespace)
        return
    redis_cache = RedisCache(REDIS_CACHE_URL, namespace=namespace)
    try:
        yield redis_cache
    finally:
        redis_cache.clear()


def test_a_value_set_is_read_back(cache: SharedCache) -> None:
    cache.set("report:7:summary", b"\x00binary\xff")
    cache.set("greeting", "héllo")

    assert cache.get("report:7:summary") == b"\x00binary\xff"
    assert cache.get("greeting") == "héllo".encode()
    assert cache.get("absent") is None


def test_json_values_round_trip(cache: SharedCache) -> None:
    cache.set_json("profile:3", {"rows": 48842, "columns": ["age", "income"], "ok": True})

    assert cache.get_json("profile:3") == {"rows": 48842, "columns": ["age", "income"], "ok": True}
    assert cache.get_json("absent") is None


def test_delete_says_whether_the_key_was_there(cache: SharedCache) -> None:
    cache.set("k", b"v")

    assert cache.delete("k") is True
    assert cache.delete("k") is False
    assert cache.get("k") is None


def test_only_if_absent_sets_the_first_value_only(cache: SharedCache) -> None:
    assert cache.set("lock:job-9", "worker-a", only_if_absent=True) is True
    assert cache.set("lock:job-9", "worker-b", only_if_absent=True) is False
    assert cache.get("lock:job-9") == b"worker-a"


def test_an_entry_is_gone_after_its_ttl(cache: SharedCache) -> None:
    cache.set("short", b"v", ttl_s=0.2)
    cache.set("long", b"v", ttl_s=60)

    time.sleep(0.4)

    assert cache.get("short") is None
    assert cache.get("long") == b"v"


def test_counters_add_up_and_keep_the_window_of_their_creation(cache: SharedCache) -> None:
    assert cache.incr("rate:acme", ttl_s=0.3) == 1
    assert cache.incr("rate:acme", 4, ttl_s=0.3) == 5
    time.sleep(0.45)
    assert cache.incr("rate:acme", ttl_s=0.3) == 1


def test_incrementing_a_non_integer_is_refused(cache: SharedCache) -> None:
    cache.set("text", "abc")

    with pytest.raises(CacheError, match="integer"):
        cache.incr("text")


def test_tenant_views_do_not_share_keys(cache: SharedCache) -> None:
    acme, globex = cache.for_tenant("acme"), cache.for_tenant("globex")
    acme.set("dashboard", "acme numbers")

    assert globex.get("dashboard") is None
    assert cache.get("dashboard") is None
    assert acme.get("dashboard") == b"acme numbers"


def test_clear_removes_this_namespace_and_nothing_else(cache: SharedCache) -> None:
    other = cache._with_namespace(cache.namespace + "-other")
    other.set("keep", "x")
    cache.set("a", "1")
    cache.for_tenant("acme").set("b", "2")

    assert cache.clear() == 2
    assert cache.get("a") is None and cache.for_tenant("acme").get("b") is None
    assert other.get("keep") == b"x"
    other.clear()


def test_large_values_are_refused_with_a_pointer_to_the_object_store(cache: SharedCache) -> None:
    with pytest.raises(CacheError, match="object store"):
        cache.set("big", b"x" * (cache.max_value_bytes + 1))


@pytest.mark.parametrize("key", ["", "has space", "glob*", "new\nline"])
def test_malformed_keys_are_refused(cache: SharedCache, key: str) -> None:
    with pytest.raises(CacheError, match="invalid cache key"):
        cache.set(key, "v")


# -- selection by settings -------------------------------------------------------------------

def test_an_empty_cache_url_gives_the_one_in_process_cache() -> None:
    settings = Settings(cache_url="")

    first, second = open_cache(settings=settings), open_cache(settings=settings)

    assert isinstance(first, MemoryCache) and first is second


@pytest.mark.services
def test_a_redis_cache_url_gives_a_redis_cache_shared_between_clients() -> None:
    settings = Settings(cache_url=REDIS_CACHE_URL, cache_default_ttl_s=30)
    writer = open_cache(settings=settings, namespace="doppel-test-shared")
    reader = open_cache(settings=settings, namespace="doppel-test-shared")
    try:
        writer.set("k", "from another client")

        assert isinstance(reader, RedisCache) and reader is not writer
        assert reader.get("k") == b"from another client"
        assert 0 < writer._client.pttl("doppel-test-shared:k") <= 30_000  # the default TTL applied
    finally:
        writer.clear()


def test_an_unknown_cache_url_is_refused() -> None:
    with pytest.raises(CacheError, match="expected redis://"):
        open_cache("memcached://127.0.0.1:11211", settings=Settings())


def test_an_unreachable_redis_is_reported_as_unavailable() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cache = RedisCache(f"redis://127.0.0.1:{port}/0")

    with pytest.raises(CacheUnavailableError, match="unreachable"):
        cache.get("k")
