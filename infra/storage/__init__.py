"""The object store: datasets, model files, checkpoints and reports, by key.

One interface (``ObjectStore``), two backends, picked by ``DOPPEL_STORAGE_URL``:

- ``file:///path`` — ``LocalStore``, a folder on disk (the embedded default, under
  ``DOPPEL_DATA_DIR/objects``);
- ``s3://bucket/prefix`` — ``S3Store`` through boto3 (endpoint ``DOPPEL_S3_ENDPOINT_URL``).

>>> store = open_tenant_store("acme")                      # doctest: +SKIP
>>> store.put_bytes("datasets/7/v1/data.parquet", payload)  # doctest: +SKIP
>>> with store.open_write("generated/9/part.csv") as out:   # nothing visible until the end
...     frame.write_csv(out)                                # doctest: +SKIP
>>> store.get_bytes("datasets/7/v1/data.parquet")           # checksum verified # doctest: +SKIP

Every write is atomic and checksummed; every read verifies. Errors derive from
``StorageError``; only ``TransientStorageError`` is worth retrying.
"""

from __future__ import annotations

import os
from functools import lru_cache

from infra.settings import Settings, get_settings
from infra.storage.base import ObjectInfo, ObjectReader, ObjectStore, ObjectWriter, TenantStore
from infra.storage.errors import (
    CorruptObjectError,
    InvalidKeyError,
    ObjectNotFoundError,
    StorageError,
    TransientStorageError,
    UnsupportedOperationError,
)
from infra.storage.keys import validate_key
from infra.storage.local import LocalStore
from infra.storage.s3 import S3Store


def open_store(url: str | None = None, *, settings: Settings | None = None) -> ObjectStore:
    """The store at ``url`` (default ``DOPPEL_STORAGE_URL``), with the S3 options of ``settings``.

    Opening is cheap for a folder; for S3 it builds a boto3 client (tens of milliseconds),
    so a worker opens its store once and keeps it (the store is thread-safe).
    """
    settings = settings or get_settings()
    url = url or settings.storage_url
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "file":
        return LocalStore.from_url(url)
    if scheme == "s3":
        return S3Store.from_url(
            url,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            multipart_threshold=settings.storage_multipart_threshold_bytes,
            part_size=settings.storage_multipart_part_bytes,
            presign_expiry_s=settings.storage_presign_expiry_s,
        )
    raise StorageError(
        f"unsupported object store URL {url!r} (DOPPEL_STORAGE_URL): expected file:///absolute/path "
        "or s3://bucket/prefix"
    )


@lru_cache(maxsize=1)
def get_store() -> ObjectStore:
    """This process's store for ``DOPPEL_STORAGE_URL``, opened on first use and then shared.

    Stores are thread-safe. A forked child (Dramatiq's worker processes) opens its own: the
    cache is cleared after ``fork`` so that no HTTP connection is shared across processes.
    """
    return open_store()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=get_store.cache_clear)


def open_tenant_store(tenant: str, *, url: str | None = None, settings: Settings | None = None) -> TenantStore:
    """The configured store (``get_store()``), or the one at ``url``/``settings``, confined to
    ``tenant``'s namespace (``tenants/<tenant>/``)."""
    if url is None and settings is None:
        return get_store().for_tenant(tenant)
    return open_store(url, settings=settings).for_tenant(tenant)


__all__ = [
    "ObjectStore",
    "ObjectInfo",
    "ObjectReader",
    "ObjectWriter",
    "LocalStore",
    "S3Store",
    "TenantStore",
    "open_store",
    "open_tenant_store",
    "get_store",
    "validate_key",
    "StorageError",
    "InvalidKeyError",
    "ObjectNotFoundError",
    "CorruptObjectError",
    "TransientStorageError",
    "UnsupportedOperationError",
]
