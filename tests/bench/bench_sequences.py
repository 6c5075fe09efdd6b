"""Sequence benchmark (issue 19): Doppel's sequence model beside MOSTLY AI's engine and SDV's PAR.

Run (from the repository root, in the project venv, after ``make peers``; ``make bench-sequences``
does the first):

    .venv/bin/python tests/bench/bench_sequences.py                          # nasdaq and beijing, every model
    .venv/bin/python tests/bench/bench_sequences.py --datasets nasdaq --models doppel,mostly
    .venv/bin/python tests/bench/bench_sequences.py --head-steps 500         # a quick run on short histories
    .venv/bin/python tests/bench/bench_sequences.py --reuse bench-results/sequences/RUN   # its finished fits kept
    .venv/bin/python tests/bench/bench_sequences.py --report bench-results/sequences/RUN       # print a run's table

Protocol (issue 19, "Targets"):
- Data: ``timeseries/nasdaq100_2019.csv.gz`` (entity ``Symbol``, time ``Date``, context ``MarketCap``,
  ``Sector``, ``Industry``) split by entity: ``engine.split_sequences(by="entity", holdout=0.2,
  seed=0)``; ``timeseries/beijing_air_quality_4stations.csv.gz`` (entity ``station``, time ``time``
  = the hour built from year/month/day/hour, which are then dropped with the row number ``No``; no
  context) split by time: the first 80 % of each station's history trains, the judge holds the rest
  (``by="time"``). Both read with ``engine.read``. ``--head-steps N`` keeps the first N steps of
  every history before the split, for every model alike (the JSON records it).
- Every model trains on the training part (sorted by entity and time) and generates as many
  histories as it holds. Doppel: ``engine.train_sequences(train, entity=, order_by=, context=,
  seed=0, max_training_time_s=cap)`` then ``model.sample(n_entities=n, seed=1)``, in this process.
  Peers: tests/bench/peers/run_sequences_peer.py under ``.venv-peers`` in a subprocess of its own
  that exchanges Parquet files only (Business Source License code never loads here):
  mostlyai-engine's sequential TabularARGN with the entity table as context (a flat model makes the
  synthetic contexts), and SDV 2.0's PARSynthesizer. On beijing both peers train on one-week
  segments (168 steps) and assemble each history from consecutive generated segments (see the
  runner's docstring: neither generates 28,000-step histories in one piece); PAR's generation is
  also capped by ``--par-max-steps`` steps per history (PAR generates about 50 steps a second here).
- Time caps per fit, stated in the table: Doppel's ``max_training_time_s`` and mostlyai-engine's
  ``max_training_time`` (per model it trains) both from ``--fit-cap-minutes``; PAR has no time
  limit, it trains ``--par-epochs`` epochs; every peer subprocess is killed after
  ``--peer-timeout-s`` (fit and generation together) and then counts as failed.
- The judge, the same for every model: ``engine.assess_sequences(real=train, synthetic=syn,
  entity=, order_by=, context=, holdout=holdout, seed=0)``: discriminative score and the holdout's
  ceiling, autocorrelation error, length KS similarity, predictive score (synthetic / real error of a
  next-step predictor tested on real histories; 1 = as useful as real) with the real error,
  cross-correlation error, coherence, DCR share and membership advantage, the report's status.
  Before judging, each synthetic table is cast to the training table's dtypes and sorted by (entity,
  time); the JSON records how many of its histories were generated with times out of order and its
  duplicated (entity, time) pairs.
- Timing: fit seconds and generated steps per second, with the 1-minute load average at the start
  and end of each fit; ``--throughput-steps`` (default 1,000,000): Doppel alone also generates that
  many steps of nasdaq-like histories and reports the seconds (the issue's target: under 30 s).
- ``--reuse RUN`` (repeatable): a (dataset, model) that an earlier run finished on the very same
  training table (its fingerprint in the JSON) is not fitted again: its synthetic table, timings and
  load averages are taken (the line says from which run) and judged again with the others, so the
  peers can run first and Doppel later, yet one folder holds every figure judged by the same code.
- One run folder ``OUT/<UTC time>/`` holds the data, the synthetic tables, ``results.jsonl`` (one
  JSON line per (dataset, model), every figure), ``run.json`` (load averages, versions, arguments)
  and ``results.md`` (the table); the line is also appended to ``OUT/results.jsonl``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.metadata
import json
import math
import os
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DATASETS_DIR = Path(os.environ.get("DOPPEL_DATASETS", REPO.parent / "shared" / "datasets"))
PEERS_PYTHON = REPO / ".venv-peers" / "bin" / "python"
PEER_SCRIPT = REPO / "tests" / "bench" / "peers" / "run_sequences_peer.py"
MODELS = ("doppel", "mostly", "par")
PEERS = ("mostly", "par")
SEED = 0
SAMPLE_SEED = 1
HOLDOUT = 0.2
EXTRA_KEYS = ("split", "head_steps", "train_digest", "rows_train", "rows_holdout", "entities_train",
              "entities_holdout", "cpus")
FIGURES = (
    "discriminative_score", "discriminative_ceiling", "discriminative_accuracy", "autocorrelation_error",
    "autocorrelation_holdout_error", "length_ks_similarity", "gap_ks_similarity", "predictive_score",
    "predictive_real", "predictive_synthetic", "cross_correlation_error", "cross_correlation_holdout_error",
    "coherence", "coherence_holdout", "dcr_share", "membership_advantage", "entity_exact_copies", "step_fidelity",
    "step_max_column_distance", "entity_fidelity", "entity_max_column_distance",
)


@dataclass(frozen=True)
class Dataset:
    """One benchmark dataset: where it lies, its roles and how it is split."""

    file: str
    entity: str
    order_by: str
    context: tuple[str, ...]
    split: str  # "entity" or "time" (engine.split_sequences' by=)
    segment_size: int | None  # the peers' segments for long histories


DATASETS = {
    "nasdaq": Dataset("timeseries/nasdaq100_2019.csv.gz", "Symbol", "Date", ("MarketCap", "Sector", "Industry"),
                      "entity", None),
    "beijing": Dataset("timeseries/beijing_air_quality_4stations.csv.gz", "station", "time", (), "time", 168),
}


def _loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def load_dataset(name: str, head_steps: int | None):
    """The long table of ``name``, sorted by (entity, time); beijing gets its hourly ``time`` column."""
    import engine
    import polars as pl

    spec = DATASETS[name]
    frame = engine.read(DATASETS_DIR / spec.file)
    if name == "beijing":
        frame = (frame.with_columns(time=pl.datetime("year", "month", "day", "hour"))
                 .drop("No", "year", "month", "day", "hour")
                 .select("station", "time", pl.exclude("station", "time")))
    frame = frame.sort(spec.entity, spec.order_by)
    if head_steps is not None:
        frame = frame.filter(pl.int_range(pl.len()).over(spec.entity) < head_steps)
    return frame


def _digest(frame) -> str:
    """A fingerprint of a training table: peers' output is reused only for the very same table."""
    return hashlib.sha256(frame.write_csv().encode()).hexdigest()[:16]


