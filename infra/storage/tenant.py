"""A tenant's view of the object store: every key lives under ``tenants/<tenant>/``.

Services and workers hold a ``TenantStore``, never the raw store, so that no key they build
can reach another tenant's objects: keys are checked (no ``..``, no absolute paths) before
the tenant prefix is added, and listings return keys relative to the tenant.
"""

from __future__ import annotations

import os
from dataclasses import replace

from infra.storage.base import ObjectInfo, ObjectReader, ObjectStore, ObjectWriter
from infra.storage.errors import StorageError
from infra.storage.keys import tenant_root, validate_key, validate_prefix


class TenantStore(ObjectStore):
    """``store`` seen through ``tenants/<tenant>/``; the same interface as any ``ObjectStore``."""

    def __init__(self, store: ObjectStore, *, tenant: str) -> None:
        if isinstance(store, TenantStore):
            raise StorageError("a TenantStore cannot be nested inside another tenant's view")
        self.root = tenant_root(tenant)
        self.tenant = tenant
        self.store = store
        self.url = f"{store.url}/{self.root.rstrip('/')}"

    def _inner(self, key: str) -> str:
        return self.root + validate_key(key)

    def _outer(self, info: ObjectInfo) -> ObjectInfo:
        return replace(info, key=info.key[len(self.root) :])

    def open_write(self, key: str, *, content_type: str | None = None) -> ObjectWriter:
        return _TenantWriter(self, key, self.store.open_write(self._inner(key), content_type=content_type))

    def open(self, key: str) -> ObjectReader:
        reader = self.store.open(self._inner(key))
        reader.info = self._outer(reader.info)
        return reader

    def put_bytes(self, key: str, data: bytes | bytearray | memoryview, *, content_type: str | None = None) -> ObjectInfo:
        return self._outer(self.store.put_bytes(self._inner(key), data, content_type=content_type))

    def put_file(self, key: str, path: str | os.PathLike[str], *, content_type: str | None = None) -> ObjectInfo:
        return self._outer(self.store.put_file(self._inner(key), path, content_type=content_type))

    def stat(self, key: str) -> ObjectInfo:
        return self._outer(self.store.stat(self._inner(key)))

    def exists(self, key: str) -> bool:
        return self.store.exists(self._inner(key))

    def delete(self, key: str) -> None:
        self.store.delete(self._inner(key))

    def list(self, prefix: str = "") -> list[str]:
        validate_prefix(prefix)
        return [key[len(self.root) :] for key in self.store.list(self.root + prefix)]

    def list_info(self, prefix: str = "") -> list[ObjectInfo]:
        validate_prefix(prefix)
        return [self._outer(info) for info in self.store.list_info(self.root + prefix)]

    def total_size(self, prefix: str = "") -> int:
        validate_prefix(prefix)
        return self.store.total_size(self.root + prefix)

    @property
    def supports_presigned_urls(self) -> bool:
        return self.store.supports_presigned_urls

    def presigned_url(self, key: str, *, expires_s: int | None = None, filename: str | None = None) -> str:
        return self.store.presigned_url(self._inner(key), expires_s=expires_s, filename=filename)

    def for_tenant(self, tenant: str) -> "TenantStore":
        raise StorageError(f"already confined to tenant {self.tenant!r}; call for_tenant on the shared store")


class _TenantWriter(ObjectWriter):
    """Forwards to the backend's writer and reports the key relative to the tenant."""

    def __init__(self, view: TenantStore, key: str, inner: ObjectWriter) -> None:
        super().__init__(key)
        self._view = view
        self._inner = inner

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Hand ``data`` to the backend's writer, which hashes it for the stored checksum.

        ``ObjectWriter.write`` would hash every byte here as well, only for ``_publish`` to
        ignore that digest: a tenant view's write hashes its bytes once, in the backend.
        """
        if self._state != "open":
            raise StorageError(f"writer for {self.key!r} is already {self._state}")
        written = self._inner.write(data)
        self._size += written
        return written

    def _write_chunk(self, view: memoryview) -> None:
        self._inner.write(view)

    def _publish(self, *, sha256: str, size: int) -> ObjectInfo:
        return self._view._outer(self._inner.commit())

    def _discard(self) -> None:
        inner = getattr(self, "_inner", None)
        if inner is not None:
            inner.abort()


__all__ = ["TenantStore"]
