"""The object-store interface every backend implements, and the pieces they share.

An ``ObjectStore`` keeps immutable-by-convention blobs (datasets, model files, reports,
checkpoints) under string keys. Its promises, on every backend:

- **Atomic writes.** A reader sees the previous object or the new one, never a part. A write
  that fails or is abandoned leaves nothing visible (``exists`` and ``list`` do not show it).
- **Checksums.** Each object is stored with the SHA-256 of its bytes; reading verifies it and
  raises ``CorruptObjectError`` on a mismatch.
- **Keys** are relative paths checked by ``infra.storage.keys.validate_key``;
  ``for_tenant(t)`` gives a view confined to ``tenants/<t>/`` (``TenantStore``, below).

Backends implement the primitives (``open_write``, ``open``, ``stat``, ``exists``, ``delete``,
``list``, ``list_info``, ``presigned_url``); the conveniences (``put_bytes``, ``put_file``,
``put_stream``, ``get_bytes``, ``get_file``, ``delete_prefix``, ``size``, ``total_size``) are
built on them here, and a backend may override one to go faster.

A tenant's view (``TenantStore``) lives in this module with the interface: the interface
promises ``for_tenant`` and the view is a store of that interface, so apart they would import
each other. Services and workers hold a ``TenantStore``, never the raw store, so that no key
they build can reach another tenant's objects: keys are checked (no ``..``, no absolute
paths) before the tenant prefix is added, and listings return keys relative to the tenant.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO

from infra.storage.errors import CorruptObjectError, StorageError
from infra.storage.keys import tenant_root, validate_key, validate_prefix

COPY_CHUNK_BYTES = 1024 * 1024
"""Chunk size when copying between files and streams."""


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows about one object."""

    key: str  # relative to the store (or to the tenant, from a TenantStore)
    size: int  # bytes
    sha256: str  # hex digest of the bytes, as stored with the object
    content_type: str | None = None
    modified: datetime | None = None  # UTC, when the backend reports it


def sha256_hex(data: bytes | memoryview) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


class ObjectWriter(ABC):
    """A write-only binary stream for one object; nothing is visible until ``commit()``.

    Use it as a context manager: a clean exit commits, an exception aborts. ``close()``
    without ``commit()`` aborts too, and so does garbage collection, so that a crashed or
    abandoned writer never publishes part of an object. It has ``write``, ``tell`` and
    ``flush``, which is all polars, pyarrow and the csv module need to write into it.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self._hash = hashlib.sha256()
        self._size = 0
        self._state = "open"  # open -> committed | aborted
        self.info: ObjectInfo | None = None

    # -- what backends implement
    @abstractmethod
    def _write_chunk(self, view: memoryview) -> None:
        """Stage bytes; not visible to readers."""

    @abstractmethod
    def _publish(self, *, sha256: str, size: int) -> ObjectInfo:
        """Make the staged bytes the object, atomically."""

    @abstractmethod
    def _discard(self) -> None:
        """Drop whatever was staged; must not raise for a half-set-up writer."""

    # -- the stream
    @property
    def closed(self) -> bool:
        return self._state != "open"

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Stage ``data``; returns its length in bytes."""
        if self._state != "open":
            raise StorageError(f"writer for {self.key!r} is already {self._state}")
        view = memoryview(data).cast("B")
        if view.nbytes:
            self._write_chunk(view)
            self._hash.update(view)
            self._size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self._size

    def flush(self) -> None:
        """Nothing to do: bytes become visible only on commit."""

    def commit(self) -> ObjectInfo:
        """Publish the object atomically; returns its ``ObjectInfo``. Aborts if publishing fails."""
        if self._state == "committed" and self.info is not None:
            return self.info
        if self._state != "open":
            raise StorageError(f"writer for {self.key!r} was aborted; nothing to commit")
        try:
            self.info = self._publish(sha256=self._hash.hexdigest(), size=self._size)
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        return self.info

    def abort(self) -> None:
        """Discard the staged bytes; the key keeps its previous object, if any."""
        if self._state == "open":
            self._state = "aborted"
            self._discard()

    def close(self) -> None:
        """Abort unless already committed (see the class docstring)."""
        self.abort()

    def __enter__(self) -> "ObjectWriter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def __del__(self) -> None:
        try:
            self.abort()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass


