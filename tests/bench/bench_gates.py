"""Gate calibration bench (issue 22): how often each quality gate is right on known cases.

Run (from the repository root, in the project venv):

    .venv/bin/python tests/bench/bench_gates.py                                  # everything
    .venv/bin/python tests/bench/bench_gates.py --datasets adult,mushroom --sizes 1000,5000
    .venv/bin/python tests/bench/bench_gates.py --cases unseen,copy --out bench-results/gates.jsonl
    .venv/bin/python tests/bench/bench_gates.py --report bench-results/gates.jsonl   # table of a saved run

Protocol: for every dataset and training size, ``tests.calibration.cases.split`` draws seeded
disjoint training rows, a holdout of 20 % of the training size (what the platform sets aside)
and unseen real rows (as many as the training rows, or what the dataset has left, at least
1,000; a size a dataset cannot supply is skipped and listed). Every case of
``tests.calibration.cases`` builds a synthetic table of the unseen rows' size, and
``engine.assess(real=train, synthetic=case, holdout=holdout, target=<dataset target>, seed)``
judges it with the default gates. Each gate's status is scored against the case's expectation
(``cases.EXPECTED``): right / false pass / false block / false warn / inconclusive / skipped;
gates a case makes no claim about are recorded, not scored.

Printed: the confusion table per gate, over all gate verdicts, and for the report's overall
verdict (some gate blocks or none), with the false pass rate (false passes over the verdicts
expected to fail) and the false block rate (false blocks over the verdicts expected not to
block), each with its counts; then every wrong verdict. ``--out`` writes one JSON line per
verdict (claimed or not). The model cases (DP at epsilon 1; ARGN trained 300 epochs on 1,000
rows, run at that size only) keep their sampled output in ``--cache`` (default
``bench-results/gates-cache``), so a rerun skips training.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.calibration import cases as C  # noqa: E402

DEFAULT_SIZES = (1_000, 5_000, 25_000)
SHOULD_FAIL = (C.BLOCK, C.WARN)
SHOULD_NOT_BLOCK = (C.PASS, C.NOT_BLOCK, C.WARN)


def _csv(text: str, allowed: tuple[str, ...] | None, what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if allowed is not None:
        unknown = [t for t in items if t not in allowed]
        if unknown:
            raise SystemExit(f"unknown {what} {unknown}; allowed: {', '.join(allowed)}")
    return items


def run(datasets: list[str], sizes: list[int], case_names: list[str], seed: int, cache: Path,
        out: Path | None) -> tuple[list[dict], list[str]]:
    """Assess every case on every dataset and size; the verdict records and the skipped sizes."""
    import engine

    records: list[dict] = []
    skipped: list[str] = []
    sink = out.open("a") if out is not None else None
    try:
        for name in datasets:
            for n in sizes:
                rows = C.supplied_rows(name, n)
                if rows is None:
                    skipped.append(f"{name} at {n:,} training rows: the dataset has {C.load(name).height:,} rows, "
                                   f"fewer than {n:,} + {int(n * C.HOLDOUT_SHARE):,} holdout + "
                                   f"{C.MIN_UNSEEN_ROWS:,} unseen")
                    print(f"skip {name} n={n:,}: {skipped[-1]}", flush=True)
                    continue
                s = C.split(name, n, seed)
                for case in case_names:
                    why = C.not_applicable(case, s)
                    if why is not None:
                        skipped.append(f"{case} on {name} at {n:,} training rows: {why}")
                        continue
                    t0 = time.perf_counter()
                    synthetic = C.build(case, s, seed=seed, cache=cache)
                    built = time.perf_counter() - t0
                    report = engine.assess(real=s.train, synthetic=synthetic, holdout=s.holdout, target=s.target,
                                           seed=seed)
                    assessed = time.perf_counter() - t0 - built
                    gates = {g.name: g for g in report.gates}
                    line = []
                    for v in C.verdicts(report, case, s.rows / n):
                        g = gates.get(v["gate"])
                        record = {"dataset": name, "train_rows": n, "holdout_rows": s.holdout.height,
                                  "synthetic_rows": s.rows, "case": case, "seed": seed, **v,
                                  "value": None if g is None else g.value,
                                  "threshold": None if g is None else g.threshold,
                                  "build_s": round(built, 2), "assess_s": round(assessed, 2)}
                        records.append(record)
                        if sink is not None:
                            sink.write(json.dumps(record) + "\n")
                        mark = {"right": "", None: "", "inconclusive": "?"}.get(v["outcome"], "!")
                        line.append(f"{v['gate'][:12]}={v['status']}{mark}")
                    if sink is not None:
                        sink.flush()
                    print(f"{name:10s} n={n:<6,} {case:17s} {built:6.1f}s+{assessed:5.1f}s  " + " ".join(line),
                          flush=True)
    finally:
        if sink is not None:
            sink.close()
    return records, skipped


def rejudged(record: dict) -> dict:
    """A saved verdict scored against today's ``cases.EXPECTED`` (expectations may have changed since)."""
    claim = C.expectation(record["case"], record["gate"], record["synthetic_rows"] / record["train_rows"])
    return dict(record, expected=claim[0] if claim else None,
                outcome=C.judge(claim[0], record["status"]) if claim else None)


