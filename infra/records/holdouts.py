"""The holdout of a training run: which rows of the dataset version the model never saw.

Every training job sets rows aside before anything reads the data (profiling, the
transformer, DP preprocessing, the model): the quality report's privacy gates compare the
synthetic rows with them. The rule is one function, ``HoldoutRule.share_for``, with its
numbers in the settings (``DOPPEL_HOLDOUT_SHARE``, ``DOPPEL_HOLDOUT_MIN_ROWS``,
``DOPPEL_HOLDOUT_MIN_TABLE_ROWS``): a share of the rows (20 %), at least a minimum (1,000),
and no holdout at all for a table too small to spare one (fewer than 5,000 rows).

The draw is ``engine.splitting.split_positions`` (seeded with the job's seed, stratified on a
column if the request names one), so the same version, share and seed always give the same
two parts. Lineage keeps the holdout's *row positions* only, as an ``.npy`` object next to the
model file, and a ``HoldoutRecord`` (rows, share, seed, object key) in the model version's
``metrics["holdout"]``: with the immutable dataset version they rebuild both parts
(``rebuild``), so the rows are never stored twice.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError, InputError
from infra.settings import Settings

RECORD_KEY = "holdout"
"""Where a model version's ``metrics`` keep its ``HoldoutRecord``."""


def holdout_key(model_id: str, job_id: str) -> str:
    """Object key of a training job's holdout positions (next to its model file)."""
    return f"models/{model_id}/{job_id}.holdout.npy"


