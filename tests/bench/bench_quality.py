"""Side-by-side quality benchmark: Doppel's models and the peer libraries, one protocol, one table.

Run (from the repository root, in the project venv):

    .venv/bin/python tests/bench/bench_quality.py                         # every model, adult
    .venv/bin/python tests/bench/bench_quality.py --datasets adult,california,mushroom,nyc \
        --models argn,ctgan,tvae --epochs 300                             # ours, plus ctgan/tvae at 300 epochs
    .venv/bin/python tests/bench/bench_quality.py --run-dir bench-results/RUN --models sdv_ctgan
    .venv/bin/python tests/bench/bench_quality.py --report bench-results/RUN   # print saved results

Models (``--models``, comma-separated; ``NAME@EPOCHS`` fixes the epochs of one row):
  ours   argn, ctgan, tvae,    ``engine.train(train, model=NAME, seed=0)`` with its defaults, then
         diffusion             ``model.sample(n_train, seed=0)``; ``--epochs N`` adds ctgan@N / tvae@N rows
  peers  gaussiancopula, sdv_ctgan, sdv_tvae (SDV 2.0; ``--peer-epochs``, default 300) and
         tabularargn (mostlyai-engine 2.7.3, defaults); they run in the throwaway venv made by
         tests/bench/peers/setup_peers.sh (Business Source License code stays there), through
         tests/bench/peers/run_peer.py in a subprocess, and are skipped when it is not installed
  real   the ceiling: real rows as "synthetic" (the training part split again 80/20; its 20%
         is judged against its 80%, which stands in for the training rows)

Protocol (the generative-models issue):
- Data: adult.csv read with ``skipinitialspace``; 80/20 split stratified on the target,
  ``random_state=0`` (regression targets are stratified on their deciles). Targets: adult
  ``income`` (AUC of ``>50K``), california_housing ``median_house_value`` (R2), mushroom
  ``class`` (AUC of ``p``, the minority class), nyc_airbnb_2019 ``price`` (R2; ``last_review``
  parsed as a date).
- Every model fits the training part and synthesizes as many rows as it has. Its output is
  written to Parquet in the run folder (``bench-results/<timestamp>/``, gitignored) and judged
  from there by the one judge below, the same code for every model.
- Fidelity: SDMetrics 0.32 single-table ``QualityReport`` (its defaults) against the training
  part, in the judge venv (tests/judge/ensure_judge_venv.sh) via
  tests/bench/judge/sdmetrics_quality_report.py. Metadata: numeric columns with more than 10
  distinct values are numerical, date columns datetime, everything else categorical.
- Utility (TSTR): features one-hot encoded (categories; numbers and dates as numbers), a
  ``HistGradientBoostingClassifier(random_state=0)`` (``...Regressor`` for a numeric target)
  fitted on the synthetic rows, scored on the real 20%; TRTR (fitted on the training part) is
  printed beside it.
- Privacy (DCR share): 5,000 rows per side (fewer when a side has fewer) of synthetic,
  training and holdout rows; numbers (dates as numbers) scaled by the training part's P1-P99
  range and clipped to it, a null as 0 plus a 0/1 null-flag column; categories one-hot scaled
  by 0.7 (null is a category); Euclidean nearest neighbour. Share = synthetic rows strictly
  closer to a training row than to a holdout row, plus half the ties (0.5 = no memorisation).
  The judge is written here, independently of engine/quality, so that it does not share code
  with what it judges.
- Timing: fit wall seconds and sample rows/s, with the 1-minute load average at fit start and
  end (the machine is shared); every result is one JSON line appended to RUN/results.jsonl.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DATASETS_DIR = Path(os.environ.get("DOPPEL_DATASETS", REPO.parent / "shared" / "datasets"))
PEERS_PYTHON = REPO / ".venv-peers" / "bin" / "python"
JUDGE_PYTHON = REPO / ".venv-judge" / "bin" / "python"
SEED = 0
DCR_ROWS = 5_000
DCR_CATEGORY_SCALE = 0.7


@dataclass(frozen=True)
class Dataset:
    """One benchmark table: where it is, how to read it, what to predict."""

    name: str
    file: str
    target: str
    positive: str | None  # the class whose AUC is scored; None for a regression target
    read_options: dict = field(default_factory=dict)

    @property
    def task(self) -> str:
        return "regression" if self.positive is None else "classification"

    @property
    def utility_metric(self) -> str:
        return "R2" if self.positive is None else "AUC"


DATASETS = {
    "adult": Dataset("adult", "adult.csv", "income", ">50K", {"skipinitialspace": True}),
    "california": Dataset("california", "california_housing.csv.gz", "median_house_value", None),
    "mushroom": Dataset("mushroom", "mushroom.csv", "class", "p", {"skipinitialspace": True}),
    "nyc": Dataset("nyc", "nyc_airbnb_2019.csv.gz", "price", None, {"parse_dates": ["last_review"]}),
}

OURS = ("argn", "ctgan", "tvae", "diffusion")
PEERS = ("tabularargn", "sdv_ctgan", "sdv_tvae", "gaussiancopula")
PEER_LIBRARY = {
    "tabularargn": "mostlyai-engine 2.7.3",
    "sdv_ctgan": "SDV 2.0",
    "sdv_tvae": "SDV 2.0",
    "gaussiancopula": "SDV 2.0",
}
EPOCH_MODELS = ("ctgan", "tvae", "diffusion", "sdv_ctgan", "sdv_tvae")
ALL_MODELS = (*OURS, *PEERS, "real")


@dataclass(frozen=True)
class ModelRow:
    """One row of the table: a model name and, where fixed, its epochs."""

    name: str
    epochs: int | None = None

    @property
    def label(self) -> str:
        return self.name if self.epochs is None else f"{self.name}@{self.epochs}"

    @property
    def library(self) -> str:
        if self.name in OURS:
            return "Doppel"
        return PEER_LIBRARY.get(self.name, "-")


# ----------------------------------------------------------------------------- data


def split_paths(run_dir: Path, dataset: Dataset) -> tuple[Path, Path]:
    folder = run_dir / "data" / dataset.name
    return folder / "train.parquet", folder / "holdout.parquet"


def prepare_split(run_dir: Path, dataset: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the dataset, split it 80/20 (stratified, random_state=0) and keep both parts as Parquet.

    The Parquet files are written once per run folder, so that pieces of a run (other models,
    later) read exactly the same rows.
    """
    train_path, holdout_path = split_paths(run_dir, dataset)
    if not train_path.exists():
        from sklearn.model_selection import train_test_split

        source = DATASETS_DIR / dataset.file
        if not source.exists():
            raise SystemExit(f"{source}: dataset not found (set DOPPEL_DATASETS to the datasets folder)")
        frame = pd.read_csv(source, **dataset.read_options)
        if dataset.target not in frame.columns:
            raise SystemExit(f"{source}: target column {dataset.target!r} is missing")
        train, holdout = train_test_split(
            frame, test_size=0.2, stratify=_strata(frame[dataset.target], dataset), random_state=SEED
        )
        train_path.parent.mkdir(parents=True, exist_ok=True)
        train.reset_index(drop=True).to_parquet(train_path, index=False)
        holdout.reset_index(drop=True).to_parquet(holdout_path, index=False)
    return pd.read_parquet(train_path), pd.read_parquet(holdout_path)


