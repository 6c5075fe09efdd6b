"""Turn what a caller hands to ``engine.read`` into one re-openable byte source.

A source is a local path, an ``s3://`` URI, ``bytes`` or a binary file object (an upload).
Readers need to open the bytes more than once (sniff the head, parse, and on an error go back
to find the line number), so uploads and S3 objects are held in memory — never more than
``max_bytes`` of them, checked while they are read — and local files are re-opened by path.
Nothing is ever written to disk.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from engine.errors import ConfigError, InputError, LimitExceededError

if TYPE_CHECKING:  # pragma: no cover - the S3 module loads boto3 only when a path needs it
    from engine.data.s3 import S3Credentials

_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class ByteSource:
    """Bytes to read, by local path or in memory.

    ``name`` is the file name used to detect the format (``"adult.csv.gz"``); ``label`` is how
    error messages refer to the source (the path, the URI or the upload's name).
    """

    name: str
    label: str
    path: Path | None = None
    data: bytes | None = None

    @property
    def size(self) -> int:
        """Size in bytes of the raw (possibly compressed) source."""
        if self.path is not None:
            return self.path.stat().st_size
        return len(self.data or b"")

    def open(self) -> BinaryIO:
        """A fresh binary stream positioned at the first byte."""
        if self.path is not None:
            return open(self.path, "rb")  # noqa: SIM115 - the caller closes it
        return io.BytesIO(self.data or b"")

    def head(self, n_bytes: int) -> bytes:
        """The first ``n_bytes`` bytes (fewer when the source is shorter)."""
        if self.data is not None:
            return self.data[:n_bytes]
        with self.open() as fh:
            return fh.read(n_bytes)


def resolve_source(
    source: Any,
    *,
    name: str | None,
    max_bytes: int | None,
    s3_endpoint_url: str | None,
    s3_credentials: S3Credentials | None = None,
) -> ByteSource:
    """Check ``source`` and wrap it as a :class:`ByteSource`, enforcing ``max_bytes`` first.

    Raises :class:`InputError` for a missing file or an unusable object and
    :class:`LimitExceededError` when the source is larger than ``max_bytes``.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "uploaded data"
        _check_size(len(data), max_bytes, label)
        return ByteSource(name=name or "", label=label, data=data)

    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        from engine.data.s3 import is_s3_uri

        if is_s3_uri(text):
            from engine.data.s3 import fetch_s3_object, parse_s3_path

            data = fetch_s3_object(text, endpoint_url=s3_endpoint_url, max_bytes=max_bytes,
                                   credentials=s3_credentials)
            key_name = PurePosixPath(parse_s3_path(text).key).name
            return ByteSource(name=name or key_name, label=text, data=data)
        path = Path(text).expanduser()
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if not path.is_file():
            raise InputError(f"{path}: not a regular file (a folder or a device cannot be read as a table)")
        _check_size(path.stat().st_size, max_bytes, str(path))
        return ByteSource(name=name or path.name, label=str(path), path=path)

    if hasattr(source, "read"):
        upload_name = name or _basename(getattr(source, "name", None)) or ""
        label = upload_name or "uploaded file"
        data = _read_file_object(source, label=label, max_bytes=max_bytes)
        return ByteSource(name=upload_name, label=label, data=data)

    raise ConfigError(
        f"cannot read a {type(source).__name__}: pass a path, an s3:// URI, bytes, "
        "or a file object opened in binary mode"
    )


def _basename(value: object) -> str | None:
    if isinstance(value, str) and value:
        return os.path.basename(value)
    return None


def _check_size(size: int, max_bytes: int | None, label: str) -> None:
    if max_bytes is not None and size > max_bytes:
        raise LimitExceededError(
            f"{label} is {size:,} bytes, over the limit of {max_bytes:,} bytes (max_bytes); "
            "nothing was read"
        )


def _read_file_object(fh: IO[Any], *, label: str, max_bytes: int | None) -> bytes:
    """Read a binary file object in chunks, stopping as soon as it passes ``max_bytes``."""
    size = _remaining_size(fh)
    if size is not None:
        _check_size(size, max_bytes, label)
    buffer = bytearray()
    while True:
        chunk = fh.read(_READ_CHUNK)
        if not chunk:
            break
        if isinstance(chunk, str):
            raise InputError(f"{label}: the file object was opened in text mode; open it with mode 'rb'")
        buffer += chunk
        if max_bytes is not None and len(buffer) > max_bytes:
            raise LimitExceededError(
                f"{label} is over the limit of {max_bytes:,} bytes (max_bytes); reading stopped "
                f"after {len(buffer):,} bytes"
            )
    return bytes(buffer)


def _remaining_size(fh: IO[Any]) -> int | None:
    """Bytes left in a seekable file object, without reading them; None when unknown."""
    try:
        if not fh.seekable():
            return None
        here = fh.tell()
        end = fh.seek(0, io.SEEK_END)
        fh.seek(here)
        return int(end - here)
    except (AttributeError, OSError, ValueError):
        return None
