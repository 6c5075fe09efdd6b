"""Set rows aside before anything learns from them: a seeded, optionally stratified holdout.

The holdout is what the quality report's privacy gates compare against: rows the model never
saw. It must therefore be drawn before profiling, encoding or DP preprocessing reads the data,
which is why it is a verb of its own (``engine.split``) and not an option of ``train``.

The draw depends only on the number of rows, the seed and the stratum of each row, so the
same table and seed always give the same split, and the platform can store the holdout as row
positions (lineage) and rebuild both parts from the dataset version.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError, InputError
from engine.profiling.inputs import to_polars


def split_positions(
    n_rows: int,
    *,
    holdout: float = 0.2,
    seed: int = 0,
    strata: pl.Series | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (training, holdout), each sorted ascending, for a table of ``n_rows`` rows.

    The holdout holds ``round(holdout * n_rows)`` rows. With ``strata`` (one value per row,
    nulls forming a stratum of their own) every stratum gives its share, rounded so that the
    totals still add up (largest remainders first), which keeps rare classes in both parts.
    """
    _check_share(holdout)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    total = int(round(holdout * n_rows))
    keys = np.random.default_rng(seed).random(n_rows)
    if strata is None:
        order = np.argsort(keys, kind="stable")
        chosen = order[:total]
    else:
        if strata.len() != n_rows:
            raise InputError(f"stratify has {strata.len()} values for {n_rows} rows")
        codes = strata.rank(method="dense").fill_null(0).to_numpy().astype(np.int64)
        _, codes = np.unique(codes, return_inverse=True)
        sizes = np.bincount(codes)
        quotas = _allocate(sizes, total)
        # Rows sorted by stratum, then by their random key: the first quota of each stratum go.
        order = np.lexsort((keys, codes))
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        rank_in_stratum = np.arange(n_rows) - np.repeat(starts, sizes)
        chosen = order[rank_in_stratum < np.repeat(quotas, sizes)]
    mask = np.zeros(n_rows, dtype=bool)
    mask[chosen] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def split(
    data: Any,
    *,
    holdout: float = 0.2,
    seed: int = 0,
    stratify: str | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``data`` into (training, holdout) frames; rows keep their original order.

    ``holdout`` is the share of rows set aside (strictly between 0 and 1); ``stratify`` names
    a column whose value shares the two parts keep (a target such as ``income``).
    """
    frame = to_polars(data, what="split")
    if frame.height < 2:
        raise InputError(f"split needs at least 2 rows to set any aside; the table has {frame.height}")
    strata = None
    if stratify is not None:
        if stratify not in frame.columns:
            raise InputError(f"stratify: no column named {stratify!r}; the table has {frame.columns}")
        strata = frame.get_column(stratify)
    train_rows, holdout_rows = split_positions(frame.height, holdout=holdout, seed=seed, strata=strata)
    if train_rows.size == 0 or holdout_rows.size == 0:
        raise InputError(
            f"a holdout share of {holdout} of {frame.height} rows leaves one part empty; "
            "choose a share that keeps rows on both sides"
        )
    return frame[train_rows], frame[holdout_rows]


def _check_share(holdout: float) -> None:
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 < holdout < 1:
        raise ConfigError(f"holdout must be a share strictly between 0 and 1 (e.g. 0.2), got {holdout!r}")


def _allocate(sizes: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` across groups in proportion to ``sizes``, largest remainders first."""
    exact = sizes * (total / sizes.sum())
    quotas = np.floor(exact).astype(np.int64)
    short = total - int(quotas.sum())
    if short > 0:
        quotas[np.argsort(-(exact - quotas), kind="stable")[:short]] += 1
    return quotas
