"""Schema benchmark (issue 18): Doppel's relational model beside SDV's HMA and MOSTLY AI's engine.

Run (from the repository root, in the project venv; ``make bench-tables`` does the first):

    .venv/bin/python tests/bench/bench_tables.py                                # berka and baseball, every model
    .venv/bin/python tests/bench/bench_tables.py --datasets berka --models doppel,hma,mostly
    .venv/bin/python tests/bench/bench_tables.py --datasets baseball --players 3000   # a seeded subsample
    .venv/bin/python tests/bench/bench_tables.py --report bench-results/tables  # print saved results

Protocol (issue 18):
- Data: multitable/berka (all seven tables) and multitable/baseball (players -> batting,
  players -> fielding), read with ``engine.read_tables``. ``--players N`` keeps a seeded sample of
  N players (seed 0) with all their batting and fielding rows, for every model alike (for when the
  peers are too slow on the full table; the JSON line records it).
- Split by root: ``engine.split_tables(tables, keys=KEYS, holdout=0.2, seed=0)``; every model
  trains on the 80 % and generates at scale 1.0; the judges compare with the 80 % and use the 20 %
  holdout for privacy.
- Doppel: ``engine.train_tables(train, keys=KEYS, seed=0)`` then ``model.sample(scale=1.0, seed=1)``,
  in this process. Peers: tests/bench/peers/run_tables_peer.py in ``.venv-peers`` (SDV 2.0
  ``HMASynthesizer``; mostlyai-engine with one context parent per child), in a subprocess that
  exchanges Parquet files only (Business Source License code never loads here).
- Judges, the same for every model: (a) ``engine.assess_tables(real=train, synthetic=syn,
  keys=KEYS, holdout=holdout)``: referential integrity (worst relation), cardinality shape
  similarity, the subtree TSTR gap and DCR share (worst parent table) and the schema gates;
  (b) SDMetrics 0.32's multi-table ``QualityReport`` in the judge venv
  (tests/judge/ensure_judge_venv.sh), run as this very file with ``--judge`` (that path imports
  pandas and sdmetrics modules only, without sdmetrics' package __init__ files, which would load
  ``copulas``): Column Shapes, Column Pair Trends, Cardinality, Intertable Trends and their mean.
- Timing: fit and sample wall seconds, child rows (rows of non-root tables) per second of
  sampling, with the 1-minute load average at the start and end of each fit (the machine is
  shared). Each (dataset, model) is one JSON line appended to ``OUT/results.jsonl``; the tables of a
  run lie under ``OUT/<run id>/``; a markdown table of the run is printed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import json
import math
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DATASETS_DIR = Path(os.environ.get("DOPPEL_DATASETS", REPO.parent / "shared" / "datasets"))
PEERS_PYTHON = REPO / ".venv-peers" / "bin" / "python"
JUDGE_PYTHON = REPO / ".venv-judge" / "bin" / "python"
PEER_SCRIPT = REPO / "tests" / "bench" / "peers" / "run_tables_peer.py"
MODELS = ("doppel", "hma", "mostly")
SEED = 0
SAMPLE_SEED = 1
HOLDOUT = 0.2

KEYS: dict[str, dict[str, Any]] = {
    "baseball": {
        "primary_keys": {"players": "id"},  # batting and fielding have no primary key
        "foreign_keys": ["batting.players_id -> players.id", "fielding.players_id -> players.id"],
    },
    "berka": {
        "primary_keys": {
            "district": "district_id", "account": "account_id", "client": "client_id", "disp": "disp_id",
            "card": "card_id", "loan": "loan_id", "order": "order_id",
        },
        # disp's account key first: MOSTLY AI's runner takes a child's first parent as its context
        "foreign_keys": [
            "account.district_id -> district.district_id",
            "client.district_id -> district.district_id",
            "disp.account_id -> account.account_id",
            "disp.client_id -> client.client_id",
            "card.disp_id -> disp.disp_id",
            "loan.account_id -> account.account_id",
            "order.account_id -> account.account_id",
        ],
    },
}
SDM_PROPERTIES = ("Column Shapes", "Column Pair Trends", "Cardinality", "Intertable Trends")


# ----------------------------------------------------------------------------- the judge (judge venv)


def _load_sdmetrics_quality_report() -> type:
    """SDMetrics' multi-table QualityReport, imported without the package __init__ files (no copulas)."""
    sys.path.insert(0, str(REPO / "tests" / "judge"))
    from sdmetrics_judge import empty_package

    for name in ("sdmetrics", "sdmetrics.reports", "sdmetrics.single_column", "sdmetrics.column_pairs",
                 "sdmetrics.multi_table", "sdmetrics.single_table"):
        empty_package(name)
    empty_package("sdmetrics.reports.single_table")
    single_props = empty_package("sdmetrics.reports.single_table._properties")
    empty_package("sdmetrics.reports.multi_table")
    multi_props = empty_package("sdmetrics.reports.multi_table._properties")
    sc = sys.modules["sdmetrics.single_column"]
    sc.KSComplement = importlib.import_module("sdmetrics.single_column.statistical.kscomplement").KSComplement
    sc.TVComplement = importlib.import_module("sdmetrics.single_column.statistical.tv_complement").TVComplement
    base = "sdmetrics.reports.single_table._properties."
    single_props.BaseSingleTableProperty = importlib.import_module(base + "base").BaseSingleTableProperty
    single_props.ColumnShapes = importlib.import_module(base + "column_shapes").ColumnShapes
    single_props.ColumnPairTrends = importlib.import_module(base + "column_pair_trends").ColumnPairTrends
    base = "sdmetrics.reports.multi_table._properties."
    multi_props.BaseMultiTableProperty = importlib.import_module(base + "base").BaseMultiTableProperty
    multi_props.ColumnShapes = importlib.import_module(base + "column_shapes").ColumnShapes
    multi_props.ColumnPairTrends = importlib.import_module(base + "column_pair_trends").ColumnPairTrends
    multi_props.Cardinality = importlib.import_module(base + "cardinality").Cardinality
    multi_props.InterTableTrends = importlib.import_module(base + "inter_table_trends").InterTableTrends
    report = importlib.import_module("sdmetrics.reports.multi_table.quality_report").QualityReport
    if "copulas" in sys.modules:
        raise SystemExit("copulas was imported; the judge must run without it")
    return report