def _strata(target: pd.Series, dataset: Dataset) -> pd.Series:
    if dataset.task == "classification":
        return target
    return pd.qcut(target, 10, labels=False, duplicates="drop")


# ----------------------------------------------------------------------------- the judge


def coerce_like(reference: pd.DataFrame, synthetic: pd.DataFrame) -> pd.DataFrame:
    """The synthetic frame with the reference's columns, each cast to the reference's kind.

    Models return their own dtypes (nullable ints, categoricals, date strings); the judge
    compares values, so every output is brought to one representation the same way: numbers
    as int64 (when all integral and present) or float64, dates as datetime64, the rest as
    strings with nulls kept. Unparseable values become null (and count against the model).
    """
    missing = [c for c in reference.columns if c not in synthetic.columns]
    if missing:
        raise ValueError(f"synthetic output lacks the columns {missing}")
    out = {}
    for name, dtype in reference.dtypes.items():
        values = synthetic[name]
        if pd.api.types.is_datetime64_any_dtype(dtype):
            out[name] = pd.to_datetime(values, errors="coerce").astype("datetime64[ns]")
        elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            numbers = pd.to_numeric(values, errors="coerce").astype("float64")
            integral = pd.api.types.is_integer_dtype(dtype) and numbers.notna().all()
            out[name] = numbers.astype("int64") if integral and (numbers % 1 == 0).all() else numbers
        else:
            text = values.astype("string").astype(object)
            out[name] = text.where(values.notna(), None)
    return pd.DataFrame(out).reset_index(drop=True)