@dataclass(frozen=True)
class HoldoutRule:
    """How many rows a training job sets aside: ``share`` of them, at least ``min_rows``,
    none for tables of fewer than ``min_table_rows`` rows; ``stratify``: a column whose value
    shares both parts keep (None: a plain random draw)."""

    share: float
    min_rows: int
    min_table_rows: int
    stratify: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.share, bool) or not isinstance(self.share, (int, float)) or not 0 < self.share < 1:
            raise ConfigError(f"the holdout share must be strictly between 0 and 1 (e.g. 0.2), got {self.share!r}")
        for name in ("min_rows", "min_table_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"holdout {name} must be a positive whole number of rows, got {value!r}")
        if self.min_rows >= self.min_table_rows:
            raise ConfigError(f"the holdout's minimum ({self.min_rows:,} rows) must be smaller than the table size "
                              f"that allows one ({self.min_table_rows:,} rows)")
        if self.stratify is not None and (not isinstance(self.stratify, str) or not self.stratify):
            raise ConfigError(f"stratify must be a column name or None, got {self.stratify!r}")

    @classmethod
    def from_settings(cls, settings: Settings, *, share: float | None = None,
                      stratify: str | None = None) -> HoldoutRule:
        """The platform's rule; ``share`` overrides the configured share for one job."""
        return cls(share=settings.holdout_share if share is None else share, min_rows=settings.holdout_min_rows,
                   min_table_rows=settings.holdout_min_table_rows, stratify=stratify)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HoldoutRule:
        return cls(share=data["share"], min_rows=int(data["min_rows"]), min_table_rows=int(data["min_table_rows"]),
                   stratify=data.get("stratify"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def share_for(self, n_rows: int) -> float | None:
        """The share of a ``n_rows``-row table to set aside; None when the table is too small to spare any."""
        if n_rows < self.min_table_rows:
            return None
        return max(self.share, self.min_rows / n_rows)

    def no_holdout_reason(self, n_rows: int) -> str:
        return (f"the table has {n_rows:,} rows, fewer than the {self.min_table_rows:,} that allow a holdout, "
                "so the model trained on every row")


@dataclass(frozen=True)
class HoldoutRecord:
    """What a model version records of its holdout (``metrics["holdout"]``).

    ``rows`` == 0 means none was set aside (``reason`` says why); otherwise ``positions_key``
    names the object of the holdout's sorted row positions in the dataset version (of
    ``table_rows`` rows) and ``positions_sha256`` its checksum.
    """

    rows: int
    training_rows: int
    table_rows: int
    seed: int
    share: float | None = None
    stratify: str | None = None
    positions_key: str | None = None
    positions_sha256: str | None = None
    reason: str | None = None

    @property
    def has_holdout(self) -> bool:
        return self.rows > 0 and self.positions_key is not None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HoldoutRecord:
        fields = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in fields})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_of(metrics: dict[str, Any] | None) -> HoldoutRecord | None:
    """A table's holdout record in a model version's metrics; None for a version trained before holdouts
    existed, and for a schema's or sequence model's version (their records are
    ``schema_holdouts.TablesHoldoutRecord`` and ``sequence_holdouts.SequencesHoldoutRecord``)."""
    data = (metrics or {}).get(RECORD_KEY)
    return HoldoutRecord.from_dict(data) if isinstance(data, dict) and data.get("kind") not in ("tables", "sequences") \
        else None


@dataclass(frozen=True)
class SetAside:
    """A table split for training: the part the model may read, and what lineage records."""

    training: pl.DataFrame
    holdout_positions: np.ndarray | None
    record: HoldoutRecord


def set_aside(frame: pl.DataFrame, *, rule: HoldoutRule, seed: int, positions_key: str) -> SetAside:
    """Split ``frame`` by ``rule`` (seeded): the training rows, and the holdout's positions and record.

    The training part is exactly ``engine.split(frame, holdout=share, seed=seed, stratify=...)``'s
    first frame, so a notebook user reproduces a platform model from the same version.
    """
    from engine.splitting import split_positions

    n_rows = frame.height
    share = rule.share_for(n_rows)
    if share is None:
        return SetAside(frame, None, HoldoutRecord(rows=0, training_rows=n_rows, table_rows=n_rows, seed=seed,
                                                   stratify=rule.stratify, reason=rule.no_holdout_reason(n_rows)))
    strata = None
    if rule.stratify is not None:
        if rule.stratify not in frame.columns:
            raise InputError(f"the holdout cannot be stratified on {rule.stratify!r}: the table has no such column "
                             f"(its columns: {', '.join(frame.columns)})")
        strata = frame.get_column(rule.stratify)
    training_rows, holdout_rows = split_positions(n_rows, holdout=share, seed=seed, strata=strata)
    data = positions_bytes(holdout_rows)
    record = HoldoutRecord(rows=int(holdout_rows.size), training_rows=int(training_rows.size), table_rows=n_rows,
                           seed=seed, share=share, stratify=rule.stratify, positions_key=positions_key,
                           positions_sha256=hashlib.sha256(data).hexdigest())
    return SetAside(frame[training_rows], holdout_rows, record)


def positions_bytes(positions: np.ndarray) -> bytes:
    """The ``.npy`` bytes of row positions (int64, no pickling)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(positions, dtype=np.int64), allow_pickle=False)
    return buffer.getvalue()


def read_positions(data: bytes, record: HoldoutRecord) -> np.ndarray:
    """The holdout positions of ``record`` from their stored bytes, checked against the record."""
    if record.positions_sha256 is not None and hashlib.sha256(data).hexdigest() != record.positions_sha256:
        raise InputError(f"the holdout positions at {record.positions_key} do not match their recorded checksum")
    try:
        positions = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as err:
        raise InputError(f"the holdout positions at {record.positions_key} are unreadable: {err}") from err
    if (positions.ndim != 1 or positions.dtype.kind not in "iu" or positions.size != record.rows
            or (positions.size and (positions[0] < 0 or positions[-1] >= record.table_rows))
            or np.any(np.diff(positions) <= 0)):
        raise InputError(f"the holdout positions at {record.positions_key} are not {record.rows:,} sorted row "
                         f"positions of a {record.table_rows:,}-row table")
    return positions.astype(np.int64)


def rebuild(frame: pl.DataFrame, record: HoldoutRecord, positions: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(training part, holdout) of the dataset version ``frame``, from the recorded positions."""
    if frame.height != record.table_rows:
        raise InputError(f"the dataset version has {frame.height:,} rows, but the holdout was drawn from "
                         f"{record.table_rows:,}: it is not the version the model was trained on")
    mask = np.zeros(frame.height, dtype=bool)
    mask[positions] = True
    return frame.filter(pl.Series(~mask)), frame.filter(pl.Series(mask))


__all__ = ["RECORD_KEY", "HoldoutRecord", "HoldoutRule", "SetAside", "holdout_key", "positions_bytes",
           "read_positions", "rebuild", "record_of", "set_aside"]
