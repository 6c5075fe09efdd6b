"""The embedded object store: a folder on the local disk (``file:///…`` URLs).

Layout: the object ``a/b.parquet`` is the plain file ``<root>/a/b.parquet``; beside it,
``.b.parquet.doppel.json`` records its SHA-256, size and content type. The record is the
commit point: an object exists when its record does.

Atomic writes: bytes go to a temporary file in the target's folder (``.b.parquet.<token>.tmp``),
are fsynced, then ``os.replace`` puts the data and then the record into place while the store's
lock (``<root>/.doppel.lock``, ``flock``) is held exclusively; readers take it shared while they
open the data and read the record, so they always get a matching pair. A failed or abandoned
write only ever leaves temporary files, which start with ``.`` and are never listed.

Limits: one machine (``flock`` does not coordinate hosts; production uses S3); a key cannot be
both an object and a folder (``a/b`` and ``a/b/c``); a crash in the instant between the two
renames of an *overwrite* makes that key read as corrupt until it is written again (objects
are written once by convention: versions are immutable).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from infra.storage.base import ObjectInfo, ObjectReader, ObjectStore, ObjectWriter, new_token
from infra.storage.errors import (
    CorruptObjectError,
    ObjectNotFoundError,
    StorageError,
    UnsupportedOperationError,
)
from infra.storage.keys import validate_prefix

RECORD_SUFFIX = ".doppel.json"
LOCK_NAME = ".doppel.lock"


def path_from_file_url(url: str) -> Path:
    """``file:///abs/path`` -> ``Path("/abs/path")``; other forms raise ``StorageError``."""
    parsed = urlparse(url)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost") or not parsed.path:
        raise StorageError(f"{url!r} is not a local folder URL; expected file:///absolute/path")
    return Path(unquote(parsed.path))


def _record_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{RECORD_SUFFIX}")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore(ObjectStore):
    """Objects as files under one folder (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.url = self.root.as_uri()

    @classmethod
    def from_url(cls, url: str) -> "LocalStore":
        return cls(path_from_file_url(url))

    # -- paths and the lock
    def _path(self, key: str) -> Path:
        return self.root.joinpath(*self._check_key(key).split("/"))

    @contextmanager
    def _lock(self, *, exclusive: bool) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read_record(self, key: str, path: Path) -> ObjectInfo:
        record_path = _record_path(path)
        try:
            raw = record_path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFoundError(f"no object {key!r} in {self.url}") from None
        try:
            record: dict[str, Any] = json.loads(raw)
            return ObjectInfo(
                key=key,
                size=int(record["size"]),
                sha256=str(record["sha256"]),
                content_type=record.get("content_type"),
                modified=datetime.fromisoformat(record["written_at"]) if record.get("written_at") else None,
            )
        except (ValueError, KeyError, TypeError) as err:
            raise CorruptObjectError(f"{self.url}/{key}: the checksum record {record_path.name} is unreadable ({err})") from None

    # -- the interface
    def open_write(self, key: str, *, content_type: str | None = None) -> ObjectWriter:
        return _LocalWriter(self, key, content_type=content_type)

    def open(self, key: str) -> ObjectReader:
        path = self._path(key)
        with self._lock(exclusive=False):
            info = self._read_record(key, path)
            try:
                handle = open(path, "rb")
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                raise CorruptObjectError(f"{self.url}/{key}: the checksum record exists but the data file is missing") from None
        return ObjectReader(handle, info=info, where=f"{self.url}/{key}")

    def stat(self, key: str) -> ObjectInfo:
        return self._read_record(key, self._path(key))

    def exists(self, key: str) -> bool:
        return _record_path(self._path(key)).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        if not self.root.exists():
            return
        with self._lock(exclusive=True):
            _record_path(path).unlink(missing_ok=True)  # the commit point of a delete
            try:
                path.unlink(missing_ok=True)
            except IsADirectoryError:
                pass
            self._prune(path.parent)

    def _prune(self, folder: Path) -> None:
        """Remove folders left empty by a delete, up to the root (best effort)."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def list(self, prefix: str = "") -> list[str]:
        return [key for key, _ in self._walk(prefix)]

    def list_info(self, prefix: str = "") -> list[ObjectInfo]:
        infos = []
        for key, path in self._walk(prefix):
            try:
                infos.append(self._read_record(key, path))
            except ObjectNotFoundError:
                continue  # deleted while listing
        return infos

    def _walk(self, prefix: str) -> list[tuple[str, Path]]:
        validate_prefix(prefix)
        base_key = prefix if prefix == "" or prefix.endswith("/") else prefix.rpartition("/")[0]
        base = self.root.joinpath(*[part for part in base_key.split("/") if part])
        found: list[tuple[str, Path]] = []
        if not base.is_dir():
            return found
        for folder, subfolders, files in os.walk(base):
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]
            relative = Path(folder).relative_to(self.root).as_posix()
            for name in files:
                if not (name.startswith(".") and name.endswith(RECORD_SUFFIX)) or name == LOCK_NAME:
                    continue
                object_name = name[1 : -len(RECORD_SUFFIX)]
                key = object_name if relative == "." else f"{relative}/{object_name}"
                if key.startswith(prefix):
                    found.append((key, Path(folder) / object_name))
        found.sort()
        return found

    def presigned_url(self, key: str, *, expires_s: int | None = None, filename: str | None = None) -> str:
        raise UnsupportedOperationError(
            f"the local object store ({self.url}) has no download links; serve the bytes through the "
            "app (get_bytes/open), or use an S3 store (DOPPEL_STORAGE_URL=s3://…) for presigned links"
        )