def _conformed(synthetic, like, entity: str, order_by: str) -> tuple[Any, dict]:
    """``synthetic`` with ``like``'s columns and dtypes, sorted by (entity, time); what the sort had to fix."""
    import polars as pl

    missing = [c for c in like.columns if c not in synthetic.columns]
    if missing:
        raise RuntimeError(f"the synthetic table lacks columns {missing}")
    casts = []
    for column, dtype in like.schema.items():
        values = pl.col(column)
        have = synthetic.schema[column]
        if dtype == pl.Date and have != pl.Date:
            values = values.cast(pl.Datetime("us"), strict=False).dt.date()
        elif isinstance(dtype, pl.Datetime) and isinstance(have, pl.Datetime):
            values = values.dt.cast_time_unit(dtype.time_unit)
        elif dtype.is_integer() and have.is_float():
            values = values.round(0)
        casts.append(values.cast(dtype, strict=False).alias(column))
    out = synthetic.select(casts)
    disorder = out.group_by(entity, maintain_order=True).agg(  # in the generated order, before the sort
        (pl.col(order_by) < pl.col(order_by).shift(1)).any().alias("unsorted"),
        (pl.col(order_by).n_unique() < pl.len()).alias("duplicated"),
    )
    lengths = out.group_by(entity).len().get_column("len")
    checks = {
        "entities": int(out.get_column(entity).n_unique()),
        "rows": out.height,
        "unsorted_histories": int(disorder.get_column("unsorted").sum()),
        "histories_with_duplicated_times": int(disorder.get_column("duplicated").sum()),
        "duplicated_entity_time_pairs": int(out.height - out.select(entity, order_by).n_unique()),
        "length_min": int(lengths.min()) if lengths.len() else 0,
        "length_max": int(lengths.max()) if lengths.len() else 0,
        "nulls_cast": int(out.null_count().sum_horizontal().item() - synthetic.null_count().sum_horizontal().item()),
    }
    return out.sort(entity, order_by, maintain_order=True), checks


