"""A schema's model as one zip file: the form an object store keeps and an upload carries.

The archive holds ``relational.json`` (the manifest) and one single-table model archive per
table, ``tables/<i>.zip``, stored uncompressed. Reading it executes nothing and trusts nothing:
the member names must be exactly those, the manifest is read with the model files' JSON caps,
and each table's archive is read with a running count against a cap before
``engine.models.registry.load_model`` verifies it (checksums, declared tensors) as any model file.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.models.files import MAX_MANIFEST_BYTES, MAX_WEIGHTS_BYTES, ModelFileError, loads_manifest_json

MANIFEST = "relational.json"
# A table's model archive holds its manifest and its weights; nothing else.
MAX_TABLE_ARCHIVE_BYTES = MAX_WEIGHTS_BYTES + MAX_MANIFEST_BYTES + (1 << 20)
_TABLE_MEMBER = re.compile(r"tables/(\d+)\.zip")


def write_archive(target: Path, *, manifest_bytes: bytes, table_archives: Sequence[Path]) -> Path:
    """Write the archive to ``target`` atomically (complete under its name, or absent)."""
    if target.exists():
        raise ModelFileError(f"{target}: a model already exists there; model versions are immutable")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(MANIFEST, manifest_bytes)
            for i, path in enumerate(table_archives):
                zf.write(path, f"tables/{i}.zip")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def is_archive(source: str | os.PathLike[str] | bytes) -> bool:
    """Whether ``source`` (a path or zip bytes) is a zip whose first member is a schema's manifest."""
    try:
        if isinstance(source, bytes):
            import io

            handle: Any = io.BytesIO(source)
        else:
            path = Path(source)
            if not path.is_file():
                return False
            handle = path
        with zipfile.ZipFile(handle) as zf:
            return MANIFEST in zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def read_archive(source: str | os.PathLike[str] | bytes) -> tuple[dict[str, Any], list[bytes]]:
    """(manifest, each table's model archive bytes in manifest order) of a schema model archive."""
    import io

    where = "the model archive" if isinstance(source, bytes) else str(source)
    handle: Any = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
    try:
        with zipfile.ZipFile(handle) as zf:
            infos = {info.filename: info for info in zf.infolist()}
            if len(infos) != len(zf.infolist()):
                raise ModelFileError(f"{where}: a member name appears twice")
            if MANIFEST not in infos:
                raise ModelFileError(f"{where}: no {MANIFEST} (not a schema's model archive)")
            numbers = sorted(int(m.group(1)) for name in infos if (m := _TABLE_MEMBER.fullmatch(name)))
            expected = {MANIFEST, *(f"tables/{i}.zip" for i in range(len(numbers)))}
            if set(infos) != expected:
                raise ModelFileError(f"{where}: unexpected members {sorted(set(infos) - expected)}; a schema's model "
                                     f"archive holds {MANIFEST} and tables/0.zip, tables/1.zip, ...")
            manifest = loads_manifest_json(_read(zf, infos[MANIFEST], MAX_MANIFEST_BYTES, where), where=where, what=MANIFEST)
            if not isinstance(manifest, dict):
                raise ModelFileError(f"{where}: {MANIFEST} must hold a JSON object")
            tables = [_read(zf, infos[f"tables/{i}.zip"], MAX_TABLE_ARCHIVE_BYTES, where) for i in range(len(numbers))]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, zlib.error) as exc:
        raise ModelFileError(f"{where}: damaged or unsupported model archive ({exc})") from None
    except OSError as exc:
        raise ModelFileError(f"{where}: cannot be read as a model file ({exc.strerror or exc})") from None
    return manifest, tables


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, where: str) -> bytes:
    """A member's bytes, refused past ``limit`` whatever its header declares."""
    if info.file_size > limit:
        raise ModelFileError(f"{where}: {info.filename} declares {info.file_size:,} bytes, above the {limit:,}-byte limit")
    with zf.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ModelFileError(f"{where}: {info.filename} is larger than {limit:,} bytes")
    return data


__all__ = ["MANIFEST", "is_archive", "read_archive", "write_archive"]