def _read_pandas_tables(folder: str, names: list[str]):
    import pandas as pd

    frames = {}
    for name in names:
        frame = pd.read_parquet(Path(folder) / f"{name}.parquet")
        for column in frame.columns:  # pyarrow gives Date columns as objects of datetime.date
            if frame[column].dtype == object and frame[column].map(lambda v: v is None or hasattr(v, "toordinal")).all():
                if frame[column].notna().any():
                    frame[column] = pd.to_datetime(frame[column])
        frames[name] = frame
    return frames


def judge_main() -> None:
    """Read ``{"real": folder, "synthetic": folder, "metadata": {...}}`` on stdin; answer the properties on stdout."""
    import warnings

    job = json.load(sys.stdin)
    names = sorted(job["metadata"]["tables"])
    real = _read_pandas_tables(job["real"], names)
    synthetic = _read_pandas_tables(job["synthetic"], names)
    report_class = _load_sdmetrics_quality_report()
    start = time.perf_counter()
    report = report_class()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(real, synthetic, job["metadata"], verbose=False)
    scores = report.get_properties().set_index("Property")["Score"]
    answer = {name: float(scores[name]) for name in SDM_PROPERTIES if name in scores}
    answer["score"] = float(report.get_score())
    answer["seconds"] = time.perf_counter() - start
    answer["copulas_loaded"] = "copulas" in sys.modules
    json.dump(answer, sys.stdout)


# ----------------------------------------------------------------------------- the benchmark (project venv)


def _loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _load_dataset(name: str, players: int | None):
    import engine
    import polars as pl

    tables = engine.read_tables(DATASETS_DIR / "multitable" / name)
    if name == "baseball":
        tables = {t: tables[t] for t in ("players", "batting", "fielding")}
        if players is not None and players < tables["players"].height:
            kept = tables["players"].sample(n=players, seed=SEED)
            ids = kept["id"].implode()
            tables = {
                "players": kept,
                "batting": tables["batting"].filter(pl.col("players_id").is_in(ids)),
                "fielding": tables["fielding"].filter(pl.col("players_id").is_in(ids)),
            }
    return tables


def _child_tables(keys: dict) -> set[str]:
    return {fk.split("->")[0].strip().split(".")[0] for fk in keys["foreign_keys"]}


