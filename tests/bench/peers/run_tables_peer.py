"""Fit one peer library on a schema of training tables and write its synthetic tables (benchmark only).

Runs ONLY under the throwaway peers interpreter (``.venv-peers/bin/python``, made by
tests/bench/peers/setup_peers.sh), never in the project venv: it imports SDV (Business Source
License) and mostlyai-engine. tests/bench/bench_tables.py calls it in a subprocess and exchanges
files only:

    .venv-peers/bin/python tests/bench/peers/run_tables_peer.py --model hma \
        --train RUN/data/berka/train --keys RUN/data/berka/keys.json --seed 0 \
        --out RUN/synthetic/berka/hma --timing RUN/synthetic/berka/hma.json

``--train`` is a folder of Parquet files, one per table (``<table>.parquet``); ``--keys`` a JSON
file in the form ``engine.train_tables`` takes: ``{"primary_keys": {table: column | null},
"foreign_keys": ["child.column -> parent.column", ...]}``. The synthetic tables go to
``--out/<table>.parquet``, with the same columns as the training tables.

Models:
  hma     SDV 2.0 ``HMASynthesizer`` with explicit metadata: the keys as given (sdtype id), numbers
          numerical, datetimes datetime, booleans boolean, the rest categorical; ``sample_scale(scale=1.0)``.
  mostly  mostlyai-engine (its own defaults, early stopping included) table by table, parents first:
          a root table gets its flat (TabularARGN) model and as many rows as it has; a child gets the
          sequential model with its first declared parent as context (that parent's non-key columns)
          and is generated per synthetic parent row, level by level (berka: district -> account ->
          disp -> card). A child with a second parent (berka ``disp`` -> ``client``) gets that key
          drawn uniformly at random among the synthetic parent's keys; the timing JSON lists these
          relations under ``random_keys``. Primary keys are renumbered 1..n (or ``"<table>-<i>"``
          for string keys) after generation; the engine's own uuid keys are not used.

The timing JSON holds fit seconds, sample seconds, rows per table and the library version.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

MODELS = ("hma", "mostly")


@dataclass(frozen=True)
class Relation:
    """One foreign key: ``child.column -> parent.parent_column``."""

    child: str
    column: str
    parent: str
    parent_column: str


def _parse_keys(keys: dict) -> tuple[dict[str, str | None], list[Relation]]:
    primary = dict(keys.get("primary_keys") or {})
    relations = []
    for text in keys.get("foreign_keys") or []:
        left, right = (part.strip() for part in text.split("->"))
        child, column = left.split(".", 1)
        parent, parent_column = right.split(".", 1)
        relations.append(Relation(child, column, parent, parent_column))
    return primary, relations


def _topological(tables: list[str], relations: list[Relation]) -> list[str]:
    """Parents before children (Kahn's order, ties by name); a cycle is refused."""
    parents = {t: {r.parent for r in relations if r.child == t and r.parent != t} for t in tables}
    order: list[str] = []
    while len(order) < len(tables):
        ready = sorted(t for t in tables if t not in order and parents[t] <= set(order))
        if not ready:
            raise SystemExit(f"the keys form a cycle among {sorted(set(tables) - set(order))}")
        order.extend(ready)
    return order


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _read_tables(folder: Path) -> dict[str, pd.DataFrame]:
    frames = {}
    for path in sorted(folder.glob("*.parquet")):
        frame = pd.read_parquet(path)
        for name in frame.columns:  # pyarrow gives Date columns as objects of datetime.date
            if frame[name].dtype == object and frame[name].map(lambda v: v is None or hasattr(v, "toordinal")).all():
                if frame[name].notna().any():
                    frame[name] = pd.to_datetime(frame[name])
        frames[path.stem] = frame
    if not frames:
        raise SystemExit(f"no Parquet files in {folder}")
    return frames


def _sdtype(series: pd.Series) -> dict:
    if pd.api.types.is_bool_dtype(series.dtype):
        return {"sdtype": "boolean"}
    if pd.api.types.is_numeric_dtype(series.dtype):
        return {"sdtype": "numerical"}
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return {"sdtype": "datetime"}
    return {"sdtype": "categorical"}


def _fit_hma(frames: dict[str, pd.DataFrame], primary: dict, relations: list[Relation]):
    from sdv.metadata import Metadata
    from sdv.multi_table import HMASynthesizer

    key_columns = {(t, c) for t, c in primary.items() if c} | {(r.child, r.column) for r in relations}
    tables = {}
    for name, frame in frames.items():
        columns = {c: ({"sdtype": "id"} if (name, c) in key_columns else _sdtype(frame[c])) for c in frame.columns}
        tables[name] = {"columns": columns, **({"primary_key": primary[name]} if primary.get(name) else {})}
    metadata = Metadata.load_from_dict(
        {
            "tables": tables,
            "relationships": [
                {
                    "parent_table_name": r.parent,
                    "parent_primary_key": r.parent_column,
                    "child_table_name": r.child,
                    "child_foreign_key": r.column,
                }
                for r in relations
            ],
        }
    )
    synth = HMASynthesizer(metadata)
    synth.fit(frames)
    return lambda: synth.sample_scale(scale=1.0), {}  # SDV 2.0: sample() takes num_rows; sample_scale the scale


def _new_keys(table: str, n: int, like: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(like.dtype):
        return pd.Series(np.arange(1, n + 1, dtype=np.int64))
    return pd.Series([f"{table}-{i}" for i in range(1, n + 1)], dtype=object)


class _Mostly:
    """mostlyai-engine, one workspace per table: flat for roots, sequential with one context parent."""

    def __init__(self, frames: dict[str, pd.DataFrame], primary: dict, relations: list[Relation], seed: int,
                 workdir: Path, max_training_minutes: float | None):
        self.frames, self.primary, self.relations = frames, primary, relations
        self.seed, self.workdir, self.max_minutes = seed, workdir, max_training_minutes
        self.order = _topological(list(frames), relations)
        self.context: dict[str, Relation] = {}
        self.random_keys: list[str] = []
        for table in self.order:
            mine = [r for r in relations if r.child == table]
            if mine:
                self.context[table] = mine[0]
                self.random_keys += [f"{r.child}.{r.column} -> {r.parent}.{r.parent_column}" for r in mine[1:]]

    def _key_columns(self, table: str) -> set[str]:
        own = {self.primary.get(table)} - {None}
        return own | {r.column for r in self.relations if r.child == table}

    def _attributes(self, table: str, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.drop(columns=sorted(self._key_columns(table) & set(frame.columns)))

    def _context_frame(self, rel: Relation, frame: pd.DataFrame) -> pd.DataFrame:
        keep = [rel.parent_column] + [c for c in frame.columns if c not in self._key_columns(rel.parent)]
        return frame[keep]

    def fit(self) -> None:
        import mostlyai.engine as me

        me.init_logging()
        extra = {"max_training_time": self.max_minutes} if self.max_minutes else {}
        for table in self.order:
            ws = self.workdir / table
            frame = self.frames[table]
            rel = self.context.get(table)
            if rel is None:
                me.split(tgt_data=self._attributes(table, frame), workspace_dir=ws)
            else:
                tgt = self._attributes(table, frame).assign(**{rel.column: frame[rel.column].values})
                me.split(
                    tgt_data=tgt,
                    ctx_data=self._context_frame(rel, self.frames[rel.parent]),
                    tgt_context_key=rel.column,
                    ctx_primary_key=rel.parent_column,
                    workspace_dir=ws,
                )
            me.analyze(workspace_dir=ws)
            me.encode(workspace_dir=ws)
            me.train(workspace_dir=ws, **extra)

    def sample(self) -> dict[str, pd.DataFrame]:
        import mostlyai.engine as me

        rng = np.random.default_rng(self.seed)
        synthetic: dict[str, pd.DataFrame] = {}
        for table in self.order:
            ws = self.workdir / table
            real = self.frames[table]
            rel = self.context.get(table)
            if rel is None:
                me.generate(sample_size=len(real), workspace_dir=ws)
            else:
                me.generate(ctx_data=self._context_frame(rel, synthetic[rel.parent]), workspace_dir=ws)
            out = pd.read_parquet(ws / "SyntheticData").reset_index(drop=True)
            pk = self.primary.get(table)
            if pk:
                out[pk] = _new_keys(table, len(out), real[pk]).values
            for other in (r for r in self.relations if r.child == table and r is not rel):
                pool = synthetic[other.parent][other.parent_column].to_numpy()
                out[other.column] = pool[rng.integers(0, len(pool), size=len(out))]
            synthetic[table] = out[list(real.columns)]
        return synthetic


def _version(model: str) -> str:
    import importlib.metadata as md

    if model == "mostly":
        return f"mostlyai-engine {md.version('mostlyai-engine')}"
    return f"SDV {md.version('sdv')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, choices=MODELS)
    parser.add_argument("--train", required=True, type=Path, help="folder of training Parquet files, one per table")
    parser.add_argument("--keys", required=True, type=Path, help="keys JSON (primary_keys, foreign_keys)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the synthetic Parquet files")
    parser.add_argument("--timing", required=True, type=Path, help="JSON file for the timings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-training-minutes", type=float, default=None,
                        help="mostly: max_training_time per table (minutes; default: the engine's own)")
    args = parser.parse_args()

    frames = _read_tables(args.train)
    primary, relations = _parse_keys(json.loads(args.keys.read_text()))
    if args.model == "mostly":
        import mostlyai.engine  # noqa: F401 - imports are not part of the fit time
    else:
        import sdv.multi_table  # noqa: F401
    _seed_everything(args.seed)
    notes: dict = {}
    with tempfile.TemporaryDirectory(prefix="peer-tables-") as workdir:
        start = time.perf_counter()
        if args.model == "mostly":
            mostly = _Mostly(frames, primary, relations, args.seed, Path(workdir), args.max_training_minutes)
            mostly.fit()
            sample = mostly.sample
            notes = {
                "context_parent": {t: f"{r.parent} via {r.column}" for t, r in mostly.context.items()},
                "random_keys": mostly.random_keys,
                "max_training_minutes": args.max_training_minutes,
            }
        else:
            sample, notes = _fit_hma(frames, primary, relations)  # seeded through numpy and torch above
        fit_s = time.perf_counter() - start
        _seed_everything(args.seed)
        start = time.perf_counter()
        synthetic = sample()
        sample_s = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    for name, frame in synthetic.items():
        partial = args.out / f"{name}.partial"
        frame.to_parquet(partial, index=False)
        os.replace(partial, args.out / f"{name}.parquet")
    args.timing.write_text(
        json.dumps(
            {
                "model": args.model,
                "library": _version(args.model),
                "fit_s": fit_s,
                "sample_s": sample_s,
                "rows": {name: int(len(frame)) for name, frame in synthetic.items()},
                **notes,
            }
        )
    )


if __name__ == "__main__":
    main()