def _as_object_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """String columns as object dtype with None for nulls (one representation for every frame)."""
    out = frame.copy()
    for name, dtype in out.dtypes.items():
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)):
            out[name] = out[name].astype(object).where(out[name].notna(), None)
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            out[name] = out[name].astype("datetime64[ns]")
    return out


def sdmetrics_metadata(reference: pd.DataFrame) -> dict:
    """Numeric columns with more than 10 distinct values: numerical; dates: datetime; else categorical."""
    columns = {}
    for name, dtype in reference.dtypes.items():
        if pd.api.types.is_datetime64_any_dtype(dtype):
            columns[name] = {"sdtype": "datetime"}
        elif (
            pd.api.types.is_numeric_dtype(dtype)
            and not pd.api.types.is_bool_dtype(dtype)
            and reference[name].nunique() > 10
        ):
            columns[name] = {"sdtype": "numerical"}
        else:
            columns[name] = {"sdtype": "categorical"}
    return {"columns": columns}


def quality_report(reference: pd.DataFrame, synthetic: pd.DataFrame, scratch: Path) -> dict:
    """SDMetrics' QualityReport (0.32) in the judge venv, on Parquet copies of both frames."""
    if not JUDGE_PYTHON.exists():
        subprocess.run(["bash", str(REPO / "tests/judge/ensure_judge_venv.sh")], check=True)
    scratch.mkdir(parents=True, exist_ok=True)
    real_path, syn_path = scratch / "reference.parquet", scratch / "synthetic.parquet"
    reference.to_parquet(real_path, index=False)
    synthetic.to_parquet(syn_path, index=False)
    job = {"real": str(real_path), "synthetic": str(syn_path), "metadata": sdmetrics_metadata(reference)}
    try:
        done = subprocess.run(
            [str(JUDGE_PYTHON), str(REPO / "tests/bench/judge/sdmetrics_quality_report.py")],
            input=json.dumps(job),
            capture_output=True,
            text=True,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"the SDMetrics judge failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def _design(train: pd.DataFrame, test: pd.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrices: numbers and dates as numbers (NaN kept), categories one-hot (fitted on train)."""
    from sklearn.preprocessing import OneHotEncoder

    features = [c for c in train.columns if c != target]
    numeric = [c for c in features if _is_number_like(train[c])]
    categorical = [c for c in features if c not in numeric]
    parts_train = [_numbers(train[c]) for c in numeric]
    parts_test = [_numbers(test[c]) for c in numeric]
    blocks_train = [np.column_stack(parts_train)] if parts_train else []
    blocks_test = [np.column_stack(parts_test)] if parts_test else []
    if categorical:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        blocks_train.append(encoder.fit_transform(_categories(train[categorical])))
        blocks_test.append(encoder.transform(_categories(test[categorical])))
    return np.hstack(blocks_train), np.hstack(blocks_test)


def _is_number_like(column: pd.Series) -> bool:
    dtype = column.dtype
    return pd.api.types.is_datetime64_any_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    )