def _fit_doppel(train, spec: Dataset, n: int, cap_s: float | None, throughput_steps: int) -> tuple[Any, dict]:
    import engine

    load_start = _loadavg()
    start = time.perf_counter()
    model = engine.train_sequences(train, entity=spec.entity, order_by=spec.order_by, context=list(spec.context),
                                   seed=SEED, max_training_time_s=cap_s)
    fit_s = time.perf_counter() - start
    load_end = _loadavg()
    start = time.perf_counter()
    synthetic = model.sample(n_entities=n, seed=SAMPLE_SEED)
    sample_s = time.perf_counter() - start
    info: dict[str, Any] = {
        "library": f"doppel {importlib.metadata.version('doppel')}", "fit_s": fit_s, "sample_s": sample_s,
        "load_fit_start": load_start, "load_fit_end": load_end, "fit_cap": f"max_training_time_s={cap_s:g}" if cap_s else "none",
        "notes": [str(x) for x in getattr(model, "notes_", [])],
    }
    if throughput_steps:
        mean_length = train.height / max(1, train.get_column(spec.entity).n_unique())
        many = max(1, math.ceil(throughput_steps / mean_length))
        load = _loadavg()
        start = time.perf_counter()
        big = model.sample(n_entities=many, seed=SAMPLE_SEED + 1)
        seconds = time.perf_counter() - start
        info["throughput"] = {"entities": many, "steps": big.height, "seconds": seconds,
                              "steps_per_s": big.height / seconds if seconds > 0 else None, "load_start": load}
        del big
    return synthetic, info