def _write_tables(tables: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.write_parquet(folder / f"{name}.parquet")


def _read_synthetic(folder: Path, like: dict) -> dict:
    """The peer's tables with the real tables' columns and dtypes (Datetime -> Date, floats -> ints)."""
    import polars as pl

    out = {}
    for name, real in like.items():
        frame = pl.read_parquet(folder / f"{name}.parquet")
        missing = [c for c in real.columns if c not in frame.columns]
        if missing:
            raise RuntimeError(f"synthetic {name} lacks columns {missing}")
        casts = []
        for column, dtype in real.schema.items():
            values = pl.col(column)
            if dtype == pl.Date and frame.schema[column] != pl.Date:
                values = values.cast(pl.Datetime("us"), strict=False).dt.date()
            if dtype.is_integer() and frame.schema[column].is_float():
                values = values.round(0)
            casts.append(values.cast(dtype, strict=False).alias(column))
        out[name] = frame.select(casts)
    return out


def _fit_doppel(train: dict, keys: dict, max_training_time_s: float | None) -> tuple[dict, dict]:
    import engine

    load_start = _loadavg()
    start = time.perf_counter()
    model = engine.train_tables(train, keys=keys, seed=SEED, max_training_time_s=max_training_time_s)
    fit_s = time.perf_counter() - start
    load_end = _loadavg()
    start = time.perf_counter()
    synthetic = model.sample(scale=1.0, seed=SAMPLE_SEED)
    sample_s = time.perf_counter() - start
    return synthetic, {"library": f"doppel {importlib.metadata.version('doppel')}", "fit_s": fit_s, "sample_s": sample_s,
                       "load_fit_start": load_start, "load_fit_end": load_end,
                       "max_training_time_s": max_training_time_s}


def _fit_peer(model: str, run: Path, dataset: str, train: dict, timeout_s: float,
              mostly_minutes: float | None) -> tuple[dict, dict]:
    if not PEERS_PYTHON.exists():
        raise RuntimeError(f"{PEERS_PYTHON} is missing; run `make peers`")
    out = run / "synthetic" / dataset / model
    timing = run / "synthetic" / dataset / f"{model}.json"
    log = run / "synthetic" / dataset / f"{model}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [str(PEERS_PYTHON), str(PEER_SCRIPT), "--model", model, "--train", str(run / "data" / dataset / "train"),
               "--keys", str(run / "data" / dataset / "keys.json"), "--out", str(out), "--timing", str(timing),
               "--seed", str(SEED)]
    if model == "mostly" and mostly_minutes:
        command += ["--max-training-minutes", str(mostly_minutes)]
    load_start = _loadavg()
    with log.open("w") as handle:
        try:
            done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout_s, cwd=REPO)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{model} ran past --peer-timeout-s {timeout_s:g} s (log: {log})") from None
    load_end = _loadavg()
    if done.returncode != 0:
        text = log.read_text()
        errors = [x for x in text.splitlines() if "Error:" in x or "Exception:" in x]
        cause = errors[-1].strip() if errors else text[-300:]
        raise RuntimeError(f"{model} exited {done.returncode}: {cause} (log: {log})")
    info = json.loads(timing.read_text())
    info.update(load_fit_start=load_start, load_fit_end=load_end)
    return _read_synthetic(out, train), info


def _sdm_metadata(train: dict, keys: dict) -> dict:
    import polars as pl

    primary = keys["primary_keys"]
    relations = [fk.split("->") for fk in keys["foreign_keys"]]
    fks = {tuple(left.strip().split(".")) for left, _ in relations}
    tables = {}
    for name, frame in train.items():
        columns = {}
        for column, dtype in frame.schema.items():
            if primary.get(name) == column or (name, column) in fks:
                columns[column] = {"sdtype": "id"}
            elif dtype == pl.Boolean:
                columns[column] = {"sdtype": "boolean"}
            elif dtype.is_numeric():
                columns[column] = {"sdtype": "numerical"}
            elif dtype.is_temporal():
                columns[column] = {"sdtype": "datetime"}
            else:
                columns[column] = {"sdtype": "categorical"}
        tables[name] = {"columns": columns, **({"primary_key": primary[name]} if primary.get(name) else {})}
    rels = []
    for left, right in relations:
        child, column = left.strip().split(".")
        parent, parent_column = right.strip().split(".")
        rels.append({"parent_table_name": parent, "parent_primary_key": parent_column,
                     "child_table_name": child, "child_foreign_key": column})
    return {"tables": tables, "relationships": rels}