def _numbers(column: pd.Series) -> np.ndarray:
    """A number or date column as float64 (dates in days since 1970), nulls as NaN."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        ns = column.astype("datetime64[ns]")
        days = (ns - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
        return days.to_numpy(dtype="float64", na_value=np.nan)
    return column.astype("float64").to_numpy(na_value=np.nan)


def _categories(frame: pd.DataFrame) -> np.ndarray:
    return frame.astype(object).where(frame.notna(), "<null>").astype(str).to_numpy()


def tstr_score(train: pd.DataFrame, test: pd.DataFrame, dataset: Dataset) -> float:
    """Train on ``train``, score on real ``test``: AUC of the positive class, or R2."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import r2_score, roc_auc_score

    train = train[train[dataset.target].notna()]
    if train.empty:
        return float("nan")
    x_train, x_test = _design(train, test, dataset.target)
    if dataset.task == "classification":
        y_train = (train[dataset.target].astype(str) == dataset.positive).to_numpy()
        y_test = (test[dataset.target].astype(str) == dataset.positive).to_numpy()
        if y_train.all() or not y_train.any():
            return float("nan")  # one class only in the synthetic target: no classifier to score
        model = HistGradientBoostingClassifier(random_state=SEED).fit(x_train, y_train)
        return float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
    y_train = train[dataset.target].astype("float64").to_numpy()
    y_test = test[dataset.target].astype("float64").to_numpy()
    model = HistGradientBoostingRegressor(random_state=SEED).fit(x_train, y_train)
    return float(r2_score(y_test, model.predict(x_test)))


