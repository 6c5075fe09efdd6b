"""Model files: safetensors weights plus a JSON manifest, as a directory or a zip.

A model file from another tenant must not be able to run code, so nothing here unpickles:
weights go through safetensors (a flat tensor format with no code paths) and everything else
is JSON. A file is checked before use: the manifest must parse, name a known format version
and model kind, and declare exactly the tensors (names, shapes, dtypes) the weights hold.
Anything else fails with ``ModelFileError`` naming what was wrong.

Reading costs no more than the file legitimately holds: a model directory may hold regular
files only (no symbolic link, FIFO or device: each is opened without following links and
without blocking, and its type checked on the open descriptor); every member is read with a
running count, ``model.json`` up to ``MAX_MANIFEST_BYTES`` and the weights up to exactly what
their safetensors header declares (at most ``MAX_WEIGHTS_BYTES``); JSON nesting is bounded
(``MAX_JSON_DEPTH``) before it is parsed. Sizes in the manifest are checked against the
weights by the models before any network is built (``engine.models.sizing``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from engine.errors import InputError, LimitExceededError

FORMAT_VERSION = 1
MANIFEST_NAME = "model.json"
# The file a fit writes into its checkpoint_dir (engine.models.checkpoints reads it).
CHECKPOINT_NAME = "checkpoint.zip"
WEIGHTS_NAME = "weights.safetensors"
# model.json holds the configuration, the transformer (category levels included) and metrics:
# a few MB for a wide table; the cap bounds what parsing it can cost.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
# The weights are bounded first by their own header (the data is exactly the tensors it
# declares) and then by this: a billion float32 parameters.
MAX_WEIGHTS_BYTES = 4 * 1024**3
# Nesting a manifest or checkpoint legitimately reaches is about a dozen levels.
MAX_JSON_DEPTH = 64
_CHUNK = 1024 * 1024
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPENERS = (ord("["), ord("{"))
_CLOSERS = (ord("]"), ord("}"))
# safetensors dtype -> (torch's name for it, bytes per element)
_DTYPES = {
    "BOOL": ("bool", 1), "U8": ("uint8", 1), "I8": ("int8", 1), "F8_E4M3": ("float8_e4m3fn", 1), "F8_E5M2": ("float8_e5m2", 1),
    "I16": ("int16", 2), "U16": ("uint16", 2), "F16": ("float16", 2), "BF16": ("bfloat16", 2),
    "I32": ("int32", 4), "U32": ("uint32", 4), "F32": ("float32", 4),
    "I64": ("int64", 8), "U64": ("uint64", 8), "F64": ("float64", 8),
}


class ModelFileError(InputError):
    """A model file is missing, malformed, tampered with or of an unknown kind."""


class ModelFileTooLargeError(ModelFileError, LimitExceededError):
    """A model file's member is larger than its cap (or than its own header declares)."""


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


def _refuse_too_big(where: str, what: str, limit: int, detail: str = "") -> ModelFileTooLargeError:
    return ModelFileTooLargeError(f"{where}: {what} is larger than the limit of {limit:,} bytes{detail}")


