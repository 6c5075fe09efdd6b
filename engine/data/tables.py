"""``engine.read_tables``: several tables from a folder or a zip archive, one table per file.

Each file is read by :func:`engine.data.files.read` (CSV/TSV, Parquet, JSON, NDJSON, plain or
gzip/zstd) and named by its stem: ``batting.csv.gz`` is table ``batting``. The result maps
names to polars frames, sorted by name.

Refused with a message naming the files: an empty folder or archive, a file whose name is not
a supported table format, two files with the same stem, a sub-folder inside a folder.
Hidden files (``.DS_Store``) and macOS ``__MACOSX/`` entries are skipped. Inside a zip, members
may sit in folders (an archive of a folder holds ``berka/loan.csv``); they are named by their
file name alone, so the same stem in two folders is refused as a duplicate.

Zip safety: the archive is never extracted to disk; each member is read into memory with a
running count. Refused: a member whose name climbs out (``..``) or is absolute, a link, an
encrypted member, more than :data:`MAX_TABLES` files, and members that decompress, in all, to
more than ``max_decompressed_bytes`` (2 GiB by default, :mod:`engine.data.limits`), checked
against their declared sizes first and counted again while they are read; a member that
decompresses to more than its header declares is refused as damaged (``zipfile`` stops at the
declared size and the checksum then fails). The same ``max_decompressed_bytes`` then bounds each table's own read.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import polars as pl

from engine.data.files import read
from engine.data.limits import DEFAULT_MAX_DECOMPRESSED_BYTES
from engine.data.sniff import split_name
from engine.data.sources import ByteSource, resolve_source
from engine.errors import ConfigError, InputError, LimitExceededError

MAX_TABLES = 256  # files in one folder or archive
_CHUNK = 1 << 20
_SUPPORTED = "CSV/TSV (.csv, .tsv, .txt), Parquet (.parquet), JSON (.json) or NDJSON (.ndjson, .jsonl), optionally .gz or .zst"


def read_tables(
    source: str | os.PathLike[str] | bytes,
    *,
    max_bytes: int | None = None,
    max_decompressed_bytes: int | None = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> dict[str, pl.DataFrame]:
    """Read every table of a folder or a ``.zip`` archive (a path, or the archive's bytes).

    Args:
        source: a folder, a zip file's path, or a zip archive's bytes (an upload).
        max_bytes: refuse a zip archive, or a file of a folder, larger than this many bytes.
        max_decompressed_bytes: the most a zip's members may decompress to in all, and the
            most each table's read may decode (see :mod:`engine.data.limits`); None lifts it.

    Raises:
        InputError: the folder or archive is missing, empty, unsafe or holds a file that is not
            a table, or two files name the same table; any error of ``engine.read``, naming
            the file.
        LimitExceededError: a size or count limit was passed.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = resolve_source(source, name="archive.zip", max_bytes=max_bytes, s3_endpoint_url=None)
        label = "uploaded archive"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if path.is_dir():
            return _read_folder(path, max_bytes=max_bytes, max_decompressed_bytes=max_decompressed_bytes)
        raw = resolve_source(path, name=None, max_bytes=max_bytes, s3_endpoint_url=None)
        label = str(path)
    else:
        raise ConfigError(f"read_tables: expected a folder, a zip file's path or its bytes, got {type(source).__name__}")
    with raw.open() as fh:
        if not zipfile.is_zipfile(fh):
            raise InputError(f"{label}: not a folder or a zip archive; read_tables reads one table per file from either")
    members = _zip_members(raw, label=label, max_decompressed_bytes=max_decompressed_bytes)
    return _read_members(members, label=label, max_decompressed_bytes=max_decompressed_bytes)


def table_name(file_name: str) -> str | None:
    """The table a file holds (its stem: ``batting.csv.gz`` -> ``batting``), None when its
    name is not a supported table format."""
    fmt, compression = split_name(file_name)
    if fmt is None:
        return None
    stem = file_name
    for _ in range(2 if compression else 1):
        stem = stem.rsplit(".", 1)[0]
    return stem or None


def _skipped(name: str) -> bool:
    return name.startswith(".") or name == "Thumbs.db"


def _named(entries: list[tuple[str, str]], where: str) -> dict[str, str]:
    """``{table: entry}`` from ``(file name, entry)`` pairs; refuses unsupported and duplicate names."""
    if not entries:
        raise InputError(f"{where} holds no files; expected one table per file ({_SUPPORTED})")
    if len(entries) > MAX_TABLES:
        raise LimitExceededError(f"{where} holds {len(entries):,} files, over the limit of {MAX_TABLES} tables")
    unsupported = sorted(name for name, _ in entries if table_name(name) is None)
    if unsupported:
        raise InputError(f"{where}: {', '.join(map(repr, unsupported))} {'is' if len(unsupported) == 1 else 'are'} "
                         f"not a table file; expected {_SUPPORTED}")
    named: dict[str, str] = {}
    names: dict[str, str] = {}
    for name, entry in sorted(entries):
        table = str(table_name(name))  # every name was checked above
        if table in named:
            raise InputError(f"{where}: {names[table]!r} and {name!r} both hold table {table!r}; keep one file per table")
        named[table], names[table] = entry, name
    return named


def _read_folder(path: Path, *, max_bytes: int | None, max_decompressed_bytes: int | None) -> dict[str, pl.DataFrame]:
    entries: list[tuple[str, str]] = []
    for entry in os.scandir(path):
        if _skipped(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            raise InputError(f"{path}: {entry.name!r} is a folder; read_tables reads one table per file, directly in {path}")
        entries.append((entry.name, entry.path))
    named = _named(entries, str(path))
    return {
        table: read(file, max_bytes=max_bytes, max_decompressed_bytes=max_decompressed_bytes)
        for table, file in named.items()
    }


def _zip_members(raw: ByteSource, *, label: str, max_decompressed_bytes: int | None) -> list[tuple[str, str, bytes]]:
    """Check every member, then read each into memory with a running count: ``(table, name, bytes)``."""
    with raw.open() as fh:
        try:
            archive = zipfile.ZipFile(fh)
        except zipfile.BadZipFile as exc:
            raise InputError(f"{label}: not a readable zip archive ({exc})") from None
        with archive:
            infos = [i for i in archive.infolist() if not i.is_dir() and not _hidden_member(i.filename)]
            for info in infos:
                _check_member(info, label)
            named = _named([(PurePosixPath(i.filename).name, i.filename) for i in infos], label)
            by_name = {i.filename: i for i in infos}
            declared = sum(by_name[m].file_size for m in named.values())
            if max_decompressed_bytes is not None and declared > max_decompressed_bytes:
                raise LimitExceededError(
                    f"{label}: its files decompress to {declared:,} bytes, over the limit of "
                    f"{max_decompressed_bytes:,} bytes (max_decompressed_bytes); nothing was read"
                )
            budget = max_decompressed_bytes
            members = []
            try:
                for table, member in named.items():
                    data = _read_member(archive, by_name[member], label=label, budget=budget)
                    if budget is not None:
                        budget -= len(data)
                    members.append((table, member, data))
            except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error) as exc:
                raise InputError(f"{label}: damaged or unsupported zip archive ({exc})") from None
    return members


def _hidden_member(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return any(p == "__MACOSX" for p in parts) or (bool(parts) and _skipped(parts[-1]))


def _check_member(info: zipfile.ZipInfo, label: str) -> None:
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        raise InputError(f"{label}: member {name!r} points outside the archive (absolute path or '..'); refused")
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver recorded no file type
    if kind and kind != stat.S_IFREG:
        raise InputError(f"{label}: member {name!r} is a link or a special file, not a regular file; refused")
    if info.flag_bits & 0x1:
        raise InputError(f"{label}: member {name!r} is encrypted; read_tables reads unencrypted archives only")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, label: str, budget: int | None) -> bytes:
    buffer = bytearray()
    with archive.open(info) as fh:
        while chunk := fh.read(_CHUNK):
            buffer += chunk
            if budget is not None and len(buffer) > budget:
                raise LimitExceededError(
                    f"{label}: member {info.filename!r} decompresses past the archive's remaining "
                    f"{budget:,} bytes (max_decompressed_bytes); reading stopped"
                )
    return bytes(buffer)


def _read_members(members: list[tuple[str, str, bytes]], *, label: str, max_decompressed_bytes: int | None) -> dict[str, pl.DataFrame]:
    """Each member through ``engine.read``; its messages name the archive and the member."""
    return {
        table: read(data, name=f"{label}:{member}", max_decompressed_bytes=max_decompressed_bytes)
        for table, member, data in members
    }
