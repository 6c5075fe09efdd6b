"""The facade's verbs stay callables whatever submodules a process imports (a fresh process each)."""

import subprocess
import sys


def test_importing_the_splitting_module_does_not_hide_the_split_call() -> None:
    code = (
        "from engine.splitting import split_positions; import engine, polars as pl; "
        "train, holdout = engine.split(pl.DataFrame({'a': range(10)}), holdout=0.2, seed=0); "
        "print(train.height, holdout.height, len(split_positions(10, holdout=0.2, seed=0)[1]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["8", "2", "2"]
