"""Stores under test, one per backend, and a way to damage an object behind a store's back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from infra.storage import LocalStore, ObjectStore, S3Store, TenantStore


def make_store(kind: str, *, tmp_path: Path, s3_server, **s3_options) -> ObjectStore:  # type: ignore[no-untyped-def]
    """A fresh, empty store of ``kind`` ("local" or "s3"); S3 stores get their own bucket."""
    if kind == "local":
        return LocalStore(tmp_path / "objects")
    bucket = s3_server.new_bucket()
    return S3Store.from_url(f"s3://{bucket}/doppel", client=s3_server.client, **s3_options)


def tamper(store: ObjectStore, key: str, data: bytes) -> None:
    """Replace the bytes of ``key`` without going through the store, keeping its checksum record."""
    if isinstance(store, TenantStore):
        key, store = store.root + key, store.store
    if isinstance(store, LocalStore):
        store.root.joinpath(*key.split("/")).write_bytes(data)
    elif isinstance(store, S3Store):
        full_key = store.prefix + key
        head = store.client.head_object(Bucket=store.bucket, Key=full_key)
        store.client.put_object(Bucket=store.bucket, Key=full_key, Body=data, Metadata=head["Metadata"])
    else:
        raise TypeError(type(store))


TamperFn = Callable[[ObjectStore, str, bytes], None]
