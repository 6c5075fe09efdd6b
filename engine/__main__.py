"""Command line of the engine: ``python -m engine assess REAL SYNTH [--holdout H] [--target T] ...``.

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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "assess":
            return _assess(args)
    except DoppelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
