"""Fit one peer library on a long table of histories and write its synthetic long table (benchmark only).

Runs ONLY under the throwaway peers interpreter (``.venv-peers/bin/python``, made by
tests/bench/peers/setup_peers.sh), never in the project venv: it imports SDV (Business Source
License) and mostlyai-engine. tests/bench/bench_sequences.py calls it in a subprocess and exchanges
files only:

    .venv-peers/bin/python tests/bench/peers/run_sequences_peer.py --model mostly \
        --train RUN/data/nasdaq/train.parquet --spec RUN/data/nasdaq/spec.json --seed 0 \
        --out RUN/synthetic/nasdaq/mostly.parquet --timing RUN/synthetic/nasdaq/mostly.json

``--train`` is one Parquet file: the long table (one row per step), sorted by (entity, order_by).
``--spec`` is a JSON file ``{"entity": column, "order_by": column, "context": [columns constant
within every entity], "n_entities": how many histories to generate}``. The synthetic long table
goes to ``--out`` with the training table's columns; its entity ids are new (``"<model>-<i>"``).

Models:
  mostly  mostlyai-engine (its own defaults, early stopping included), the way its documentation
          runs a two-table sequential case: the entity table (the entity column and the context
          columns) is the context of a sequential TabularARGN over the step table
          (``split(tgt_data=steps, ctx_data=entities, tgt_context_key=entity, ...)``), a datetime
          order_by column encoded as ``TABULAR_DATETIME_RELATIVE`` (its gaps within a sequence, the
          engine's encoding for sequential time; the other columns get its defaults); the sequence
          length comes from the model. With context columns, a flat TabularARGN on the entity table
          first generates ``n_entities`` synthetic contexts (the real ones are never handed to the
          generator); without context columns the context is the new entity ids alone.
          ``--max-training-minutes`` is passed to each ``train`` call as ``max_training_time``.
  par     SDV 2.0 ``PARSynthesizer`` with explicit metadata (sequence_key = entity, sequence_index =
          order_by, context_columns = the context), ``epochs`` from ``--epochs``, CPU;
          ``sample_sequences(n_entities)`` draws the context and the lengths.

Long histories (``--segment-size S``, for beijing's 28,000-step station histories: PAR re-runs its
recurrent net over the whole prefix at each generated step, and mostlyai-engine with four entities
has four training examples): both peers train on consecutive segments of S steps, each segment an
entity of its own, and each synthetic history is assembled from ceil(L / S) consecutive generated
segments (L: the median training length, or ``--max-steps-per-history`` when smaller), each
segment's times shifted to follow the previous segment by that segment's own median gap. PAR
generates segments of exactly S steps; mostlyai-engine draws each segment's length.

The timing JSON holds fit seconds, sample seconds, rows, the library version and notes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

MODELS = ("mostly", "par")


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _read_long(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    for name in frame.columns:  # pyarrow gives Date columns as objects of datetime.date
        if frame[name].dtype == object and frame[name].map(lambda v: v is None or hasattr(v, "toordinal")).all():
            if frame[name].notna().any():
                frame[name] = pd.to_datetime(frame[name])
    for name in frame.columns:  # SDV reads datetime64 values as nanoseconds
        if pd.api.types.is_datetime64_any_dtype(frame[name].dtype):
            frame[name] = frame[name].astype("datetime64[ns]")
    return frame


def _new_ids(model: str, n: int) -> list[str]:
    return [f"{model}-{i}" for i in range(1, n + 1)]


def _entity_table(frame: pd.DataFrame, entity: str, context: list[str]) -> pd.DataFrame:
    return frame.groupby(entity, sort=False, as_index=False)[context].first() if context else (
        pd.DataFrame({entity: frame[entity].drop_duplicates().to_numpy()}))


class _Mostly:
    """mostlyai-engine: a flat model of the entity table (when it has columns) and a sequential model of the steps."""

    def __init__(self, frame: pd.DataFrame, spec: dict, workdir: Path, max_minutes: float | None):
        self.frame, self.spec, self.workdir = frame, spec, workdir
        self.extra = {"max_training_time": max_minutes} if max_minutes else {}

    def _train(self, ws: Path, **split_args) -> None:
        import mostlyai.engine as me

        me.split(workspace_dir=ws, **split_args)
        me.analyze(workspace_dir=ws)
        me.encode(workspace_dir=ws)
        me.train(workspace_dir=ws, **self.extra)

    def fit(self) -> None:
        import mostlyai.engine as me

        me.init_logging()
        entity, context = self.spec["entity"], self.spec["context"]
        entities = _entity_table(self.frame, entity, context)
        if context:
            self._train(self.workdir / "entities", tgt_data=entities[context])
        steps = self.frame.drop(columns=context)
        order_by = self.spec["order_by"]
        # the time column as gaps within a sequence: the engine's own encoding for sequential time
        encodings = ({order_by: "TABULAR_DATETIME_RELATIVE"}
                     if pd.api.types.is_datetime64_any_dtype(steps[order_by].dtype) else None)
        self._train(self.workdir / "steps", tgt_data=steps, ctx_data=entities, tgt_context_key=entity,
                    ctx_primary_key=entity, tgt_encoding_types=encodings)

    def sample(self, n: int) -> pd.DataFrame:
        import mostlyai.engine as me

        entity, context = self.spec["entity"], self.spec["context"]
        ids = _new_ids("mostly", n)
        if context:
            me.generate(sample_size=n, workspace_dir=self.workdir / "entities")
            entities = pd.read_parquet(self.workdir / "entities" / "SyntheticData").reset_index(drop=True)
            entities.insert(0, entity, ids)
        else:
            entities = pd.DataFrame({entity: ids})
        me.generate(ctx_data=entities, workspace_dir=self.workdir / "steps")
        steps = pd.read_parquet(self.workdir / "steps" / "SyntheticData").reset_index(drop=True)
        out = steps.merge(entities, on=entity, how="left", validate="many_to_one") if context else steps
        return out[list(self.frame.columns)]


def _sdtype(series: pd.Series) -> dict:
    if pd.api.types.is_bool_dtype(series.dtype):
        return {"sdtype": "boolean"}
    if pd.api.types.is_numeric_dtype(series.dtype):
        return {"sdtype": "numerical"}
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return {"sdtype": "datetime"}
    return {"sdtype": "categorical"}


class _Par:
    """SDV's PARSynthesizer with explicit metadata."""

    def __init__(self, frame: pd.DataFrame, spec: dict, epochs: int):
        self.frame, self.spec, self.epochs = frame, spec, epochs

    def fit(self) -> None:
        from sdv.metadata import Metadata
        from sdv.sequential import PARSynthesizer

        entity, order_by = self.spec["entity"], self.spec["order_by"]
        columns = {c: _sdtype(self.frame[c]) for c in self.frame.columns}
        columns[entity] = {"sdtype": "id"}
        columns[order_by] = {"sdtype": "datetime"} if pd.api.types.is_datetime64_any_dtype(
            self.frame[order_by].dtype) else {"sdtype": "numerical"}
        metadata = Metadata.load_from_dict(
            {"columns": columns, "sequence_key": entity, "sequence_index": order_by}, single_table_name="steps")
        self.synth = PARSynthesizer(metadata, context_columns=list(self.spec["context"]), epochs=self.epochs,
                                    cuda=False, verbose=False)
        self.synth.fit({"steps": self.frame})  # SDV 2.0 takes {table: frame}

    def sample(self, n: int, length: int | None = None) -> pd.DataFrame:
        return self.synth.sample_sequences(num_sequences=n, sequence_length=length)["steps"][list(self.frame.columns)]


