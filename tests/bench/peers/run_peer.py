"""Fit one peer library on a training Parquet file and write its synthetic rows (benchmark only).

Runs ONLY under the throwaway peers interpreter (``.venv-peers/bin/python``, made by
tests/bench/peers/setup_peers.sh), never in the project venv: it imports SDV and
mostlyai-engine. tests/bench/bench_quality.py calls it in a subprocess and exchanges files only:

    .venv-peers/bin/python tests/bench/peers/run_peer.py --model sdv_tvae --epochs 300 \
        --train RUN/data/adult/train.parquet --rows 26048 --seed 0 \
        --out RUN/synthetic/adult/sdv_tvae@300.parquet --timing RUN/synthetic/adult/sdv_tvae@300.json

Models:
  gaussiancopula  SDV 2.0 GaussianCopulaSynthesizer, defaults
  sdv_ctgan       SDV 2.0 CTGANSynthesizer, ``epochs`` from --epochs (SDV's default is 300)
  sdv_tvae        SDV 2.0 TVAESynthesizer, ``epochs`` from --epochs (SDV's default is 300)
  tabularargn     mostlyai-engine 2.7.3 TabularARGN, defaults (its own early stopping)

SDV gets explicit metadata built from the dtypes (numbers -> numerical, datetimes -> datetime,
everything else -> categorical), so that no column is guessed to be an id or PII and dropped.
The timing JSON holds fit seconds, sample seconds, rows and the library version.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

MODELS = ("gaussiancopula", "sdv_ctgan", "sdv_tvae", "tabularargn")


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _sdv_metadata(frame: pd.DataFrame):
    from sdv.metadata import Metadata

    columns = {}
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            columns[name] = {"sdtype": "boolean"}
        elif pd.api.types.is_numeric_dtype(dtype):
            columns[name] = {"sdtype": "numerical"}
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            columns[name] = {"sdtype": "datetime"}
        else:
            columns[name] = {"sdtype": "categorical"}
    return Metadata.load_from_dict({"tables": {"table": {"columns": columns}}})


def _fit_sdv(model: str, frame: pd.DataFrame, epochs: int | None):
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

    metadata = _sdv_metadata(frame)
    if model == "gaussiancopula":
        synth = GaussianCopulaSynthesizer(metadata)
    else:
        cls = CTGANSynthesizer if model == "sdv_ctgan" else TVAESynthesizer
        synth = cls(metadata, verbose=True, **({"epochs": epochs} if epochs else {}))  # losses to the log
    # SDV 2.0 takes and returns {table name: DataFrame}, also for a single table
    synth.fit({"table": frame})
    return lambda n: synth.sample(num_rows=n)["table"]


def _fit_tabularargn(frame: pd.DataFrame, seed: int, workdir: Path):
    from mostlyai.engine import TabularARGN, init_logging

    init_logging()  # its progress goes to the run folder's log file
    model = TabularARGN(random_state=seed, workspace_dir=workdir).fit(frame)
    return lambda n: model.sample(n_samples=n)


def _import_library(model: str) -> None:
    if model == "tabularargn":
        import mostlyai.engine  # noqa: F401
    else:
        import sdv.single_table  # noqa: F401


def _version(model: str) -> str:
    import importlib.metadata as md

    if model == "tabularargn":
        return f"mostlyai-engine {md.version('mostlyai-engine')}"
    return f"SDV {md.version('sdv')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, choices=MODELS)
    parser.add_argument("--train", required=True, type=Path, help="training Parquet file")
    parser.add_argument("--rows", required=True, type=int, help="synthetic rows to write")
    parser.add_argument("--out", required=True, type=Path, help="synthetic Parquet file to write")
    parser.add_argument("--timing", required=True, type=Path, help="JSON file for the timings")
    parser.add_argument("--epochs", type=int, default=None, help="epochs for sdv_ctgan / sdv_tvae")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    frame = pd.read_parquet(args.train)
    _import_library(args.model)  # imports are not part of the fit time
    _seed_everything(args.seed)
    with tempfile.TemporaryDirectory(prefix="peer-") as workdir:
        start = time.perf_counter()
        if args.model == "tabularargn":
            sample = _fit_tabularargn(frame, args.seed, Path(workdir))
        else:
            sample = _fit_sdv(args.model, frame, args.epochs)
        fit_s = time.perf_counter() - start
        _seed_everything(args.seed)
        start = time.perf_counter()
        synthetic = sample(args.rows)
        sample_s = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_suffix(".partial")
    synthetic.to_parquet(partial, index=False)
    os.replace(partial, args.out)
    args.timing.write_text(
        json.dumps(
            {
                "model": args.model,
                "library": _version(args.model),
                "epochs": args.epochs,
                "fit_s": fit_s,
                "sample_s": sample_s,
                "rows": int(len(synthetic)),
            }
        )
    )


if __name__ == "__main__":
    main()
