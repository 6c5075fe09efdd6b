"""Command line of the engine: ``python -m engine train DATA --model argn --out m.doppel`` and
``python -m engine assess REAL SYNTH [--holdout H] [--target T] ...``.

``train`` fits a model on a table and saves it. Started by ``torchrun --nproc-per-node N``
(``WORLD_SIZE`` > 1) the same command trains data-parallel on N processes
(``engine.distributed``: gloo on CPU, nccl on GPU); rank 0 alone writes the model. Prints a
JSON summary of the fit (kind, rows, epochs, stop reasons, validation loss, epsilon).

``assess`` judges a synthetic table against its real source, prints the verdict, the scores
and one line per gate, writes the HTML and/or JSON report when asked, and exits with

- 0 when no gate blocks (warnings allowed),
- 1 when a blocking gate fails, so that a CI pipeline can stop on it,
- 2 when the input or the options are wrong (the message says which).

Tables are read by ``engine.read``, as the workbench reads uploads: CSV/TSV, Parquet, JSON or
NDJSON, plain or compressed, with text cells stripped and the usual missing markers (and a
lone ``?``) read as null; ``--null-value`` adds markers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.errors import DoppelError, InputError


def _read_table(path_text: str, *, role: str, null_values: list[str]) -> Any:
    """The table at ``path_text``, read as ``engine.read`` reads every file (so as the workbench reads it)."""
    import engine
    from engine.data.cleaning import DEFAULT_NULL_VALUES

    path = Path(path_text)
    if not path.is_file():
        raise InputError(f"{role} file not found: {path}")
    return engine.read(path, null_values=[*DEFAULT_NULL_VALUES, *null_values] if null_values else None)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Doppel engine command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="fit a model on a table and save it (data-parallel under torchrun)")
    t.add_argument("data", help="the training table")
    t.add_argument("--model", default="auto", help="model kind: auto, argn, ctgan, tvae, mst (default auto)")
    t.add_argument("--out", required=True, help="where to save the model (a .zip file or a new directory)")
    t.add_argument("--epochs", type=int, help="passes over the data (default: the model's)")
    t.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    t.add_argument("--epsilon", type=float, help="train with differential privacy at this epsilon")
    t.add_argument("--delta", type=float, help="the DP delta (default: the engine's for the table size)")
    t.add_argument("--param", action="append", default=[], metavar="NAME=JSON",
                   help="a model parameter, its value as JSON (e.g. --param batch_size=512); repeatable")
    t.add_argument("--checkpoint-dir", help="write a checkpoint every epoch here; with --resume, continue from it")
    t.add_argument("--resume", action="store_true", help="continue the run whose checkpoint is in --checkpoint-dir (its model and parameters)")
    t.add_argument("--null-value", action="append", default=[], metavar="TEXT", help="a further text read as a missing value")
    p = sub.add_parser("assess", help="judge a synthetic table against the real one; exit 1 if a blocking gate fails")
    p.add_argument("real", help="the real table the generator trained on")
    p.add_argument("synthetic", help="the synthetic table")
    p.add_argument("--holdout", help="real rows the generator never saw (recommended)")
    p.add_argument("--target", help="column to predict for train-synthetic-test-real utility")
    p.add_argument("--html", help="write the standalone HTML report here")
    p.add_argument("--json", dest="json_path", help="write the JSON report here")
    p.add_argument("--config", help="JSON file with assessment settings (gate thresholds, column kinds, ...)")
    p.add_argument("--seed", type=int, default=0, help="seed of every sample drawn (default 0)")
    p.add_argument("--null-value", action="append", default=[], metavar="TEXT",
                   help="text that means null in CSV input, besides the usual markers (repeatable), e.g. --null-value '-'")
    p.add_argument("--strip", action="store_true",
                   help="accepted for older command lines: spaces around CSV text values are always stripped")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def _assess(args: argparse.Namespace) -> int:
    import engine

    config = None
    if args.config:
        try:
            config = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(f"config file {args.config} could not be read as JSON: {err}") from err
    real = _read_table(args.real, role="real", null_values=args.null_value)
    synthetic = _read_table(args.synthetic, role="synthetic", null_values=args.null_value)
    holdout = _read_table(args.holdout, role="holdout", null_values=args.null_value) if args.holdout else None

    def progress(step: str, fraction: float) -> None:
        print(f"[{fraction:4.0%}] {step}", file=sys.stderr)

    report = engine.assess(real=real, synthetic=synthetic, holdout=holdout, target=args.target, config=config,
                           seed=args.seed, on_progress=None if args.quiet else progress)
    if args.html:
        report.to_html(args.html)
    if args.json_path:
        report.to_json(args.json_path, indent=2)
    if not args.quiet:
        print(report.summary())
    return 0 if report.passed else 1


def _model_params(pairs: list[str]) -> dict[str, Any]:
    """``NAME=JSON`` pairs as a dict; ``InputError`` naming a malformed one."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise InputError(f"--param {pair!r}: write it as NAME=VALUE, the value in JSON (e.g. batch_size=512)")
        try:
            params[name] = json.loads(text)
        except json.JSONDecodeError:
            params[name] = text  # a bare word: a string
    return params


def _train(args: argparse.Namespace) -> int:
    import engine
    from engine.distributed import join_from_environment, leave

    processes = join_from_environment(device=args.device)
    try:
        frame = _read_table(args.data, role="training", null_values=args.null_value)
        params = _model_params(args.param)
        if args.checkpoint_dir:
            params["checkpoint_dir"] = args.checkpoint_dir
        privacy = None
        if args.epsilon is not None:
            privacy = engine.Privacy(epsilon=args.epsilon, **({"delta": args.delta} if args.delta is not None else {}))
        if args.resume:  # the checkpoint records the run's kind and parameters
            from engine.models.checkpoints import model_to_resume

            if not args.checkpoint_dir:
                raise InputError("--resume needs --checkpoint-dir: the folder holding the interrupted run's checkpoint")
            model = model_to_resume(args.checkpoint_dir).fit(frame, resume=True)
        else:
            model = engine.train(frame, model=args.model, privacy=privacy, seed=args.seed, epochs=args.epochs, device=args.device, **params)
        if processes.is_main:
            model.save(args.out)
            metrics = model.metrics_
            summary = {
                "model": model.kind,
                "rows": model.n_train_rows_,
                "processes": processes.size,
                "epochs_run": metrics.get("epochs_run"),
                "stopped_early": metrics.get("stopped_early"),
                "stopped_on_time": metrics.get("stopped_on_time"),
                "best_val_loss": metrics.get("best_val_loss"),
                "epsilon": metrics.get("epsilon"),
                "fit_seconds": round(float(metrics.get("fit_seconds", 0.0)), 3),
                "out": str(args.out),
            }
            print(json.dumps(summary))
    finally:
        leave()
    return 0


def main(argv: list[str] | None = None) -> int:
    # Before anything loads torch: OpenMP threads that sleep when idle, not spin (a shared machine).
    from engine.models.threads import prepare_process_threads

    prepare_process_threads()
    args = _parser().parse_args(argv)
    try:
        if args.command == "assess":
            return _assess(args)
        if args.command == "train":
            return _train(args)
    except DoppelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