def _segmented(frame: pd.DataFrame, entity: str, size: int) -> pd.DataFrame:
    """Each history cut into consecutive segments of ``size`` steps, each segment its own entity."""
    position = frame.groupby(entity, sort=False).cumcount()
    return frame.assign(**{entity: frame[entity].astype(str) + "#" + (position // size).astype(str)})


def _renamed(frame: pd.DataFrame, entity: str, model: str) -> pd.DataFrame:
    keys = frame[entity].drop_duplicates().tolist()
    return frame.assign(**{entity: frame[entity].map(dict(zip(keys, _new_ids(model, len(keys)))))})


def _assembled(segments: pd.DataFrame, entity: str, order_by: str, per_history: int, model: str) -> pd.DataFrame:
    """Consecutive generated segments joined into histories, ``per_history`` segments each.

    A segment's times are shifted to start one gap (its own median gap) after the previous
    segment of the same history ends; the rows keep their generated order.
    """
    keys = segments[entity].drop_duplicates().tolist()
    index = segments[entity].map({k: i for i, k in enumerate(keys)}).to_numpy()
    ids = _new_ids(model, math.ceil(len(keys) / per_history))
    ordered = segments.assign(__segment=index).sort_values("__segment", kind="stable")
    parts: list[pd.DataFrame] = []
    for number, group in ordered.groupby("__segment", sort=True):  # a loop over segments (hundreds), not rows
        group = group.assign(**{entity: ids[number // per_history]})
        if number % per_history and parts:
            gaps = group[order_by].diff().dropna()
            gap = gaps.median() if len(gaps) else parts[-1][order_by].diff().dropna().median()
            group[order_by] = group[order_by] - group[order_by].iloc[0] + parts[-1][order_by].iloc[-1] + gap
        parts.append(group)
    return pd.concat(parts, ignore_index=True).drop(columns="__segment")


def _version(model: str) -> str:
    import importlib.metadata as md

    if model == "mostly":
        return f"mostlyai-engine {md.version('mostlyai-engine')}"
    return f"SDV {md.version('sdv')} PARSynthesizer (deepecho {md.version('deepecho')})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, choices=MODELS)
    parser.add_argument("--train", required=True, type=Path, help="the long training table (Parquet)")
    parser.add_argument("--spec", required=True, type=Path, help="JSON: entity, order_by, context, n_entities")
    parser.add_argument("--out", required=True, type=Path, help="Parquet file for the synthetic long table")
    parser.add_argument("--timing", required=True, type=Path, help="JSON file for the timings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-training-minutes", type=float, default=None,
                        help="mostly: max_training_time per model (minutes; default: the engine's own)")
    parser.add_argument("--epochs", type=int, default=128, help="par: training epochs (SDV's default 128)")
    parser.add_argument("--segment-size", type=int, default=None,
                        help="train on segments of this many steps; assemble histories from generated segments")
    parser.add_argument("--max-steps-per-history", type=int, default=None,
                        help="with --segment-size: generate at most this many steps per history")
    args = parser.parse_args()

    frame = _read_long(args.train)
    spec = json.loads(args.spec.read_text())
    entity, order_by = spec["entity"], spec["order_by"]
    missing = [c for c in [entity, order_by, *spec["context"]] if c not in frame.columns]
    if missing:
        raise SystemExit(f"the spec names columns {missing} that the training table lacks")
    if args.max_steps_per_history and not args.segment_size:
        raise SystemExit("--max-steps-per-history needs --segment-size")
    importlib.import_module("mostlyai.engine" if args.model == "mostly" else "sdv.sequential")  # not fit time
    n = int(spec["n_entities"])
    notes: dict = {"segment_size": args.segment_size, "max_steps_per_history": args.max_steps_per_history}
    training = _segmented(frame, entity, args.segment_size) if args.segment_size else frame
    _seed_everything(args.seed)
    with tempfile.TemporaryDirectory(prefix="peer-sequences-") as workdir:
        start = time.perf_counter()
        if args.model == "mostly":
            peer = _Mostly(training, spec, Path(workdir), args.max_training_minutes)
            notes.update(max_training_minutes=args.max_training_minutes,
                         entity_model="flat TabularARGN" if spec["context"] else None)
        else:
            peer = _Par(training, spec, args.epochs)
            notes.update(epochs=args.epochs)
        peer.fit()
        fit_s = time.perf_counter() - start
        _seed_everything(args.seed + 1)
        start = time.perf_counter()
        if args.segment_size:
            median = float(frame.groupby(entity, sort=False).size().median())
            per_history = math.ceil(min(median, args.max_steps_per_history or median) / args.segment_size)
            fixed = {"length": args.segment_size} if args.model == "par" else {}
            raw = peer.sample(n * per_history, **fixed)
            synthetic = _assembled(raw, entity, order_by, per_history, args.model)
            notes.update(segments_per_history=per_history)
        else:
            synthetic = _renamed(peer.sample(n), entity, args.model)
        sample_s = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_suffix(".partial")
    synthetic.to_parquet(partial, index=False)
    os.replace(partial, args.out)
    args.timing.write_text(json.dumps({
        "model": args.model, "library": _version(args.model), "fit_s": fit_s, "sample_s": sample_s,
        "rows": int(len(synthetic)), "entities": int(synthetic[spec["entity"]].nunique()), **notes,
    }))


if __name__ == "__main__":
    main()
