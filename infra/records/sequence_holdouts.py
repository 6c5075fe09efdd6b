"""The holdout of a sequence training run: whole histories, or the end of every history, the model never saw.

A long table of histories is split with ``engine.split_sequences``, never by row: by entity
(whole histories aside) when there are at least ``MIN_ENTITIES`` entities, so that the judge's
membership attacks have whole histories on both sides; by time otherwise (each entity's last
``share`` of steps; four weather stations leave nothing else). The share is the single-table
rule's (``HoldoutRule.share_for``: at least its minimum rows); a table under the rule's minimum
rows, or whose histories are too short to leave steps on both sides, gets no holdout. The split
is a pure function of the table, the roles, the share and the seed, so lineage keeps only a
``SequencesHoldoutRecord`` (``metrics["holdout"]``, ``kind == "sequences"``) and
``rebuild_sequences`` draws the same two parts again from the immutable dataset version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from engine.errors import InputError
from infra.records.holdouts import RECORD_KEY, HoldoutRule

KIND = "sequences"
MIN_ENTITIES = 20
"""Entities needed to set whole histories aside; with fewer, each history's end is held out."""


@dataclass(frozen=True)
class SequencesHoldoutRecord:
    """What a sequence training run set aside: how (``by``), and the rows and entities on each side.

    ``share`` is None when the table is too small to spare a holdout (``reason`` says why).
    """

    seed: int
    entity: str
    order_by: str
    by: str
    share: float | None
    rows: int
    training_rows: int
    entities: int
    holdout_entities: int
    reason: str | None = None
    kind: str = KIND

    @property
    def has_holdout(self) -> bool:
        return self.share is not None and self.rows > 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SequencesHoldoutRecord:
        fields = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in fields})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_sequences_record(data: Any) -> bool:
    """Whether a stored holdout record (a dict) is a sequence model's."""
    return isinstance(data, Mapping) and data.get("kind") == KIND


def sequences_record_of(metrics: Mapping[str, Any] | None) -> SequencesHoldoutRecord | None:
    """The sequence holdout record in a model version's metrics; None when it holds none (or another kind)."""
    data = (metrics or {}).get(RECORD_KEY)
    return SequencesHoldoutRecord.from_dict(data) if is_sequences_record(data) else None


def _split(frame: pl.DataFrame, *, entity: str, order_by: str, by: str, share: float,
           seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    from engine.sequence_split import split_sequences

    return split_sequences(frame, entity=entity, order_by=order_by, holdout=share, by=by, seed=seed)


def set_aside_sequences(frame: pl.DataFrame, *, entity: str, order_by: str, rule: HoldoutRule,
                        seed: int) -> tuple[pl.DataFrame, pl.DataFrame | None, SequencesHoldoutRecord]:
    """(training part, holdout or None, record): the split a sequence training job trains on.

    The training part is exactly ``engine.split_sequences(frame, entity=, order_by=,
    holdout=record.share, by=record.by, seed=seed)``'s first part, so a notebook user
    reproduces a platform model from the same version.
    """
    if entity not in frame.columns or order_by not in frame.columns:
        raise InputError(f"the table has no column {entity if entity not in frame.columns else order_by!r}; "
                         f"columns: {frame.columns}")
    entities = frame.get_column(entity).n_unique()
    by = "entity" if entities >= MIN_ENTITIES else "time"
    common = {"seed": seed, "entity": entity, "order_by": order_by, "by": by, "entities": entities}
    share = rule.share_for(frame.height)
    if share is None:
        return frame, None, SequencesHoldoutRecord(**common, share=None, rows=0, training_rows=frame.height,
                                                   holdout_entities=0, reason=rule.no_holdout_reason(frame.height))
    try:
        training, holdout = _split(frame, entity=entity, order_by=order_by, by=by, share=share, seed=seed)
    except InputError as error:  # histories too short to leave steps on both sides: train on every step
        return frame, None, SequencesHoldoutRecord(**common, share=None, rows=0, training_rows=frame.height,
                                                   holdout_entities=0, reason=f"no holdout could be drawn: {error}")
    record = SequencesHoldoutRecord(**common, share=share, rows=holdout.height, training_rows=training.height,
                                    holdout_entities=holdout.get_column(entity).n_unique())
    return training, holdout, record


def rebuild_sequences(frame: pl.DataFrame, record: SequencesHoldoutRecord) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """(training part, holdout or None) of the dataset version ``frame``, as the run drew them."""
    if frame.height != record.rows + record.training_rows:
        raise InputError(f"the dataset version holds {frame.height:,} rows, but the holdout was drawn from "
                         f"{record.rows + record.training_rows:,}: it is not the version the model was trained on")
    if record.share is None:
        return frame, None
    training, holdout = _split(frame, entity=record.entity, order_by=record.order_by, by=record.by,
                               share=record.share, seed=record.seed)
    if holdout.height != record.rows:
        raise InputError(f"the holdout drawn again ({holdout.height:,} rows) differs from the recorded one "
                         f"({record.rows:,} rows)")
    return training, holdout


__all__ = ["KIND", "MIN_ENTITIES", "SequencesHoldoutRecord", "is_sequences_record", "rebuild_sequences",
           "sequences_record_of", "set_aside_sequences"]
