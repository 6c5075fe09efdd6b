"""Quality under differential privacy: every DP-capable model at several epsilons, one protocol.

Run (from the repository root, in the project venv):

    .venv/bin/python tests/bench/bench_dp_quality.py                          # mst, argn, tvae, ctgan at eps 1 and 10
    .venv/bin/python tests/bench/bench_dp_quality.py --models mst,tvae --epsilons 1,3,10 --baseline
    .venv/bin/python tests/bench/bench_dp_quality.py --rows 1500 --epochs 1   # a smoke run on a small sample
    .venv/bin/python tests/bench/bench_dp_quality.py --report bench-results/RUN

The protocol is the models issue's (``tests/bench/bench_quality.py``): adult read with
``skipinitialspace``, 80/20 split stratified on ``income`` (``random_state=0``), and the same
judge, imported from there: SDMetrics 0.32 ``QualityReport`` against the training part, TSTR AUC
of ``>50K`` (HistGradientBoosting on the synthetic rows, scored on the real 20%), DCR share.

Each row is ``engine.train(train, model=NAME, privacy=engine.Privacy(epsilon=EPS, delta=DELTA),
seed=0)`` with the model's DP defaults (``--epochs`` / ``--batch-size`` override them for the
DP-SGD models), then ``model.sample(len(train), seed=0)``. Nothing about the data is declared
public: value ranges, bins and category lists are estimated privately within the budget.
The result line records the epsilon the accountant reports as spent, the accountant, DP-SGD's
noise multiplier, steps and sample rate. ``--baseline`` adds each model without privacy
(``bench_quality``'s own row), for the "within 0.05 of non-DP at epsilon 10" comparison.

``--rows N`` draws N training rows (stratified, seeded) and 1/4 as many holdout rows: a quick
check that the pipeline works, not a measurement. Delta defaults to 1e-5 (lowered to 0.1/rows
for small samples, since delta must stay below 1/rows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import traceback
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_quality import (  # noqa: E402  (the models issue's judge, reused as is)
    DATASETS,
    REPO,
    SEED,
    ModelRow,
    _append,
    _fmt,
    judge,
    prepare_split,
    read_results,
    run_ours,
    trtr,
)

DP_MODELS = ("mst", "argn", "tvae", "ctgan", "diffusion")
DEFAULT_EPSILONS = (1.0, 10.0)


def _label(model: str, epsilon: float | None) -> str:
    return model if epsilon is None else f"{model}@eps{epsilon:g}"


def _sample_split(train: pd.DataFrame, holdout: pd.DataFrame, rows: int, target: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    def take(frame: pd.DataFrame, n: int) -> pd.DataFrame:
        if n >= len(frame):
            return frame
        part, _ = train_test_split(frame, train_size=n, stratify=frame[target], random_state=SEED)
        return part.reset_index(drop=True)

    return take(train, rows), take(holdout, max(200, rows // 4))


def run_private(model: str, epsilon: float, delta: float, train: pd.DataFrame, out: Path, overrides: dict) -> dict:
    """Train with privacy, sample as many rows as the training part, write them; the timings and spend."""
    import polars as pl

    import engine

    frame = pl.from_pandas(train)
    params = {k: v for k, v in overrides.items() if v is not None and model != "mst"}
    started = time.perf_counter()
    fitted = engine.train(frame, model=model, privacy=engine.Privacy(epsilon=epsilon, delta=delta), seed=SEED, **params)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    synthetic = fitted.sample(len(train), seed=SEED)
    sample_s = time.perf_counter() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    synthetic.write_parquet(out)
    report = fitted.privacy_report_
    return {
        "fit_s": fit_s,
        "sample_s": sample_s,
        "epochs_run": fitted.metrics_.get("epochs_run"),
        "epsilon_spent": report["epsilon"],
        "delta": report["delta"],
        "accountant": report["accountant"],
        "noise_multiplier": report["noise_multiplier"],
        "steps": report["steps"],
        "sample_rate": report["sample_rate"],
        "mechanisms": [
            {k: m.get(k) for k in ("name", "budget_share", "epsilon_alone", "noise_multiplier") if k in m} for m in report["mechanisms"]
        ],
    }


def bench_private(run_dir: Path, dataset, model: str, epsilon: float, delta: float, train: pd.DataFrame, holdout: pd.DataFrame, overrides: dict) -> dict:
    label = _label(model, epsilon)
    result: dict = {
        "run": run_dir.name,
        "dataset": dataset.name,
        "model": label,
        "base_model": model,
        "epsilon": epsilon,
        "library": "Doppel",
        "train_rows": len(train),
        "cores": os.cpu_count(),
        "at": dt.datetime.now().isoformat(timespec="seconds"),
        "load_at_fit_start": os.getloadavg()[0],
    }
    out = run_dir / "synthetic" / dataset.name / f"{label}.parquet"
    try:
        result.update(run_private(model, epsilon, delta, train, out, overrides))
        result["load_at_fit_end"] = os.getloadavg()[0]
        synthetic = pd.read_parquet(out)
        result["rows"] = len(synthetic)
        result.update(judge(train, holdout, synthetic, dataset, run_dir / "scratch" / f"{dataset.name}-{label}"))
    except Exception as err:  # one model's failure must not lose the others' rows
        result["error"] = f"{type(err).__name__}: {err}"
        result["traceback"] = traceback.format_exc()[-4000:]
    return result


def bench_plain(run_dir: Path, dataset, model: str, train: pd.DataFrame, holdout: pd.DataFrame, epochs: int | None) -> dict:
    """The same model without privacy (``bench_quality.run_ours``), on the same training rows."""
    result: dict = {"run": run_dir.name, "dataset": dataset.name, "model": f"{model} (no DP)", "base_model": model,
                    "library": "Doppel", "train_rows": len(train), "at": dt.datetime.now().isoformat(timespec="seconds")}
    folder = run_dir / "synthetic" / dataset.name
    train_path = run_dir / "data" / dataset.name / f"train-{len(train)}.parquet"
    out, timing = folder / f"{model}-nodp.parquet", folder / f"{model}-nodp.json"
    try:
        train_path.parent.mkdir(parents=True, exist_ok=True)
        train.to_parquet(train_path, index=False)
        run_ours(ModelRow(model, epochs if model in ("ctgan", "tvae") else None), train_path, len(train), out, timing)
        result.update({k: v for k, v in json.loads(timing.read_text()).items() if k in ("fit_s", "sample_s", "epochs_run")})
        result.update(judge(train, holdout, pd.read_parquet(out), dataset, run_dir / "scratch" / f"{dataset.name}-{model}-nodp"))
    except Exception as err:
        result["error"] = f"{type(err).__name__}: {err}"
        result["traceback"] = traceback.format_exc()[-4000:]
    return result


def render_dp_table(results: list[dict]) -> str:
    """One markdown table per dataset: DP rows by model and epsilon, non-DP baselines beside them."""
    latest: dict[tuple[str, str], dict] = {}
    for r in results:
        latest[(r["dataset"], r["model"])] = r
    lines = []
    for name in sorted({d for d, _ in latest}):
        rows = [r for (d, _), r in latest.items() if d == name and r["model"] != "TRTR"]
        baseline = {r["base_model"]: r for r in rows if "epsilon" not in r and "base_model" in r}
        rows.sort(key=lambda r: (r.get("base_model", r["model"].split("@")[0]), r.get("epsilon") or float("inf")))
        lines += [
            f"### {name} under differential privacy",
            "",
            "| model | epsilon target | epsilon spent | delta | accountant | DP-SGD sigma / steps / q | fit wall s "
            "| SDMetrics quality | vs non-DP | column shapes | pair trends | TSTR AUC | DCR share |",
            "|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            if r.get("error"):
                lines.append(f"| {r['model']} | {_fmt(r.get('epsilon'), 'g')} | error: {r['error'].splitlines()[0][:100]} |||||||||||")
                continue
            base = baseline.get(r.get("base_model", "")) if "epsilon" in r else None
            delta_q = r.get("quality") - base["quality"] if base and r.get("quality") is not None and base.get("quality") is not None else None
            sgd = (
                f"{_fmt(r.get('noise_multiplier'), '.2f')} / {r.get('steps')} / {_fmt(r.get('sample_rate'), '.4f')}"
                if r.get("noise_multiplier")
                else "-"
            )
            lines.append(
                f"| {r['model'] if 'epsilon' not in r else r['base_model']} | {_fmt(r.get('epsilon'), 'g')} "
                f"| {_fmt(r.get('epsilon_spent'), '.3f')} | {_fmt(r.get('delta'), '.1e')} | {r.get('accountant', '-')} | {sgd} "
                f"| {_fmt(r.get('fit_s'), '.1f')} | {_fmt(r.get('quality'), '.3f')} | {_fmt(delta_q, '+.3f')} "
                f"| {_fmt(r.get('column_shapes'), '.3f')} | {_fmt(r.get('pair_trends'), '.3f')} | {_fmt(r.get('tstr'), '.3f')} "
                f"| {_fmt(r.get('dcr_share'), '.3f')} |"
            )
        base = latest.get((name, "TRTR"))
        if base:
            lines += ["", f"Train-real-test-real AUC: {base['trtr']:.3f} ({base['train_rows']:,} training rows)."]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(DP_MODELS), help=f"comma-separated, from {', '.join(DP_MODELS)}")
    parser.add_argument("--epsilons", default=",".join(f"{e:g}" for e in DEFAULT_EPSILONS), help="comma-separated targets")
    parser.add_argument("--delta", type=float, default=1e-5)
    parser.add_argument("--dataset", default="adult", choices=sorted(DATASETS))
    parser.add_argument("--rows", type=int, default=None, help="train on a stratified sample of this many rows (smoke run)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the DP-SGD models (default: their DP default)")
    parser.add_argument("--batch-size", type=int, default=None, help="expected Poisson batch of the DP-SGD models")
    parser.add_argument("--baseline", action="store_true", help="also run each model without privacy (bench_quality's row)")
    parser.add_argument("--run-dir", type=Path, default=None, help="append to this run folder (default: a new one)")
    parser.add_argument("--report", type=Path, nargs="+", metavar="RUN_DIR", help="print the table of saved results")
    args = parser.parse_args()
    if args.report:
        print(render_dp_table(read_results(args.report)))
        return
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in DP_MODELS]
    if unknown:
        raise SystemExit(f"--models: unknown {unknown}; choose from {', '.join(DP_MODELS)}")
    try:
        epsilons = [float(e) for e in args.epsilons.split(",") if e.strip()]
    except ValueError:
        raise SystemExit(f"--epsilons: comma-separated numbers, got {args.epsilons!r}") from None
    dataset = DATASETS[args.dataset]
    run_dir = args.run_dir or REPO / "bench-results" / f"dp-{dt.datetime.now():%Y%m%d-%H%M%S}"
    run_dir.mkdir(parents=True, exist_ok=True)
    results_path = run_dir / "results.jsonl"
    print(f"run folder: {run_dir}", file=sys.stderr)
    train, holdout = prepare_split(run_dir, dataset)
    if args.rows:
        train, holdout = _sample_split(train, holdout, args.rows, dataset.target)
    delta = min(args.delta, 0.1 / len(train))
    done = read_results([run_dir]) if results_path.exists() else []
    if not any(r["model"] == "TRTR" and r.get("train_rows") == len(train) for r in done):
        _append(results_path, trtr(run_dir, dataset, train, holdout))
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size}
    for model in models:
        if args.baseline:
            print(f"[{dt.datetime.now():%H:%M:%S}] {model} without privacy", file=sys.stderr)
            _append(results_path, bench_plain(run_dir, dataset, model, train, holdout, args.epochs))
        for epsilon in epsilons:
            print(f"[{dt.datetime.now():%H:%M:%S}] {model} at epsilon {epsilon:g} (load {os.getloadavg()[0]:.1f})", file=sys.stderr)
            result = bench_private(run_dir, dataset, model, epsilon, delta, train, holdout, overrides)
            _append(results_path, result)
            status = result.get("error") or (
                f"spent {_fmt(result.get('epsilon_spent'), '.3f')}, fit {_fmt(result.get('fit_s'), '.1f')} s, "
                f"quality {_fmt(result.get('quality'), '.3f')}, TSTR {_fmt(result.get('tstr'), '.3f')}, DCR {_fmt(result.get('dcr_share'), '.3f')}"
            )
            print(f"    {status}", file=sys.stderr)
    print(render_dp_table(read_results([run_dir])))


if __name__ == "__main__":
    main()