class _LocalWriter(ObjectWriter):
    """Stages into a temporary file beside the target; publishes with two ``os.replace``."""

    def __init__(self, store: LocalStore, key: str, *, content_type: str | None) -> None:
        super().__init__(key)
        self._store = store
        self._content_type = content_type
        self._path = store._path(key)
        token = new_token()
        self._temp = self._path.with_name(f".{self._path.name}.{token}.tmp")
        self._record_temp = self._path.with_name(f".{self._path.name}.{token}{RECORD_SUFFIX}.tmp")
        self._handle = None
        for attempt in range(3):  # a concurrent delete may prune the folder between mkdir and open
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self._temp, "xb")
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
            except (FileExistsError, NotADirectoryError):
                raise StorageError(
                    f"{store.url}: cannot write {key!r}: a part of its path is already an object "
                    "(the local store cannot hold both 'a/b' and 'a/b/c')"
                ) from None

    def _write_chunk(self, view: memoryview) -> None:
        assert self._handle is not None
        self._handle.write(view)

    def _publish(self, *, sha256: str, size: int) -> ObjectInfo:
        assert self._handle is not None
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        written_at = datetime.now(UTC)
        record = {"sha256": sha256, "size": size, "content_type": self._content_type, "written_at": written_at.isoformat()}
        with open(self._record_temp, "xb") as fh:
            fh.write(json.dumps(record).encode())
            fh.flush()
            os.fsync(fh.fileno())
        with self._store._lock(exclusive=True):
            try:
                os.replace(self._temp, self._path)
            except OSError as err:
                if err.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                    raise StorageError(
                        f"{self._store.url}: cannot write {self.key!r}: it is a folder of other objects"
                    ) from None
                raise
            os.replace(self._record_temp, _record_path(self._path))
        _fsync_dir(self._path.parent)
        return ObjectInfo(key=self.key, size=size, sha256=sha256, content_type=self._content_type, modified=written_at)

    def _discard(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and not handle.closed:
            handle.close()
        for temp in (getattr(self, "_temp", None), getattr(self, "_record_temp", None)):
            if temp is not None:
                temp.unlink(missing_ok=True)


__all__ = ["LocalStore", "path_from_file_url"]