def _fit_peer(args, model: str, run: Path, dataset: str, spec: Dataset) -> tuple[Any, dict]:
    import polars as pl

    if not PEERS_PYTHON.exists():
        raise RuntimeError(f"{PEERS_PYTHON} is missing; run `make peers`")
    folder = run / "synthetic" / dataset
    folder.mkdir(parents=True, exist_ok=True)
    out, timing, log = folder / f"{model}.parquet", folder / f"{model}.json", folder / f"{model}.log"
    command = [str(PEERS_PYTHON), str(PEER_SCRIPT), "--model", model,
               "--train", str(run / "data" / dataset / "train.parquet"),
               "--spec", str(run / "data" / dataset / "spec.json"),
               "--out", str(out), "--timing", str(timing), "--seed", str(SEED)]
    if model == "mostly":
        command += ["--max-training-minutes", f"{args.fit_cap_minutes:g}"]
        cap = f"max_training_time={args.fit_cap_minutes:g} min per model"
    else:
        command += ["--epochs", str(args.par_epochs)]
        cap = f"{args.par_epochs} epochs"
    if spec.segment_size:
        command += ["--segment-size", str(spec.segment_size)]
        if model == "par" and args.par_max_steps:
            command += ["--max-steps-per-history", str(args.par_max_steps)]
    load_start = _loadavg()
    with log.open("w") as handle:
        try:
            done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, timeout=args.peer_timeout_s, cwd=REPO)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{model} ran past --peer-timeout-s {args.peer_timeout_s:g} s (log: {log})") from None
    load_end = _loadavg()
    if done.returncode != 0:
        text = log.read_text()
        errors = [x for x in text.splitlines() if "Error" in x or "Exception" in x]
        cause = errors[-1].strip() if errors else text[-300:]
        if done.returncode < 0:
            cause = f"killed by signal {-done.returncode} before it finished"
        raise RuntimeError(f"{model} exited {done.returncode}: {cause} (log: {log})")
    info = json.loads(timing.read_text())
    info.update(load_fit_start=load_start, load_fit_end=load_end,
                fit_cap=f"{cap}; subprocess killed after {args.peer_timeout_s:g} s")
    return pl.read_parquet(out), info


def _reusable(sources: list[Path], dataset: str, model: str, digest: str, *,
              failed: bool = False) -> tuple[Path, dict] | None:
    """The newest finished (or with ``failed``, failed) (dataset, model) line among earlier runs on the same training table."""
    found = None
    for source in sources:
        for text in (source / "results.jsonl").read_text().splitlines():
            line = json.loads(text) if text.strip() else {}
            if (line.get("dataset"), line.get("model"), line.get("train_digest")) == (dataset, model, digest) \
                    and (line.get("status") == "failed") == failed and "reused_from" not in line:
                if found is None or line["run"] > found[1]["run"]:
                    found = (source, line)
    return found


def _reused(found: tuple[Path, dict], run: Path, dataset: str, model: str) -> tuple[Any, dict]:
    """A model's synthetic table, timings and notes from an earlier run (fit and generation are not repeated)."""
    import polars as pl

    source, line = found
    folder = run / "synthetic" / dataset
    folder.mkdir(parents=True, exist_ok=True)
    for name in (f"{model}.parquet", f"{model}.json", f"{model}.log", f"{model}-judged.parquet"):
        if (source / "synthetic" / dataset / name).exists():
            shutil.copyfile(source / "synthetic" / dataset / name, folder / name)
    skip = {"run", "dataset", "model", "judge", "status", "error", "traceback", "loadavg_end", "generated", "steps_per_s"}
    info = {k: v for k, v in line.items() if k not in skip and k not in EXTRA_KEYS}
    info["reused_from"] = f"{source.name} (fit and generation ran then; judged again now)"
    table = folder / (f"{model}-judged.parquet" if model == "doppel" else f"{model}.parquet")
    return pl.read_parquet(table), info


def _judge(train, holdout, synthetic, spec: Dataset) -> dict:
    import engine

    start = time.perf_counter()
    report = engine.assess_sequences(real=train, synthetic=synthetic, entity=spec.entity, order_by=spec.order_by,
                                     context=list(spec.context), holdout=holdout, seed=SEED)
    scores = {name: _finite(report.scores.get(name)) for name in FIGURES}
    scores["gates"] = {g.name: {"status": g.status, "value": _finite(g.value)} for g in report.gates}
    scores["status"] = report.status
    scores["seconds"] = time.perf_counter() - start
    return scores