def _sdmetrics(run: Path, dataset: str, model: str, synthetic: dict, keys: dict, train: dict) -> dict:
    folder = run / "synthetic" / dataset / f"{model}-judged"
    _write_tables(synthetic, folder)
    job = {"real": str(run / "data" / dataset / "train"), "synthetic": str(folder),
           "metadata": _sdm_metadata(train, keys)}
    done = subprocess.run([str(JUDGE_PYTHON), str(Path(__file__).resolve()), "--judge"], input=json.dumps(job),
                          capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"SDMetrics judge failed: {done.stderr[-1500:]}")
    return json.loads(done.stdout)


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _engine_judge(train: dict, holdout: dict, synthetic: dict, keys: dict) -> dict:
    import engine

    start = time.perf_counter()
    report = engine.assess_tables(real=train, synthetic=synthetic, keys=keys, holdout=holdout)
    ri = report.cross["referential_integrity"]
    subtrees = {parent: {"tstr": _finite(v.get("tstr")), "trtr": _finite(v.get("trtr")),
                         "tstr_gap": _finite(v.get("tstr_gap")), "dcr_share": _finite(v.get("dcr_share")),
                         "target": v.get("target"), "mia_advantage": _finite(v.get("mia_advantage"))}
                for parent, v in report.subtrees.items()}
    gaps = [s["tstr_gap"] for s in subtrees.values() if s["tstr_gap"] is not None]
    dcrs = [s["dcr_share"] for s in subtrees.values() if s["dcr_share"] is not None]
    return {
        "referential_integrity": {k: _finite(v) for k, v in ri.items()},
        "ri_min": min((v for v in ri.values() if math.isfinite(v)), default=None),
        "cardinality_shape_similarity": _finite(report.cross["cardinality_shape_similarity"]),
        "intertable_trends": _finite(report.cross["intertable_trends"]["score"]),
        "child_aggregates": _finite(report.cross["child_aggregates"]["score"]),
        "subtrees": subtrees,
        "tstr_gap_worst": max(gaps) if gaps else None,
        "dcr_share_worst": max(dcrs) if dcrs else None,
        "gates": {g.name: {"status": g.status, "value": _finite(g.value)} for g in report.gates},
        "status": report.status,
        "table_status": {name: r.status for name, r in report.tables.items()},
        "seconds": time.perf_counter() - start,
    }


def _run_one(args, run: Path, dataset: str, model: str, train: dict, holdout: dict, keys: dict, extra: dict) -> dict:
    line: dict[str, Any] = {"run": run.name, "dataset": dataset, "model": model, **extra,
                            "rows_train": {k: v.height for k, v in train.items()},
                            "rows_holdout": {k: v.height for k, v in holdout.items()}}
    try:
        if model == "doppel":
            synthetic, info = _fit_doppel(train, keys, args.max_training_time_s)
        else:
            synthetic, info = _fit_peer(model, run, dataset, train, args.peer_timeout_s, args.mostly_max_training_minutes)
        children = _child_tables(keys)
        child_rows = sum(f.height for n, f in synthetic.items() if n in children)
        info["rows"] = {k: v.height for k, v in synthetic.items()}
        info["child_rows_per_s"] = child_rows / info["sample_s"] if info["sample_s"] > 0 else None
        line.update(info)
    except Exception as error:  # a failing model is a result, not the end of the run
        line.update(status="failed", error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc()[-3000:])
        return line
    for judge, call in (("engine", lambda: _engine_judge(train, holdout, synthetic, keys)),
                        ("sdmetrics", lambda: _sdmetrics(run, dataset, model, synthetic, keys, train))):
        try:
            line[judge] = call()
        except Exception as error:
            line[judge] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()[-3000:]}
    sdm = line["sdmetrics"]
    props = [sdm.get(p) for p in SDM_PROPERTIES]
    sdm["mean"] = sum(props) / len(props) if props and all(isinstance(p, float) for p in props) else None
    line["status"] = "ok"
    return line


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def _label(line: dict) -> str:
    return f"{line['dataset']} ({line['players']:,} players)" if line.get("players") else line["dataset"]