def dcr_share(training: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    """Share of synthetic rows closer to a training row than to a holdout row (ties count half).

    Equal-sized samples (5,000 rows, or the smallest side) of the three frames; numbers scaled
    by the full training part's P1-P99 range and clipped, nulls as 0 with a null flag; categories
    one-hot times 0.7; Euclidean nearest neighbour.
    """
    from sklearn.neighbors import NearestNeighbors

    rows = min(DCR_ROWS, len(training), len(holdout), len(synthetic))
    rng = np.random.default_rng(SEED)
    sides = [frame.iloc[rng.choice(len(frame), rows, replace=False)] for frame in (training, holdout, synthetic)]
    blocks: list[list[np.ndarray]] = [[], [], []]
    for name in training.columns:
        if _is_number_like(training[name]):
            reference = _numbers(training[name])
            low, high = np.nanpercentile(reference, [1, 99]) if np.isfinite(reference).any() else (0.0, 1.0)
            width = high - low if high > low else 1.0
            has_nulls = any(side[name].isna().any() for side in sides)
            for block, side in zip(blocks, sides):
                values = _numbers(side[name])
                scaled = np.clip((values - low) / width, 0.0, 1.0)
                block.append(np.nan_to_num(scaled, nan=0.0)[:, None])
                if has_nulls:
                    block.append(np.isnan(values).astype("float64")[:, None])
        else:
            texts = [_categories(side[[name]])[:, 0] for side in sides]
            levels = np.unique(np.concatenate(texts))
            for block, text in zip(blocks, texts):
                codes = np.searchsorted(levels, text)
                block.append(np.eye(len(levels))[codes] * DCR_CATEGORY_SCALE)
    train_x, holdout_x, syn_x = (np.hstack(block) for block in blocks)
    to_train = NearestNeighbors(n_neighbors=1).fit(train_x).kneighbors(syn_x)[0][:, 0]
    to_holdout = NearestNeighbors(n_neighbors=1).fit(holdout_x).kneighbors(syn_x)[0][:, 0]
    closer = float(np.mean(to_train < to_holdout))
    ties = float(np.mean(to_train == to_holdout))
    return {"dcr_share": closer + ties / 2, "dcr_ties": ties, "dcr_rows": rows}


def judge(
    reference: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, dataset: Dataset, scratch: Path
) -> dict:
    """Every score for one synthetic frame: the same code for every model."""
    reference = _as_object_strings(reference)
    holdout = _as_object_strings(holdout)
    synthetic = coerce_like(reference, synthetic)
    started = time.perf_counter()
    scores = quality_report(reference, synthetic, scratch)
    scores.pop("copulas_loaded", None)
    scores["quality_s"] = scores.pop("seconds", None)
    scores["utility_metric"] = dataset.utility_metric
    scores["tstr"] = tstr_score(synthetic, holdout, dataset)
    scores.update(dcr_share(reference, holdout, synthetic))
    scores["judge_s"] = time.perf_counter() - started
    return scores


# ----------------------------------------------------------------------------- the models


def synthetic_paths(run_dir: Path, dataset: Dataset, row: ModelRow) -> tuple[Path, Path]:
    folder = run_dir / "synthetic" / dataset.name
    return folder / f"{row.label}.parquet", folder / f"{row.label}.json"


def run_ours(row: ModelRow, train_path: Path, rows: int, out: Path, timing: Path) -> None:
    """``engine.train`` + ``model.sample`` in this process, timed; output and timings to disk."""
    import polars as pl

    sys.path.insert(0, str(REPO))
    import engine

    import engine.models.registry  # noqa: F401  (imports, torch included, are not part of the fit time)
    import torch  # noqa: F401

    frame = pl.read_parquet(train_path)
    extra = {} if row.epochs is None else {"epochs": row.epochs}
    started = time.perf_counter()
    model = engine.train(frame, model=row.name, seed=SEED, **extra)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    synthetic = model.sample(rows, seed=SEED)
    sample_s = time.perf_counter() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    synthetic.write_parquet(out)
    metrics = getattr(model, "metrics_", {}) or {}
    timing.write_text(
        json.dumps(
            {
                "model": row.name,
                "library": "Doppel",
                "epochs": row.epochs,
                "epochs_run": metrics.get("epochs_run"),
                "best_epoch": metrics.get("best_epoch"),
                "fit_s": fit_s,
                "sample_s": sample_s,
                "rows": synthetic.height,
            }
        )
    )


def run_peer(row: ModelRow, train_path: Path, rows: int, out: Path, timing: Path, log: Path) -> None:
    """tests/bench/peers/run_peer.py under the peers venv; its output and timings come back as files."""
    command = [
        str(PEERS_PYTHON),
        str(REPO / "tests/bench/peers/run_peer.py"),
        "--model", row.name,
        "--train", str(train_path),
        "--rows", str(rows),
        "--out", str(out),
        "--timing", str(timing),
        "--seed", str(SEED),
    ]  # fmt: skip
    if row.epochs is not None:
        command += ["--epochs", str(row.epochs)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as sink:
        done = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, cwd=REPO)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{row.label} failed (exit {done.returncode}); log {log}:\n{tail}")


def bench_one(run_dir: Path, dataset: Dataset, row: ModelRow, train: pd.DataFrame, holdout: pd.DataFrame) -> dict:
    """Fit, sample, judge one model on one dataset; the result as one dict (error included)."""
    result: dict = {
        "run": run_dir.name,
        "dataset": dataset.name,
        "model": row.label,
        "library": row.library,
        "epochs": row.epochs,
        "train_rows": len(train),
        "cores": os.cpu_count(),
        "at": dt.datetime.now().isoformat(timespec="seconds"),
    }
    scratch = run_dir / "scratch" / f"{dataset.name}-{row.label}"
    try:
        if row.name == "real":
            reference, synthetic = _real_ceiling(train, dataset)
        else:
            train_path, _ = split_paths(run_dir, dataset)
            out, timing = synthetic_paths(run_dir, dataset, row)
            result["load_at_fit_start"] = os.getloadavg()[0]
            if row.name in OURS:
                run_ours(row, train_path, len(train), out, timing)
            else:
                log = run_dir / "logs" / f"{dataset.name}.{row.label}.log"
                run_peer(row, train_path, len(train), out, timing, log)
            result["load_at_fit_end"] = os.getloadavg()[0]
            times = json.loads(timing.read_text())
            result.update({k: times.get(k) for k in ("library", "epochs_run", "best_epoch", "fit_s", "sample_s")})
            result["library"] = result["library"] or row.library
            result["rows"] = times["rows"]
            result["sample_rows_per_s"] = times["rows"] / times["sample_s"] if times["sample_s"] else None
            result["synthetic"] = str(out.relative_to(run_dir))
            reference, synthetic = train, pd.read_parquet(out)
        result["rows"] = len(synthetic)
        result.update(judge(reference, holdout, synthetic, dataset, scratch))
    except Exception as err:  # one model's failure must not lose the others' rows
        result["error"] = f"{type(err).__name__}: {err}"
        result["traceback"] = traceback.format_exc()[-4000:]
    return result


def _real_ceiling(train: pd.DataFrame, dataset: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training part split 80/20 again: its 80% is the reference, its 20% the "synthetic" rows."""
    from sklearn.model_selection import train_test_split

    reference, sample = train_test_split(
        train, test_size=0.2, stratify=_strata(train[dataset.target], dataset), random_state=SEED
    )
    return reference.reset_index(drop=True), sample.reset_index(drop=True)


def trtr(run_dir: Path, dataset: Dataset, train: pd.DataFrame, holdout: pd.DataFrame) -> dict:
    """Train-real-test-real score, once per dataset and run folder."""
    reference, holdout = _as_object_strings(train), _as_object_strings(holdout)
    return {
        "run": run_dir.name,
        "dataset": dataset.name,
        "model": "TRTR",
        "utility_metric": dataset.utility_metric,
        "trtr": tstr_score(reference, holdout, dataset),
        "train_rows": len(train),
        "holdout_rows": len(holdout),
    }


# ----------------------------------------------------------------------------- the table


def read_results(run_dirs: list[Path]) -> list[dict]:
    rows = []
    for run_dir in run_dirs:
        path = run_dir / "results.jsonl"
        if not path.exists():
            raise SystemExit(f"{path}: no results in this run folder")
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise SystemExit(f"{path}:{number}: not a JSON line ({err})") from None
    return rows


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return format(value, spec)


def render_table(results: list[dict]) -> str:
    """One markdown table per dataset; the latest row wins where a model was run twice."""
    order = {name: i for i, name in enumerate(DATASETS)}
    latest: dict[tuple[str, str], dict] = {}
    for result in results:
        latest[(result["dataset"], result["model"])] = result
    lines = []
    for name in sorted({d for d, _ in latest}, key=lambda d: order.get(d, 99)):
        rows = [r for (d, _), r in latest.items() if d == name and r["model"] != "TRTR"]
        rows.sort(key=lambda r: (_row_rank(r["model"]), r["model"]))
        metric = next((r.get("utility_metric") for r in latest.values() if r["dataset"] == name and r.get("utility_metric")), "score")
        lines.append(f"### {name}")
        lines.append("")
        lines.append(
            f"| model | library | epochs (asked/run) | fit wall s | sample rows/s | SDMetrics quality | column shapes "
            f"| pair trends | TSTR {metric} | DCR share | load at fit start/end |"
        )
        lines.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in rows:
            if r.get("error"):
                first = r["error"].splitlines()[0][:120].replace("|", "/")
                lines.append(f"| {r['model']} | {r.get('library', '-')} | | error: {first} | | | | | | | |")
                continue
            base_name = r["model"].split("@")[0]
            if base_name in ("real", "gaussiancopula"):
                epochs = "-"
            else:
                epochs = f"{r.get('epochs') or 'default'}/{r.get('epochs_run') or '?'}"
            load = (
                f"{_fmt(r.get('load_at_fit_start'), '.1f')}/{_fmt(r.get('load_at_fit_end'), '.1f')}"
                if r.get("load_at_fit_start") is not None
                else "-"
            )
            label = f"real rows ({r.get('rows', 0):,} rows, ceiling)" if r["model"] == "real" else r["model"]
            lines.append(
                f"| {label} | {r.get('library', '-')} | {epochs} | {_fmt(r.get('fit_s'), '.1f')} "
                f"| {_fmt(r.get('sample_rows_per_s'), ',.0f')} | {_fmt(r.get('quality'), '.3f')} "
                f"| {_fmt(r.get('column_shapes'), '.3f')} | {_fmt(r.get('pair_trends'), '.3f')} "
                f"| {_fmt(r.get('tstr'), '.3f')} | {_fmt(r.get('dcr_share'), '.3f')} | {load} |"
            )
        base = latest.get((name, "TRTR"))
        if base:
            lines.append("")
            lines.append(
                f"Train-real-test-real {base['utility_metric']}: {base['trtr']:.3f} "
                f"({base['train_rows']:,} training rows, {base['holdout_rows']:,} holdout rows)."
            )
        lines.append("")
    return "\n".join(lines)


def _row_rank(label: str) -> int:
    name = label.split("@")[0]
    return ALL_MODELS.index(name) if name in ALL_MODELS else len(ALL_MODELS)


# ----------------------------------------------------------------------------- command line


def parse_models(text: str, *, epochs: int | None, peer_epochs: int | None) -> list[ModelRow]:
    """``argn,ctgan@300,sdv_tvae`` -> rows; ``--epochs`` adds ctgan@N/tvae@N, peers get ``--peer-epochs``."""
    rows: list[ModelRow] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, count = item.partition("@")
        if name not in ALL_MODELS:
            raise SystemExit(f"--models: unknown model {name!r}; choose from {', '.join(ALL_MODELS)}")
        if count and (name not in EPOCH_MODELS or not count.isdigit() or int(count) < 1):
            raise SystemExit(f"--models: {item!r}: '@EPOCHS' takes a positive integer and applies to {', '.join(EPOCH_MODELS)}")
        fixed = int(count) if count else (peer_epochs if name in ("sdv_ctgan", "sdv_tvae") else None)
        rows.append(ModelRow(name, fixed))
        if epochs is not None and name in ("ctgan", "tvae") and not count:
            rows.append(ModelRow(name, epochs))
    unique = list(dict.fromkeys(rows))
    return unique


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(ALL_MODELS), help="comma-separated, NAME or NAME@EPOCHS")
    parser.add_argument("--datasets", default="adult", help=f"comma-separated: {', '.join(DATASETS)}")
    parser.add_argument("--epochs", type=int, default=None, help="also run our ctgan/tvae at this many epochs")
    parser.add_argument("--peer-epochs", type=int, default=300, help="epochs of SDV CTGAN/TVAE (default 300)")
    parser.add_argument("--run-dir", type=Path, default=None, help="append to this run folder (default: a new one)")
    parser.add_argument("--report", type=Path, nargs="+", metavar="RUN_DIR", help="print the table of saved results")
    args = parser.parse_args()

    if args.report:
        print(render_table(read_results(args.report)))
        return
    for option in ("epochs", "peer_epochs"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise SystemExit(f"--{option.replace('_', '-')}: must be a positive integer, got {value}")
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = [d for d in names if d not in DATASETS]
    if unknown:
        raise SystemExit(f"--datasets: unknown {unknown}; choose from {', '.join(DATASETS)}")
    rows = parse_models(args.models, epochs=args.epochs, peer_epochs=args.peer_epochs)
    if any(r.name in PEERS for r in rows) and not PEERS_PYTHON.exists():
        print(
            "peers venv not installed (bash tests/bench/peers/setup_peers.sh): skipping "
            + ", ".join(r.label for r in rows if r.name in PEERS),
            file=sys.stderr,
        )
        rows = [r for r in rows if r.name not in PEERS]
    run_dir = args.run_dir or REPO / "bench-results" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    results_path = run_dir / "results.jsonl"
    print(f"run folder: {run_dir}", file=sys.stderr)

    for name in names:
        dataset = DATASETS[name]
        train, holdout = prepare_split(run_dir, dataset)
        done = read_results([run_dir]) if results_path.exists() else []
        if not any(r["dataset"] == name and r["model"] == "TRTR" for r in done):
            _append(results_path, trtr(run_dir, dataset, train, holdout))
        for row in rows:
            print(f"[{dt.datetime.now():%H:%M:%S}] {name}: {row.label} (load {os.getloadavg()[0]:.1f})", file=sys.stderr)
            result = bench_one(run_dir, dataset, row, train, holdout)
            _append(results_path, result)
            status = result.get("error") or (
                f"fit {_fmt(result.get('fit_s'), '.1f')} s, quality {_fmt(result.get('quality'), '.3f')}, "
                f"TSTR {_fmt(result.get('tstr'), '.3f')}, DCR {_fmt(result.get('dcr_share'), '.3f')}"
            )
            print(f"    {status}", file=sys.stderr)
    print(render_table(read_results([run_dir])))


def _append(path: Path, record: dict) -> None:
    with path.open("a") as sink:
        sink.write(json.dumps(record, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


if __name__ == "__main__":
    main()
