"""Model files: safetensors weights plus a JSON manifest, as a directory or a zip.

A model file from another tenant must not be able to run code, so nothing here unpickles:
weights go through safetensors (a flat tensor format with no code paths) and everything else
is JSON. A file is checked before use: the manifest must parse, name a known format version
and model kind, and declare exactly the tensors (names, shapes, dtypes) the weights hold.
Anything else fails with ``ModelFileError`` naming what was wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import InputError

FORMAT_VERSION = 1
MANIFEST_NAME = "model.json"
WEIGHTS_NAME = "weights.safetensors"
_MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_MAX_WEIGHTS_BYTES = 16 * 1024 * 1024 * 1024


class ModelFileError(InputError):
    """A model file is missing, malformed, tampered with or of an unknown kind."""


@dataclass(frozen=True)
class ModelFile:
    """The parsed contents of a model file: the manifest and the named weight tensors."""

    manifest: dict[str, Any]
    tensors: dict[str, Any]  # name -> torch.Tensor


def _tensor_spec(tensors: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
        for name, t in sorted(tensors.items())
    }


def write_model_file(path: str | os.PathLike[str], *, manifest: dict[str, Any], tensors: dict[str, Any]) -> Path:
    """Write ``manifest`` and ``tensors`` to ``path`` (a zip when it ends in .zip, else a directory).

    The write is atomic: the file appears complete under its name or not at all.
    """
    from safetensors.torch import save as save_tensors

    target = Path(path)
    contiguous = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    weights = save_tensors(contiguous) if contiguous else save_tensors({})
    full_manifest = {
        **manifest,
        "format_version": FORMAT_VERSION,
        "tensors": _tensor_spec(contiguous),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    manifest_bytes = json.dumps(full_manifest, indent=2, sort_keys=True, allow_nan=False).encode()
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".zip":
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
                zf.writestr(MANIFEST_NAME, manifest_bytes)
                zf.writestr(WEIGHTS_NAME, weights)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    else:
        tmp_dir = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        (tmp_dir / MANIFEST_NAME).write_bytes(manifest_bytes)
        (tmp_dir / WEIGHTS_NAME).write_bytes(weights)
        if target.exists():
            raise ModelFileError(f"{target}: a model already exists there; model versions are immutable")
        os.replace(tmp_dir, target)
    return target


def _read_members(target: Path) -> tuple[bytes, bytes]:
    if target.is_dir():
        members = {p.name: p for p in target.iterdir()}
        missing = [n for n in (MANIFEST_NAME, WEIGHTS_NAME) if n not in members]
        if missing:
            raise ModelFileError(f"{target}: not a Doppel model directory (missing {', '.join(missing)})")
        return (members[MANIFEST_NAME].read_bytes(), members[WEIGHTS_NAME].read_bytes())
    if not target.exists():
        raise ModelFileError(f"{target}: no such model file or directory")
    if not zipfile.is_zipfile(target):
        raise ModelFileError(f"{target}: not a Doppel model (expected a directory or a zip archive)")
    with zipfile.ZipFile(target) as zf:
        names = set(zf.namelist())
        if names != {MANIFEST_NAME, WEIGHTS_NAME}:
            raise ModelFileError(
                f"{target}: not a Doppel model archive (it must hold exactly {MANIFEST_NAME} and {WEIGHTS_NAME}; "
                f"found {sorted(names)})"
            )
        info = {i.filename: i for i in zf.infolist()}
        if info[MANIFEST_NAME].file_size > _MAX_MANIFEST_BYTES or info[WEIGHTS_NAME].file_size > _MAX_WEIGHTS_BYTES:
            raise ModelFileError(f"{target}: model archive members exceed the size limits")
        return zf.read(MANIFEST_NAME), zf.read(WEIGHTS_NAME)


def read_model_file(path: str | os.PathLike[str] | bytes, *, known_kinds: set[str] | None = None) -> ModelFile:
    """Read and verify a model file; raise ``ModelFileError`` on anything unexpected.

    ``path`` may also be the bytes of a zipped model (as stored in an object store).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    if isinstance(path, bytes):
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "model.zip"
            archive.write_bytes(path)
            return read_model_file(archive, known_kinds=known_kinds)
    target = Path(path)
    manifest_bytes, weights = _read_members(target)
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{target}: {MANIFEST_NAME} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{target}: {MANIFEST_NAME} must hold a JSON object")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{target}: model format version {manifest.get('format_version')!r} is not supported "
            f"(this Doppel reads version {FORMAT_VERSION})"
        )
    kind = manifest.get("kind")
    if known_kinds is not None and kind not in known_kinds:
        raise ModelFileError(f"{target}: unknown model kind {kind!r}; expected one of {sorted(known_kinds)}")
    if hashlib.sha256(weights).hexdigest() != manifest.get("weights_sha256"):
        raise ModelFileError(f"{target}: {WEIGHTS_NAME} does not match the checksum in {MANIFEST_NAME} (tampered or truncated)")
    try:
        tensors = load_tensors(weights)
    except (SafetensorError, ValueError, OSError) as exc:
        raise ModelFileError(f"{target}: {WEIGHTS_NAME} is not a valid safetensors file ({exc})") from None
    if _tensor_spec(tensors) != manifest.get("tensors"):
        raise ModelFileError(f"{target}: the weights do not match the tensors declared in {MANIFEST_NAME}")
    return ModelFile(manifest=manifest, tensors=tensors)


def model_file_bytes(*, manifest: dict[str, Any], tensors: dict[str, Any]) -> bytes:
    """The zipped model as bytes, for object stores."""
    with tempfile.TemporaryDirectory() as tmp:
        target = write_model_file(Path(tmp) / "model.zip", manifest=manifest, tensors=tensors)
        return target.read_bytes()


__all__ = ["ModelFile", "ModelFileError", "model_file_bytes", "read_model_file", "write_model_file"]