def _read_capped(stream: BinaryIO, *, limit: int, where: str, what: str) -> bytes:
    """All of ``stream``, counted as it is read: refused once it passes ``limit`` bytes.

    A zip member's declared size and a file's size can lie (or change); the count cannot.
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise _refuse_too_big(where, what, limit)
        chunks.append(chunk)


def _read_exactly(stream: BinaryIO, n: int, *, where: str, what: str, into: list[bytes] | None = None) -> bytes:
    """``n`` bytes of ``stream`` (appended to ``into`` when given, which saves a copy); ``ModelFileError`` if fewer."""
    chunks: list[bytes] = [] if into is None else into
    left = n
    while left:
        chunk = stream.read(min(_CHUNK, left))
        if not chunk:
            raise ModelFileError(f"{where}: {what} ends {left:,} bytes before the length its header declares (truncated)")
        chunks.append(chunk)
        left -= len(chunk)
    return b"" if into is not None else b"".join(chunks)


def _read_weights(stream: BinaryIO, *, limit: int, max_header: int, where: str) -> tuple[bytes, dict[str, dict[str, Any]]]:
    """A safetensors file read by what its own header declares: ``(bytes, {name: {shape, dtype}})``.

    The layout is an 8-byte little-endian header length, a JSON header naming every tensor's
    dtype, shape and byte range, then the data, whose length must be exactly the sum of the
    tensors' sizes. The total is checked against ``limit`` before the data is read, and a
    member that holds more bytes than that is refused: nothing is read past the declared end.
    """
    what = WEIGHTS_NAME
    prefix = _read_exactly(stream, 8, where=where, what=what)
    header_len = int.from_bytes(prefix, "little")
    if header_len > max_header:
        raise ModelFileTooLargeError(
            f"{where}: {what} is not a valid safetensors file (its header length field says {header_len:,} bytes; "
            f"the limit is {max_header:,})"
        )
    header_bytes = _read_exactly(stream, header_len, where=where, what=what)
    if not header_bytes.startswith(b"{"):
        raise ModelFileError(f"{where}: {what} is not a valid safetensors file (its header is not a JSON object)")
    header = loads_manifest_json(header_bytes, where=where, what=f"the safetensors header of {what}")
    spec, data_len = _header_layout(header, where=where)
    total = 8 + header_len + data_len
    if total > limit:
        raise _refuse_too_big(where, what, limit, f" (its header declares {total:,} bytes of tensors)")
    parts = [prefix, header_bytes]
    _read_exactly(stream, data_len, where=where, what=what, into=parts)
    if stream.read(1):
        raise ModelFileTooLargeError(f"{where}: {what} holds more bytes than the {total:,} its safetensors header declares (the limit for it)")
    return b"".join(parts), spec


def _header_layout(header: Any, *, where: str) -> tuple[dict[str, dict[str, Any]], int]:
    """``({name: {shape, dtype}}, data length)`` from a safetensors header; ``ModelFileError`` if inconsistent."""
    bad = f"{where}: {WEIGHTS_NAME} is not a valid safetensors file"
    if not isinstance(header, dict):
        raise ModelFileError(f"{bad} (its header is not a JSON object)")
    spec: dict[str, dict[str, Any]] = {}
    ranges: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or entry.get("dtype") not in _DTYPES:
            raise ModelFileError(f"{bad} (tensor {name!r} has no known dtype)")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise ModelFileError(f"{bad} (tensor {name!r} has shape {shape!r})")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int and o >= 0 for o in offsets):
            raise ModelFileError(f"{bad} (tensor {name!r} has byte range {offsets!r})")
        torch_dtype, itemsize = _DTYPES[entry["dtype"]]
        if offsets[1] - offsets[0] != math.prod(shape) * itemsize:
            raise ModelFileError(f"{bad} (tensor {name!r} of shape {shape} takes {offsets[1] - offsets[0]:,} bytes)")
        spec[name] = {"shape": shape, "dtype": torch_dtype}
        ranges.append((offsets[0], offsets[1], name))
    position = 0
    for begin, end, name in sorted(ranges):
        if begin != position:
            raise ModelFileError(f"{bad} (tensor {name!r} does not start where the previous one ends)")
        position = end
    return dict(sorted(spec.items())), position


def _open_regular(path: Path, *, follow: bool) -> BinaryIO:
    """``path`` opened for reading when it is a regular file; ``ModelFileError`` naming it otherwise.

    Opened without blocking (a FIFO would wait for a writer forever) and, unless ``follow``,
    without following a symbolic link; the type is checked on the opened descriptor, so the
    entry cannot be swapped between the check and the read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow and path.is_symlink():
            raise ModelFileError(f"{path}: is a symbolic link; a model directory must hold its files itself") from None
        raise ModelFileError(f"{path}: cannot be read ({exc.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ModelFileError(f"{path}: is {_kind_of(mode)}, not a regular file; a model file holds only regular files")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _kind_of(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _read_directory(target: Path, limits: _Limits) -> tuple[bytes, bytes, dict[str, dict[str, Any]]]:
    """The members of a model directory, which must hold regular files only (no links, pipes, devices)."""
    entries = {entry.name: entry for entry in os.scandir(target)}
    for entry in entries.values():
        if not entry.is_file(follow_symlinks=False):
            kind = _kind_of(entry.stat(follow_symlinks=False).st_mode)
            raise ModelFileError(f"{target}: {entry.name!r} is {kind}, not a regular file; a model directory holds only regular files")
    missing = [n for n in (MANIFEST_NAME, WEIGHTS_NAME) if n not in entries]
    if missing:
        raise ModelFileError(f"{target}: not a Doppel model directory (missing {', '.join(missing)})")
    where = str(target)
    with _open_regular(target / MANIFEST_NAME, follow=False) as fh:
        manifest = _read_capped(fh, limit=limits.manifest, where=where, what=MANIFEST_NAME)
    with _open_regular(target / WEIGHTS_NAME, follow=False) as fh:
        weights, spec = _read_weights(fh, limit=limits.weights, max_header=limits.manifest, where=where)
    return manifest, weights, spec


def _read_archive(target: Path, limits: _Limits) -> tuple[bytes, bytes, dict[str, dict[str, Any]]]:
    """The members of a zipped model, each read with a running count against its own cap."""
    where = str(target)
    with _open_regular(target, follow=True) as raw:
        if not zipfile.is_zipfile(raw):
            raise ModelFileError(f"{target}: not a Doppel model (expected a directory or a zip archive)")
        try:
            with zipfile.ZipFile(raw) as zf:
                names = set(zf.namelist())
                if names != {MANIFEST_NAME, WEIGHTS_NAME} or len(zf.infolist()) != 2:
                    raise ModelFileError(
                        f"{target}: not a Doppel model archive (it must hold exactly {MANIFEST_NAME} and {WEIGHTS_NAME}; "
                        f"found {sorted(names)})"
                    )
                info = {i.filename: i for i in zf.infolist()}
                if info[MANIFEST_NAME].file_size > limits.manifest:
                    raise _refuse_too_big(where, MANIFEST_NAME, limits.manifest, f" (the archive declares {info[MANIFEST_NAME].file_size:,})")
                if info[WEIGHTS_NAME].file_size > limits.weights:
                    raise _refuse_too_big(where, WEIGHTS_NAME, limits.weights, f" (the archive declares {info[WEIGHTS_NAME].file_size:,})")
                with zf.open(MANIFEST_NAME) as fh:
                    manifest = _read_capped(fh, limit=limits.manifest, where=where, what=MANIFEST_NAME)
                with zf.open(WEIGHTS_NAME) as fh:
                    weights, spec = _read_weights(fh, limit=limits.weights, max_header=limits.manifest, where=where)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, zlib.error) as exc:  # RuntimeError: an encrypted member
            raise ModelFileError(f"{target}: damaged or unsupported model archive ({exc})") from None
    return manifest, weights, spec