def run_one(args, run: Path, dataset: str, model: str, train, holdout, extra: dict) -> dict:
    """Fit, generate and judge one model on one dataset; a failure is recorded, not raised."""
    spec = DATASETS[dataset]
    n = int(train.get_column(spec.entity).n_unique())
    line: dict[str, Any] = {"run": run.name, "dataset": dataset, "model": model, **extra}
    try:
        found = _reusable(args.reuse, dataset, model, extra["train_digest"]) if args.reuse else None
        if found is None and args.reuse_only:
            failed = _reusable(args.reuse, dataset, model, extra["train_digest"], failed=True)
            error = failed[1].get("error", "?") if failed else "no fit of it in the reused runs"
            raise RuntimeError(f"not fitted in this run (--reuse-only); earlier: {error}")
        if found is not None:
            synthetic, info = _reused(found, run, dataset, model)
        elif model == "doppel":
            synthetic, info = _fit_doppel(train, spec, n, args.fit_cap_minutes * 60 if args.fit_cap_minutes else None,
                                          args.throughput_steps if dataset == "nasdaq" else 0)
        else:
            synthetic, info = _fit_peer(args, model, run, dataset, spec)
        synthetic, checks = _conformed(synthetic, train, spec.entity, spec.order_by)
        info["generated"] = checks
        info["steps_per_s"] = checks["rows"] / info["sample_s"] if info.get("sample_s") else None
        line.update(info)
        synthetic.write_parquet(run / "synthetic" / dataset / f"{model}-judged.parquet", mkdir=True)
    except Exception as error:  # a failing model is a result, not the end of the run
        line.update(status="failed", error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc()[-3000:])
        return line
    try:
        line["judge"] = _judge(train, holdout, synthetic, spec)
        line["status"] = "ok"
    except Exception as error:
        line.update(status="judge failed", error=f"{type(error).__name__}: {error}",
                    traceback=traceback.format_exc()[-3000:])
    return line


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def markdown(lines: list[dict]) -> str:
    """The results as one markdown table (a failed model shows its error)."""
    head = ("| dataset | model | disc. score | disc. ceiling (holdout) | autocorr. error | length KS sim. "
            "| predictive (syn/real err.) | predictive real err. | cross-corr. error | coherence | DCR share "
            "| fit s | fit cap | gen. steps/s | load fit start/end | status |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for line in lines:
        label = line["dataset"] + (f" (first {line['head_steps']:,} steps)" if line.get("head_steps") else "")
        if line.get("status") not in ("ok", "judge failed"):
            cause = line.get("error", "?").splitlines()[0][:200]
            rows.append(f"| {label} | {line['model']} | failed: {cause} |" + " |" * 13)
            continue
        j = line.get("judge", {})
        loads = f"{_fmt(line.get('load_fit_start'), 1)} / {_fmt(line.get('load_fit_end'), 1)}"
        status = j.get("status", line.get("error", "?")[:120])
        if line.get("reused_from"):
            status += f"; fit and output from run {line['reused_from'].split()[0]}"
        rows.append("| " + " | ".join([
            label, line["model"], _fmt(j.get("discriminative_score")), _fmt(j.get("discriminative_ceiling")),
            _fmt(j.get("autocorrelation_error")), _fmt(j.get("length_ks_similarity")), _fmt(j.get("predictive_score")),
            _fmt(j.get("predictive_real")), _fmt(j.get("cross_correlation_error")), _fmt(j.get("coherence")),
            _fmt(j.get("dcr_share")), _fmt(line.get("fit_s"), 1), str(line.get("fit_cap", "-")),
            _fmt(None if line.get("steps_per_s") is None else float(round(line["steps_per_s"])), 0), loads, status,
        ]) + " |")
    notes = []
    for line in lines:
        t = line.get("throughput")
        if t:
            notes.append(f"- {line['dataset']} / {line['model']}: generated {t['steps']:,} steps ({t['entities']:,} "
                         f"histories) in {t['seconds']:.1f} s ({t['steps_per_s']:,.0f} steps/s; load {t['load_start']:.1f}).")
        g = line.get("generated")
        if g and (g["unsorted_histories"] or g["duplicated_entity_time_pairs"]):
            notes.append(f"- {line['dataset']} / {line['model']}: {g['unsorted_histories']} of {g['entities']} histories "
                         f"generated with times out of order (sorted before judging); {g['duplicated_entity_time_pairs']:,} "
                         "duplicated (entity, time) pairs.")
        if line.get("segments_per_history"):
            notes.append(f"- {line['dataset']} / {line['model']}: trained on {line['segment_size']}-step segments; each "
                         f"history assembled from {line['segments_per_history']} generated segments.")
    return "\n".join(rows + ([""] + notes if notes else []) + targets(lines))


def targets(lines: list[dict]) -> list[str]:
    """Issue 19's goals, checked for Doppel on each dataset against the peers of the same run."""
    out = []
    for dataset in dict.fromkeys(line["dataset"] for line in lines):
        mine = {x["model"]: x for x in lines if x["dataset"] == dataset and x.get("status") == "ok"}
        if "doppel" not in mine:
            continue
        d, j = mine["doppel"], mine["doppel"]["judge"]
        peers = [mine[p] for p in PEERS if p in mine]

        def verdict(ok: bool | None) -> str:
            return "-" if ok is None else ("met" if ok else "NOT met")

        def below_peers(name: str) -> bool | None:
            mine_value = j.get(name)
            theirs = [p["judge"].get(name) for p in peers]
            if mine_value is None or not theirs or any(v is None for v in theirs):
                return None
            return all(mine_value < v for v in theirs)

        disc, ceiling = j.get("discriminative_score"), j.get("discriminative_ceiling")
        ks, pred = j.get("length_ks_similarity"), j.get("predictive_score")
        mostly_fit = mine["mostly"].get("fit_s") if "mostly" in mine else None
        t = d.get("throughput")
        checks = [
            (f"discriminative score below both peers ({', '.join(p['model'] for p in peers) or 'none ran'})",
             below_peers("discriminative_score") if len(peers) == len(PEERS) else None),
            ("discriminative score within 0.05 of the holdout's",
             None if disc is None or ceiling is None else disc - ceiling <= 0.05),
            ("autocorrelation error below both peers",
             below_peers("autocorrelation_error") if len(peers) == len(PEERS) else None),
            ("sequence-length KS similarity >= 0.95", None if ks is None else ks >= 0.95),
            ("predictive score within 10 % of train-real (synthetic / real error <= 1.1)",
             None if pred is None else pred <= 1.1),
            ("fit at most MOSTLY AI's time", None if mostly_fit is None or d.get("fit_s") is None
             else d["fit_s"] <= mostly_fit),
        ]
        if t:
            checks.append((f"1,000,000 steps generated in under 30 s (measured: {t['steps']:,} steps in "
                           f"{t['seconds']:.1f} s)", t["seconds"] * 1_000_000 / max(1, t["steps"]) < 30))
        out += ["", f"Targets on {dataset} (Doppel):"] + [f"- {text}: {verdict(ok)}" for text, ok in checks]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "sequences")
    parser.add_argument("--fit-cap-minutes", type=float, default=10.0,
                        help="Doppel's max_training_time_s and mostlyai-engine's max_training_time (per model)")
    parser.add_argument("--par-epochs", type=int, default=128, help="PAR's epochs (SDV's default)")
    parser.add_argument("--par-max-steps", type=int, default=2016,
                        help="beijing: PAR generates at most this many steps per history (0: the whole length)")
    parser.add_argument("--peer-timeout-s", type=float, default=3600.0, help="a peer subprocess running longer fails")
    parser.add_argument("--head-steps", type=int, default=None, help="keep the first N steps of every history")
    parser.add_argument("--throughput-steps", type=int, default=1_000_000,
                        help="Doppel on nasdaq: also time the generation of this many steps (0: skip)")
    parser.add_argument("--reuse", type=Path, action="append", default=[],
                        help="an earlier run folder (repeatable): a (dataset, model) it finished on the same training "
                             "table is not fitted again, its synthetic table and timings are taken and judged again")
    parser.add_argument("--reuse-only", action="store_true",
                        help="with --reuse: fit nothing; a (dataset, model) the reused runs did not finish is a failure")
    parser.add_argument("--report", type=Path, default=None, help="print the table of this run folder and stop")
    args = parser.parse_args()

    if args.report is not None:
        lines = [json.loads(x) for x in (args.report / "results.jsonl").read_text().splitlines() if x.strip()]
        print(markdown(lines))
        return
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = sorted(set(datasets) - set(DATASETS)) + sorted(set(models) - set(MODELS))
    if bad:
        raise SystemExit(f"unknown dataset(s)/model(s) {bad}; datasets: {sorted(DATASETS)}, models: {list(MODELS)}")
    if set(models) & set(PEERS) and not args.reuse and not PEERS_PYTHON.exists():
        raise SystemExit(f"{PEERS_PYTHON} is missing; run `make peers` (or leave the peers out with --models doppel)")
    for source in args.reuse:
        if not (source / "results.jsonl").exists():
            raise SystemExit(f"--reuse {source}: no results.jsonl there")
    import engine

    run = args.out / dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"loadavg_start": Path("/proc/loadavg").read_text().strip(), "cpus": os.cpu_count(),
                            "argv": sys.argv[1:], "doppel": importlib.metadata.version("doppel")}
    print(f"run folder {run}; /proc/loadavg at start: {meta['loadavg_start']}", flush=True)
    lines = []
    for dataset in datasets:
        spec = DATASETS[dataset]
        frame = load_dataset(dataset, args.head_steps)
        train, holdout = engine.split_sequences(frame, entity=spec.entity, order_by=spec.order_by, holdout=HOLDOUT,
                                                by=spec.split, seed=SEED)
        train, holdout = train.sort(spec.entity, spec.order_by), holdout.sort(spec.entity, spec.order_by)
        folder = run / "data" / dataset
        folder.mkdir(parents=True, exist_ok=True)
        train.write_parquet(folder / "train.parquet")
        n = int(train.get_column(spec.entity).n_unique())
        (folder / "spec.json").write_text(json.dumps({"entity": spec.entity, "order_by": spec.order_by,
                                                      "context": list(spec.context), "n_entities": n}))
        extra = {"split": spec.split, "head_steps": args.head_steps, "train_digest": _digest(train),  # EXTRA_KEYS
                 "rows_train": train.height, "rows_holdout": holdout.height, "entities_train": n,
                 "entities_holdout": int(holdout.get_column(spec.entity).n_unique()), "cpus": os.cpu_count()}
        for model in models:
            print(f"{dataset} / {model} ...", flush=True)
            line = run_one(args, run, dataset, model, train, holdout, extra)
            line["loadavg_end"] = Path("/proc/loadavg").read_text().strip()
            for path in (args.out / "results.jsonl", run / "results.jsonl"):
                with path.open("a") as handle:
                    handle.write(json.dumps(line, default=str) + "\n")
            lines.append(line)
            j = line.get("judge", {})
            print(f"  {line.get('status')}: fit {_fmt(line.get('fit_s'), 1)} s, disc {_fmt(j.get('discriminative_score'))}"
                  f" (ceiling {_fmt(j.get('discriminative_ceiling'))}), autocorr {_fmt(j.get('autocorrelation_error'))} "
                  f"{line.get('error', '')[:300]}", flush=True)
    meta["loadavg_end"] = Path("/proc/loadavg").read_text().strip()
    (run / "run.json").write_text(json.dumps(meta, indent=2))
    table = markdown(lines)
    (run / "results.md").write_text(
        f"# Sequence benchmark {run.name}\n\n/proc/loadavg at start: {meta['loadavg_start']}; at end: "
        f"{meta['loadavg_end']} ({meta['cpus']} CPUs)\n\n{table}\n")
    print(f"/proc/loadavg at start: {meta['loadavg_start']}; at end: {meta['loadavg_end']}")
    print(table)


if __name__ == "__main__":
    main()