def _rate(numerator: int, denominator: int) -> str:
    if denominator == 0:
        return "-"
    return f"{100 * numerator / denominator:.1f} % ({numerator} of {denominator})"


def confusion(records: list[dict]) -> list[tuple[str, Counter, int, int]]:
    """Per gate, all gates together and overall: outcome counts and the two rate denominators."""
    rows = []
    scored = [r for r in records if r["outcome"] is not None]
    groups = [(g, [r for r in scored if r["gate"] == g]) for g in C.GATES]
    groups.append(("all gates", [r for r in scored if r["gate"] != C.OVERALL]))
    groups.append(("overall", [r for r in scored if r["gate"] == C.OVERALL]))
    for label, group in groups:
        counts = Counter(r["outcome"] for r in group)
        should_fail = sum(r["expected"] in SHOULD_FAIL for r in group)
        should_pass = sum(r["expected"] in SHOULD_NOT_BLOCK for r in group)
        rows.append((label, counts, should_fail, should_pass))
    return rows


def print_summary(records: list[dict], skipped: list[str]) -> None:
    print()
    print("Confusion table (scored verdicts; 'false warn' = a warning where a pass was expected)")
    header = f"{'gate':24s} {'scored':>6s} {'right':>6s} {'f.pass':>6s} {'f.block':>7s} {'f.warn':>6s} " \
             f"{'inconcl':>7s} {'skipped':>7s}  {'false pass rate':24s} false block rate"
    print(header)
    print("-" * len(header))
    for label, counts, should_fail, should_pass in confusion(records):
        total = sum(counts.values())
        print(f"{label:24s} {total:6d} {counts['right']:6d} {counts['false_pass']:6d} {counts['false_block']:7d} "
              f"{counts['false_warn']:6d} {counts['inconclusive']:7d} {counts['skipped']:7d}  "
              f"{_rate(counts['false_pass'], should_fail):24s} {_rate(counts['false_block'], should_pass)}")
    wrong = [r for r in records if r["outcome"] not in (None, "right")]
    if wrong:
        print()
        print("Verdicts that were not right:")
        for r in wrong:
            value = "-" if r["value"] is None else f"{r['value']:.3g}"
            print(f"  {r['outcome']:12s} {r['dataset']:10s} n={r['train_rows']:<6,} {r['case']:17s} {r['gate']:22s} "
                  f"{r['status']:12s} (expected {r['expected']}; value {value}, threshold {r['threshold']})")
    if skipped:
        print()
        print("Not run (sizes a dataset cannot supply, cases that do not apply):")
        for line in skipped:
            print("  " + line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(C.DATASET_NAMES))
    parser.add_argument("--sizes", default=",".join(str(n) for n in DEFAULT_SIZES))
    parser.add_argument("--cases", default=",".join(C.CASES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON lines of every verdict (appended)")
    parser.add_argument("--cache", type=Path, default=REPO / "bench-results" / "gates-cache",
                        help="folder for the model cases' sampled output")
    parser.add_argument("--report", type=Path, default=None,
                        help="print the tables of a saved --out file (scored against today's expectations) and exit")
    args = parser.parse_args(argv)

    if args.report is not None:
        records = [rejudged(json.loads(line)) for line in args.report.read_text().splitlines() if line.strip()]
        print_summary(records, [])
        return
    import torch

    torch.set_num_threads(1)
    datasets = _csv(args.datasets, C.DATASET_NAMES, "datasets")
    case_names = _csv(args.cases, tuple(C.CASES), "cases")
    try:
        sizes = [int(s) for s in _csv(args.sizes, None, "sizes")]
    except ValueError:
        raise SystemExit(f"--sizes must be comma-separated integers, got {args.sizes!r}") from None
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    records, skipped = run(datasets, sizes, case_names, args.seed, args.cache, args.out)
    print_summary(records, skipped)
    print(f"\nwall {time.perf_counter() - started:.0f} s; 1-minute load average {load_start:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