class ObjectReader(io.RawIOBase):
    """A read-only binary stream over one object that verifies its checksum at the end.

    When the last byte has been read (``read()`` returns ``b""``), the size and SHA-256 of
    what was read are compared with those stored with the object; a mismatch raises
    ``CorruptObjectError``. A reader closed before the end verifies nothing.
    Wrap it in ``io.BufferedReader`` for many small reads.
    """

    def __init__(self, raw: IO[bytes], *, info: ObjectInfo, where: str) -> None:
        super().__init__()
        self._raw = raw
        self.info = info
        self._where = where
        self._hash = hashlib.sha256()
        self._read = 0
        self._verified = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._read_raw(view.nbytes)
        n = len(data)
        if n == 0:
            self._verify()
            return 0
        view[:n] = data
        self._hash.update(data)
        self._read += n
        if self._read > self.info.size:
            self._verify()
        return n

    def readall(self) -> bytes:
        chunks = []
        while chunk := self.read(COPY_CHUNK_BYTES):
            chunks.append(chunk)
        return b"".join(chunks)

    def _read_raw(self, n: int) -> bytes:
        return self._raw.read(n)

    def _verify(self) -> None:
        if self._verified:
            return
        self._verified = True
        if self._read != self.info.size:
            raise CorruptObjectError(
                f"{self._where}: read {self._read} bytes but {self.info.size} were stored; the object is damaged"
            )
        actual = self._hash.hexdigest()
        if actual != self.info.sha256:
            raise CorruptObjectError(
                f"{self._where}: SHA-256 of the bytes read ({actual[:12]}…) does not match the checksum "
                f"stored with the object ({self.info.sha256[:12]}…); the object is damaged or was changed outside Doppel"
            )

    @property
    def verified(self) -> bool:
        """True once the whole object was read and matched its checksum."""
        return self._verified

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                super().close()


class ObjectStore(ABC):
    """Keys to checksummed, atomically written blobs (see the module docstring)."""

    url: str  # where the store lives, without credentials: file:///… or s3://bucket/prefix

    # -- primitives each backend implements
    @abstractmethod
    def open_write(self, key: str, *, content_type: str | None = None) -> ObjectWriter:
        """A writer that publishes ``key`` on commit (use it as a context manager)."""

    @abstractmethod
    def open(self, key: str) -> ObjectReader:
        """A stream over ``key``'s bytes, checksum verified at the end; ``ObjectNotFoundError`` if absent."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Size, checksum and type of ``key``; ``ObjectNotFoundError`` if absent."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; removing an absent key is not an error."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix`` (a plain string prefix, as on S3), sorted."""

    @abstractmethod
    def list_info(self, prefix: str = "") -> list[ObjectInfo]:
        """``ObjectInfo`` of every key starting with ``prefix``, sorted by key."""

    @abstractmethod
    def presigned_url(self, key: str, *, expires_s: int | None = None, filename: str | None = None) -> str:
        """A time-limited download link for ``key`` that needs no credentials.

        ``filename`` sets the name a browser saves it under. Raises
        ``UnsupportedOperationError`` on backends without links (the local folder).
        """

    @property
    def supports_presigned_urls(self) -> bool:
        """Whether ``presigned_url`` works on this backend."""
        return False

    # -- conveniences shared by every backend
    def put_bytes(self, key: str, data: bytes | bytearray | memoryview, *, content_type: str | None = None) -> ObjectInfo:
        """Store ``data`` under ``key`` atomically."""
        with self.open_write(key, content_type=content_type) as writer:
            writer.write(data)
        assert writer.info is not None
        return writer.info

    def put_stream(
        self, key: str, source: BinaryIO | IO[bytes] | Iterable[bytes], *, content_type: str | None = None
    ) -> ObjectInfo:
        """Store everything read from a binary file object (or every chunk of an iterable)."""
        with self.open_write(key, content_type=content_type) as writer:
            if hasattr(source, "read"):
                while chunk := source.read(COPY_CHUNK_BYTES):  # type: ignore[union-attr]
                    writer.write(chunk)
            else:
                for chunk in source:  # type: ignore[union-attr]
                    writer.write(chunk)
        assert writer.info is not None
        return writer.info

    def put_file(self, key: str, path: str | os.PathLike[str], *, content_type: str | None = None) -> ObjectInfo:
        """Store the file at ``path`` under ``key``."""
        with open(path, "rb") as fh:
            return self.put_stream(key, fh, content_type=content_type)

    def get_bytes(self, key: str) -> bytes:
        """The whole object, verified; raises ``CorruptObjectError`` instead of returning damaged bytes."""
        with self.open(key) as reader:
            return reader.read()

    def get_file(self, key: str, path: str | os.PathLike[str]) -> Path:
        """Download ``key`` to ``path``, verified; ``path`` appears only when the bytes are good."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, self.open(key) as reader:
                shutil.copyfileobj(reader, out, COPY_CHUNK_BYTES)
                # copyfileobj stops at b"" so the reader has verified; be explicit anyway.
                reader.read()
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return target

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``; returns how many.

        An empty prefix is refused, so that a missing argument cannot wipe the whole store
        (or a tenant's whole namespace).
        """
        if not prefix:
            raise StorageError("delete_prefix needs a non-empty prefix")
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    def size(self, key: str) -> int:
        """Size of ``key`` in bytes."""
        return self.stat(key).size

    def total_size(self, prefix: str = "") -> int:
        """Bytes stored under ``prefix`` (for storage quotas and metering)."""
        return sum(info.size for info in self.list_info(prefix))

    def for_tenant(self, tenant: str) -> TenantStore:
        """A view of this store confined to ``tenant``'s namespace."""
        return TenantStore(self, tenant=tenant)

    def _check_key(self, key: str) -> str:
        return validate_key(key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


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


def new_token() -> str:
    """A unique, filename-safe token for temporary names."""
    return uuid.uuid4().hex


__all__ = ["ObjectInfo", "ObjectReader", "ObjectStore", "ObjectWriter", "TenantStore", "sha256_hex", "COPY_CHUNK_BYTES"]