@dataclass(frozen=True)
class _Limits:
    manifest: int
    weights: int


def loads_manifest_json(data: bytes, *, where: str, what: str = MANIFEST_NAME, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON whose nesting is first checked against ``max_depth`` (``ModelFileError`` beyond it).

    ``json.loads`` recurses once per level: 100,000 nested brackets raise ``RecursionError``.
    The depth is measured without recursion (strings removed, brackets counted) before parsing.
    """
    import numpy as np

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{where}: {what} is not valid JSON ({exc})") from None
    structure = np.frombuffer(_JSON_STRING.sub("", text).encode("utf-8"), dtype=np.uint8)
    steps = np.isin(structure, _OPENERS).astype(np.int64) - np.isin(structure, _CLOSERS).astype(np.int64)
    depth = int(np.cumsum(steps).max()) if steps.size else 0
    if depth > max_depth:
        raise ModelFileError(f"{where}: {what} is nested {depth:,} levels deep; the limit is {max_depth} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{where}: {what} is not valid JSON ({exc})") from None


def read_model_file(
    path: str | os.PathLike[str] | bytes,
    *,
    known_kinds: set[str] | None = None,
    max_manifest_bytes: int = MAX_MANIFEST_BYTES,
    max_weights_bytes: int = MAX_WEIGHTS_BYTES,
) -> ModelFile:
    """Read and verify a model file; raise ``ModelFileError`` on anything unexpected.

    ``path`` may also be the bytes of a zipped model (as stored in an object store). Every
    member is read with a running count: ``model.json`` up to ``max_manifest_bytes``, the
    weights up to what their safetensors header declares (and at most ``max_weights_bytes``);
    a directory must hold regular files only. The header's tensors are checked against the
    manifest before any tensor is built.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    if isinstance(path, bytes):
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "model.zip"
            archive.write_bytes(path)
            return read_model_file(archive, known_kinds=known_kinds, max_manifest_bytes=max_manifest_bytes, max_weights_bytes=max_weights_bytes)
    target = Path(path)
    limits = _Limits(manifest=max_manifest_bytes, weights=max_weights_bytes)
    if target.is_dir():
        manifest_bytes, weights, spec = _read_directory(target, limits)
    elif not target.exists() and not target.is_symlink():
        raise ModelFileError(f"{target}: no such model file or directory")
    else:
        manifest_bytes, weights, spec = _read_archive(target, limits)
    manifest = loads_manifest_json(manifest_bytes, where=str(target))
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
    if spec != manifest.get("tensors"):
        raise ModelFileError(f"{target}: the weights do not match the tensors declared in {MANIFEST_NAME}")
    try:
        tensors = load_tensors(weights)
    except (SafetensorError, ValueError, OSError) as exc:
        raise ModelFileError(f"{target}: {WEIGHTS_NAME} is not a valid safetensors file ({exc})") from None
    if _tensor_spec(tensors) != manifest.get("tensors"):
        raise ModelFileError(f"{target}: the weights do not match the tensors declared in {MANIFEST_NAME}")
    return ModelFile(manifest=manifest, tensors=tensors)


__all__ = [
    "CHECKPOINT_NAME",
    "MAX_JSON_DEPTH",
    "MAX_MANIFEST_BYTES",
    "MAX_WEIGHTS_BYTES",
    "ModelFile",
    "ModelFileError",
    "ModelFileTooLargeError",
    "loads_manifest_json",
    "read_model_file",
    "write_model_file",
]
