"""Command line of the engine: ``python -m engine train DATA --model argn --out m.doppel`` and
``python -m engine assess REAL SYNTH [--holdout H] [--target T] ...``.

``train`` fits a model on a table and saves it. Started by ``torchrun --nproc-per-node N``
(``WORLD_SIZE`` > 1) the same command trains data-parallel on N processes
(``engine.distributed``: gloo on CPU, nccl on GPU); rank 0 alone writes the model. Prints a
JSON summary of the fit (kind, rows, epochs, stop reasons, validation loss, epsilon).

``train-tables FOLDER --out DIR`` fits a model of related tables (one file per table, a folder
or zip as ``engine.read_tables`` reads it; keys from ``--keys keys.json`` or inferred) and
``sample-tables MODEL --out DIR`` writes a synthetic schema, one CSV or Parquet per table.

``profile DATA`` prints a table's profile as JSON (types with reasons, PII, keys, warnings, the
recommended model). ``sample MODEL -n N --out FILE`` draws rows from a saved model (with
``--conditions`` and ``--seed``) and streams them to CSV, Parquet or NDJSON, chosen by the file's
extension; it prints a JSON line with the rows written.

These commands work on local files only. The same commands sent to a Doppel server
(``--server URL --key KEY``) are the ``doppel`` console script's (``app.api.cli_remote``): the
engine imports nothing above itself, so the HTTP client lives in ``app``.

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


def _read_json(path_text: str, *, what: str) -> Any:
    """The JSON document in the file ``path_text``; InputError naming the ``what`` file when it cannot be read."""
    try:
        return json.loads(Path(path_text).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{what} file {path_text} could not be read as JSON: {err}") from err


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Doppel engine command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="fit a model on a table and save it (data-parallel under torchrun)")
    t.add_argument("data", help="the training table")
    t.add_argument("--model", default="auto", help="model kind: auto, argn, ctgan, tvae, mst, diffusion (default auto)")
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
    pr = sub.add_parser("profile", help="profile a table: types with reasons, PII, keys, warnings, the model to start with")
    pr.add_argument("data", help="the table")
    pr.add_argument("--out", help="write the profile's JSON here (default: print it)")
    pr.add_argument("--seed", type=int, default=0, help="seed of the rows sampled for the profile (default 0)")
    pr.add_argument("--null-value", action="append", default=[], metavar="TEXT", help="a further text read as a missing value")
    sa = sub.add_parser("sample", help="draw rows from a model saved by train and write them to a file")
    sa.add_argument("model", help="the saved model (a .zip file or a directory)")
    sa.add_argument("-n", "--rows", type=int, required=True, help="how many rows")
    sa.add_argument("--out", required=True, help="the file to write: .csv, .parquet, .ndjson/.jsonl (or --format)")
    sa.add_argument("--conditions", help="rows to draw: an expression (\"age > 65 and sex == 'Female'\") or a JSON "
                                         "object of column values ('{\"sex\": \"Female\"}')")
    sa.add_argument("--seed", type=int, help="seed of the draw: the same model, seed and conditions give the same rows")
    sa.add_argument("--format", choices=("csv", "parquet", "ndjson"), help="file format (default: from --out's extension)")
    tt = sub.add_parser("train-tables", help="fit a model of related tables (a folder or zip, one file per table) and save it")
    tt.add_argument("data", help="the folder or zip of tables (one file per table, named by the file)")
    tt.add_argument("--out", required=True, help="where to save the model (a new directory)")
    tt.add_argument("--keys", help='JSON file: {"primary_keys": {...}, "foreign_keys": ["child.fk -> parent.pk", ...]} '
                                   '(default: the keys the profile infers); an "order_by": {"child": "time column"} entry '
                                   "makes that child table a history per parent row")
    tt.add_argument("--model", default="auto", help="flat model of the root tables: auto, argn, ctgan, tvae, diffusion (default auto)")
    tt.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    tt.add_argument("--orphans", default="refuse", help="child rows whose parent is missing: refuse, drop or keep")
    tt.add_argument("--max-training-time-s", type=float, help="the whole schema's training time, shared by rows")
    st = sub.add_parser("sample-tables", help="generate a synthetic schema from a model saved by train-tables")
    st.add_argument("model", help="the model directory")
    st.add_argument("--out", required=True, help="a new directory for the tables, one file per table")
    st.add_argument("--scale", type=float, default=1.0, help="multiplies the root tables' rows (default 1.0)")
    st.add_argument("--rows", action="append", default=[], metavar="TABLE=N",
                    help="fix a root table's rows instead of scaling it (repeatable), e.g. players=1000")
    st.add_argument("--condition", action="append", default=[], metavar="TABLE=EXPR",
                    help="a root table's condition (repeatable), e.g. \"players=bats == 'L'\"")
    st.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    st.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format (default csv)")
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

    config = _read_json(args.config, what="config") if args.config else None
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
    except BaseException:
        leave(synchronize=False)
        raise
    leave()
    return 0


def _profile(args: argparse.Namespace) -> int:
    import engine

    frame = _read_table(args.data, role="data", null_values=args.null_value)
    document = json.dumps(engine.profile(frame, seed=args.seed).to_dict(), indent=2, default=str)
    if args.out:
        Path(args.out).write_text(document + "\n", encoding="utf-8")
        print(json.dumps({"rows": frame.height, "columns": frame.width, "out": str(args.out)}))
    else:
        print(document)
    return 0


def conditions_argument(text: str | None) -> str | dict[str, Any] | None:
    """``--conditions`` as the engine takes it: a JSON object becomes a dict, anything else stays an expression."""
    if text is None or not text.strip():
        return None
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"--conditions {text!r} starts like a JSON object but is not one: {err}") from None
        if not isinstance(value, dict):
            raise InputError(f"--conditions {text!r}: a JSON condition must be an object of column values")
        return value
    return text


def _sample(args: argparse.Namespace) -> int:
    import engine
    from engine.generation import write_sample

    if args.rows < 1:
        raise InputError(f"-n {args.rows}: the number of rows must be at least 1")
    model = engine.load_model(args.model)
    if isinstance(model, engine.RelationalModel):
        raise InputError(f"{args.model} is a model of related tables; use sample-tables")
    result = write_sample(model, args.out, n=args.rows, seed=args.seed, conditions=conditions_argument(args.conditions),
                          format=args.format)
    print(json.dumps({"rows": result.rows, "format": result.format, "bytes": result.bytes, "out": str(args.out)}))
    return 0


def _train_tables(args: argparse.Namespace) -> int:
    import engine

    keys = _read_json(args.keys, what="keys") if args.keys else None
    order_by = keys.pop("order_by", None) if isinstance(keys, dict) else None  # the tables of histories ride in the keys file
    tables = engine.read_tables(args.data)
    model = engine.train_tables(tables, keys=keys, model=args.model, seed=args.seed, orphans=args.orphans,
                                max_training_time_s=args.max_training_time_s, order_by=order_by)
    model.save(args.out)
    print(json.dumps({"tables": {t: model.rows_[t] for t in model.order_}, "keys": model.keys,
                      "notes": list(model.notes_), "out": str(args.out)}))
    return 0


def _assignments(values: list[str], option: str) -> dict[str, str]:
    """``TABLE=VALUE`` options as a mapping; a malformed or repeated table is refused naming it."""
    out: dict[str, str] = {}
    for value in values:
        table, sep, rest = value.partition("=")
        if not sep or not table.strip() or not rest.strip():
            raise InputError(f"{option} {value!r}: expected TABLE=VALUE, e.g. {option} players=...")
        if table.strip() in out:
            raise InputError(f"{option} names table {table.strip()!r} twice")
        out[table.strip()] = rest.strip()
    return out


def _whole_number(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{what}={value!r}: expected a whole number of rows") from None


def _sample_tables(args: argparse.Namespace) -> int:
    import os
    import shutil
    import tempfile

    import engine
    from engine.relational.model import RelationalModel

    model = engine.load_model(args.model)
    if not isinstance(model, RelationalModel):
        raise InputError(f"{args.model} is a model of one table; sample-tables needs a model saved by train-tables")
    out = Path(args.out)
    if out.exists():
        raise InputError(f"{out} already exists; sample-tables writes a new directory")
    rows = {table: _whole_number(value, f"--rows {table}") for table, value in _assignments(args.rows, "--rows").items()}
    conditions = _assignments(args.condition, "--condition")
    tables = model.sample(scale=args.scale, n=rows or None, conditions=conditions or None, seed=args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:  # all tables or none: written aside, then renamed
        for name, frame in tables.items():
            target = tmp / f"{name}.{args.format}"
            frame.write_csv(target) if args.format == "csv" else frame.write_parquet(target)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(json.dumps({"tables": {name: frame.height for name, frame in tables.items()}, "out": str(out)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    # Before anything loads torch: OpenMP threads that sleep when idle, not spin (a shared machine).
    from engine.models.threads import prepare_process_threads

    prepare_process_threads()
    if "--server" in (sys.argv[1:] if argv is None else argv):
        print("error: python -m engine works on local files; to send a command to a Doppel server use the "
              "doppel command (python -m app.api.cli_remote ... --server URL --key KEY)", file=sys.stderr)
        return 2
    args = _parser().parse_args(argv)
    try:
        if args.command == "profile":
            return _profile(args)
        if args.command == "sample":
            return _sample(args)
        if args.command == "assess":
            return _assess(args)
        if args.command == "train":
            return _train(args)
        if args.command == "train-tables":
            return _train_tables(args)
        if args.command == "sample-tables":
            return _sample_tables(args)
    except DoppelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
