"""The ``doppel`` command: ``python -m engine``'s commands, sent to a Doppel server with ``--server URL --key KEY``.

``main`` is the console script. Without ``--server`` it is exactly ``python -m engine`` (local
files, nothing of ``app`` or httpx loaded). With ``--server`` the commands go through the
Python client (``app.api.client``):

- ``profile DATA``: upload the table as a dataset, print the server's profile of it (JSON);
- ``train DATA_OR_VERSION --model --epsilon --epochs --seed``: upload (when DATA is a file)
  and train, wait for the job, print the model's ids (JSON; ``--out`` writes them too);
- ``sample MODEL_ID -n N --conditions --seed --version --out FILE``: rows drawn now, written
  as CSV, Parquet or NDJSON (by the file's extension);
- ``assess MODEL_VERSION_ID -n N [--output-id ID] --html --json``: generate ``N`` rows on the
  server (or take an earlier output) and run its quality report; exit 1 when a blocking gate
  fails, as the local ``assess`` does.

Exit codes: 0 done, 1 a blocking gate failed, 2 a refused request or bad options (the message
is the server's).

Why here and not in ``engine``: the engine imports nothing above itself (``tests/test_layering.py``
checks even lazy imports), so the HTTP side lives in ``app`` and the console script points here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

KEY_ENVIRONMENT = "DOPPEL_API_KEY"
"""Read for ``--key`` when it is not given, so a key need not appear in a shell's history."""


def main(argv: list[str] | None = None) -> int:
    """The ``doppel`` console script: remote with ``--server``, else ``python -m engine``."""
    args = sys.argv[1:] if argv is None else list(argv)
    if "--server" not in args and not any(a.startswith("--server=") for a in args):
        from engine.__main__ import main as local_main

        return local_main(args)
    return remote_main(args)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", required=True, help="the Doppel server, e.g. http://127.0.0.1:8501")
    common.add_argument("--key", help=f"an API key (dpk_...); default: ${KEY_ENVIRONMENT}; none: local mode")
    common.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for a job (default 600)")
    parser = argparse.ArgumentParser(prog="doppel", description="Doppel commands sent to a server.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("profile", parents=[common], help="upload a table and print the server's profile of it")
    p.add_argument("data")
    p.add_argument("--name", help="the dataset's name (default: the file's stem)")
    t = sub.add_parser("train", parents=[common], help="upload a table (or name a dataset version) and train")
    t.add_argument("data", help="a table file, or the id of a dataset version already on the server")
    t.add_argument("--model", default="auto")
    t.add_argument("--epsilon", type=float)
    t.add_argument("--delta", type=float)
    t.add_argument("--epochs", type=int)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--name", help="the model's name")
    t.add_argument("--out", help="also write the model's ids (JSON) here")
    t.add_argument("--no-wait", action="store_true", help="print the job and return without waiting")
    s = sub.add_parser("sample", parents=[common], help="draw rows now from a model on the server")
    s.add_argument("model", help="the model id")
    s.add_argument("-n", "--rows", type=int, required=True)
    s.add_argument("--conditions")
    s.add_argument("--seed", type=int)
    s.add_argument("--version", help="a model version id (default: the model's serving version)")
    s.add_argument("--out", required=True, help=".csv, .parquet or .ndjson/.jsonl")
    a = sub.add_parser("assess", parents=[common], help="generate on the server and run the quality report")
    a.add_argument("model_version", help="the model version id")
    a.add_argument("-n", "--rows", type=int, default=1000, help="rows to generate and assess (default 1000)")
    a.add_argument("--output-id", help="assess this earlier generated output instead of generating")
    a.add_argument("--html", help="write the HTML report here")
    a.add_argument("--json", dest="json_path", help="write the JSON report here")
    return parser


def remote_main(argv: list[str]) -> int:
    """Parse and run one remote command; errors print the server's message and exit 2."""
    from app.api.client import Doppel, DoppelApiError

    args = _parser().parse_args(argv)
    key = args.key or os.environ.get(KEY_ENVIRONMENT) or None
    try:
        with Doppel(args.server, key=key) as client:
            return _COMMANDS[args.command](client, args)
    except DoppelApiError as err:
        print(f"error: {err.detail} ({err.status} {err.title})", file=sys.stderr)
        return 2
    except (OSError, ValueError, TimeoutError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _profile(client: Any, args: argparse.Namespace) -> int:
    uploaded = client.datasets.upload(args.data, name=args.name)
    profile = client.datasets.profile(uploaded["dataset"]["id"], uploaded["version"]["id"])
    print(json.dumps(profile, indent=2, default=str))
    return 0


def _train(client: Any, args: argparse.Namespace) -> int:
    started = client.train(Path(args.data) if Path(args.data).is_file() else args.data, model=args.model,
                           epsilon=args.epsilon, delta=args.delta, epochs=args.epochs, seed=args.seed, name=args.name)
    job = started.job if args.no_wait else client.wait(started.job, timeout=args.timeout)
    summary = {"model_id": started.model_id, "model_version_id": job.result.get("model_version_id"),
               "job_id": job.id, "status": job.status}
    if args.out:
        Path(args.out).write_text(json.dumps(summary) + "\n", encoding="utf-8")
    print(json.dumps(summary))
    return 0


def _sample(client: Any, args: argparse.Namespace) -> int:
    from engine.__main__ import conditions_argument

    if args.rows < 1:
        raise ValueError(f"-n {args.rows}: the number of rows must be at least 1")
    out = Path(args.out)
    writers = {".csv": "write_csv", ".parquet": "write_parquet", ".ndjson": "write_ndjson", ".jsonl": "write_ndjson"}
    if out.suffix.lower() not in writers:
        raise ValueError(f"--out {out}: expected a .csv, .parquet, .ndjson or .jsonl file")
    frame = client.sample(args.model, n=args.rows, conditions=conditions_argument(args.conditions), seed=args.seed,
                          version=args.version)
    getattr(frame, writers[out.suffix.lower()])(out)
    print(json.dumps({"rows": frame.height, "out": str(out)}))
    return 0


def _assess(client: Any, args: argparse.Namespace) -> int:
    output_id = args.output_id
    if output_id is None:
        generated = client.wait(client.generate(args.model_version, n=args.rows), timeout=args.timeout)
        output_id = generated.result["output_id"]
    finished = client.wait(client.assess(output_id, model_version_id=args.model_version), timeout=args.timeout)
    report_id = finished.result["report_id"]
    report = client.report(report_id)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    if args.html:
        Path(args.html).write_text(client.report_html(report_id), encoding="utf-8")
    print(json.dumps({"report_id": report_id, "output_id": output_id, "passed": report.get("passed")}))
    return 0 if report.get("passed") else 1


_COMMANDS = {"profile": _profile, "train": _train, "sample": _sample, "assess": _assess}


if __name__ == "__main__":
    sys.exit(main())
