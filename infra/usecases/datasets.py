"""Dataset use cases: read an uploaded file and profile it.

The service is where the configured limits (DOPPEL_MAX_UPLOAD_BYTES, DOPPEL_MAX_ROWS,
DOPPEL_MAX_DECOMPRESSED_BYTES, DOPPEL_PROFILE_SAMPLE_ROWS) meet the engine; pages hand it the
bytes and the file name, and show what it returns or the message of the engine error it raises.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import polars as pl

import engine
from engine.errors import InputError
from engine.profiling import Profile
from infra.settings import Settings, get_settings
from infra.tenant_ids import require_tenant

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 20
"""Rows of the uploaded table kept for display next to its profile."""

_PATH_SEPARATORS = re.compile(r"[\\/]")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class UploadedProfile:
    """An uploaded file, read and profiled: what the Data page shows."""

    tenant: str
    filename: str  # the base name, without any folder the browser sent
    n_bytes: int  # size of the upload as sent (before any decompression)
    preview: pl.DataFrame  # the first PREVIEW_ROWS rows
    profile: Profile


def clean_filename(filename: str) -> str:
    """The base name of an uploaded file, without folders or control characters.

    Browsers send base names, but a client can send ``../../x.csv`` or
    ``C:\\fakepath\\x.csv``; the name is only used to pick the format and in messages.
    """
    name = _CONTROL_CHARACTERS.sub("", _PATH_SEPARATORS.split(str(filename))[-1]).strip()
    if not name:
        raise InputError("the uploaded file has no name; the name's extension tells its format (e.g. data.csv)")
    return name


def profile_upload(
    *, tenant: str, data: bytes, filename: str, settings: Settings | None = None
) -> UploadedProfile:
    """Read an uploaded file (CSV, TSV, Parquet, JSON, NDJSON, optionally .gz/.zst) and profile it.

    Raises ``engine.InputError`` (``LimitExceededError`` when over a configured cap) with a
    message naming the file and the problem; nothing is stored.
    """
    tenant = require_tenant(tenant)
    settings = settings or get_settings()
    name = clean_filename(filename)
    started = time.perf_counter()
    frame = engine.read(
        bytes(data),
        name=name,
        max_bytes=settings.max_upload_bytes,
        max_rows=settings.max_rows,
        max_decompressed_bytes=settings.max_decompressed_bytes,
    )
    profile = engine.profile(frame, sample_rows=settings.profile_sample_rows)
    logger.info(
        "profiled upload %r for tenant %s: %d bytes, %d rows x %d columns in %.2fs",
        name, tenant, len(data), profile.n_rows, profile.n_columns, time.perf_counter() - started,
    )
    return UploadedProfile(
        tenant=tenant, filename=name, n_bytes=len(data), preview=frame.head(PREVIEW_ROWS), profile=profile
    )