def markdown(lines: list[dict]) -> str:
    """The results as one markdown table (a failed model shows its error)."""
    head = ("| dataset | model | fit s | sample s | child rows/s | RI min | card. shape | SDM quality | shapes "
            "| pair trends | cardinality | intertable | TSTR gap (worst) | DCR share (worst) | engine status |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for line in lines:
        if line.get("status") != "ok":
            causes = [x.strip() for x in line.get("error", "?").splitlines() if "Error:" in x] or ["?"]
            rows.append(f"| {_label(line)} | {line['model']} | failed: {causes[-1][:160]} |" + " |" * 13)
            continue
        e, s = line.get("engine", {}), line.get("sdmetrics", {})
        rows.append("| " + " | ".join([
            _label(line), line["model"], _fmt(line.get("fit_s"), 1), _fmt(line.get("sample_s"), 2),
            _fmt(None if line.get("child_rows_per_s") is None else float(round(line["child_rows_per_s"])), 0), _fmt(e.get("ri_min")), _fmt(e.get("cardinality_shape_similarity")),
            _fmt(s.get("mean")), _fmt(s.get("Column Shapes")), _fmt(s.get("Column Pair Trends")),
            _fmt(s.get("Cardinality")), _fmt(s.get("Intertable Trends")), _fmt(e.get("tstr_gap_worst")),
            _fmt(e.get("dcr_share_worst")), _fmt(e.get("status")),
        ]) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="berka,baseball")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "tables")
    parser.add_argument("--max-training-time-s", type=float, default=None, help="passed to engine.train_tables")
    parser.add_argument("--players", type=int, default=None,
                        help="baseball: keep a seeded sample of N players with all their rows (every model)")
    parser.add_argument("--peer-timeout-s", type=float, default=3600.0, help="a peer running longer is a failure")
    parser.add_argument("--mostly-max-training-minutes", type=float, default=None,
                        help="MOSTLY AI's max_training_time per table (default: its own, 14,400 min)")
    parser.add_argument("--report", type=Path, default=None, help="print the results.jsonl in this folder and stop")
    args = parser.parse_args()

    if args.report is not None:
        lines = [json.loads(x) for x in (args.report / "results.jsonl").read_text().splitlines() if x.strip()]
        print(markdown(lines))
        return
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = sorted(set(datasets) - set(KEYS)) + sorted(set(models) - set(MODELS))
    if bad:
        raise SystemExit(f"unknown dataset(s)/model(s) {bad}; datasets: {sorted(KEYS)}, models: {list(MODELS)}")
    if not JUDGE_PYTHON.exists():
        raise SystemExit(f"{JUDGE_PYTHON} is missing; run `bash tests/judge/ensure_judge_venv.sh`")
    import engine

    run = args.out / dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run.mkdir(parents=True, exist_ok=True)
    run_load = {"loadavg_start": Path("/proc/loadavg").read_text().strip()}
    print(f"run folder {run}; /proc/loadavg at start: {run_load['loadavg_start']}", flush=True)
    lines = []
    for dataset in datasets:
        keys = KEYS[dataset]
        tables = _load_dataset(dataset, args.players)
        split = engine.split_tables(tables, keys=keys, holdout=HOLDOUT, seed=SEED)
        train, holdout = split.training, split.holdout
        _write_tables(train, run / "data" / dataset / "train")
        (run / "data" / dataset / "keys.json").write_text(json.dumps(keys))
        extra = {"players": args.players if dataset == "baseball" else None, "split_dropped": dict(split.dropped),
                 "cpus": os.cpu_count()}
        for model in models:
            print(f"{dataset} / {model} ...", flush=True)
            line = _run_one(args, run, dataset, model, train, holdout, keys, extra)
            line["loadavg_end"] = Path("/proc/loadavg").read_text().strip()
            for path in (args.out / "results.jsonl", run / "results.jsonl"):
                with path.open("a") as handle:
                    handle.write(json.dumps(line, default=str) + "\n")
            lines.append(line)
            print(f"  {line.get('status')}: fit {_fmt(line.get('fit_s'), 1)} s, "
                  f"{line.get('error', '')[:300]}", flush=True)
    print(f"/proc/loadavg at start: {run_load['loadavg_start']}; at end: {Path('/proc/loadavg').read_text().strip()}")
    print(markdown(lines))


if __name__ == "__main__":
    if "--judge" in sys.argv[1:]:
        judge_main()
    else:
        main()
