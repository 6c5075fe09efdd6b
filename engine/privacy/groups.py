"""``RowGroups``: rows that belong to one unit of privacy (an entity), for entity-level DP.

Row-level DP protects one row. When a person owns several rows (a root row of a schema with
all its descendants, a history of events), the unit to protect is the whole group: the
released model must barely change when one *entity* with all its rows is added or removed.
A ``RowGroups`` says which rows go together (``ids``: a group code per row) and the public
bound on how many rows one group may hold (``max_rows``: known before the data is read, e.g.
the product of the truncation caps on the way from a root table down to this one).

What changes under groups, and why each stays (epsilon, delta)-DP for add/remove one entity:

- DP-SGD (``engine.privacy.dpsgd``): the Poisson sample draws *groups* at rate q, each with
  all its rows; every row's gradient is clipped to ``C / n_g`` (``n_g``: its group's rows in
  this frame), so a group's total contribution to the clipped sum is at most ``C``, whatever
  its size. The noise N(0, (sigma C)^2) and the accountant's (sigma, q, steps) are then those
  of row-level DP-SGD with the group as the row. Per-row clipping keeps ghost clipping's speed
  (one backward, no per-row gradients); clipping at ``C / n_g`` instead of the public
  ``C / max_rows`` gives a small group its full share.
- Histograms (``engine.privacy.private_statistics``): every row counts ``1 / n_g``, so a
  group adds at most 1 in total to a histogram: the L2 sensitivity stays 1 and the noise is
  the row-level one. A privately selected category held by one group alone can now be up to
  ``max_rows`` new values, so the threshold's delta is divided by ``max_rows`` (union bound).

The number of groups is treated as public, as the row count is for row-level DP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import ConfigError


@dataclass(frozen=True, eq=False)
class RowGroups:
    """Which group (unit of privacy) each row belongs to, and the public bound on a group's rows.

    ``ids``: one integer code per row, ``0 .. n_groups - 1`` (use ``from_labels`` for any
    labels); ``max_rows``: no group holds more rows (checked). Rows of a group need not be
    adjacent.
    """

    ids: np.ndarray
    max_rows: int

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ConfigError(f"groups.ids must be a 1-d array of integer group codes; got {ids.dtype} of shape {ids.shape}")
        if ids.size and ids.min() < 0:
            raise ConfigError("groups.ids must be non-negative group codes (0 .. groups - 1)")
        size = self.max_rows
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ConfigError(f"groups.max_rows must be a positive integer (the public bound on a group's rows); got {size!r}")
        _, codes = np.unique(ids, return_inverse=True)  # codes 0 .. G-1, whatever codes were given
        codes = codes.astype(np.int64)
        sizes = np.bincount(codes) if codes.size else np.zeros(0, dtype=np.int64)
        if sizes.size and sizes.max() > size:
            raise ConfigError(
                f"a group holds {int(sizes.max())} rows, more than its public bound max_rows={int(size)}; truncate the "
                "groups to the bound first (the bound must be known before the rows are read)"
            )
        object.__setattr__(self, "ids", codes)
        object.__setattr__(self, "max_rows", int(size))
        object.__setattr__(self, "_sizes", sizes)

    @classmethod
    def from_labels(cls, labels: Any, *, max_rows: int) -> RowGroups:
        """Groups from any per-row labels (numbers, strings; a polars or numpy column)."""
        values = labels.to_numpy() if hasattr(labels, "to_numpy") else np.asarray(labels)
        _, codes = np.unique(values, return_inverse=True)
        return cls(codes.astype(np.int64).ravel(), max_rows)

    @property
    def n_rows(self) -> int:
        return int(self.ids.size)

    @property
    def n_groups(self) -> int:
        """How many groups (units) the rows form (treated as public)."""
        return int(self._sizes.size)  # type: ignore[attr-defined]

    def group_sizes(self) -> np.ndarray:
        """Rows per group, by group code."""
        return self._sizes.copy()  # type: ignore[attr-defined]

    def row_sizes(self) -> np.ndarray:
        """Each row's group size ``n_g`` (its rows in this frame)."""
        return self._sizes[self.ids]  # type: ignore[attr-defined]

    def weights(self) -> np.ndarray:
        """Each row's weight ``1 / n_g``: a group's weights add up to 1 (a histogram's sensitivity)."""
        return 1.0 / self.row_sizes().astype(np.float64)

    def rows_of(self) -> list[np.ndarray]:
        """The row indices of each group, by group code (ascending row order within a group)."""
        order = np.argsort(self.ids, kind="stable")
        return np.split(order, np.cumsum(self._sizes)[:-1]) if self.n_groups else []  # type: ignore[attr-defined]

    def check_rows(self, n_rows: int) -> None:
        """``ConfigError`` unless the groups cover exactly ``n_rows`` rows."""
        if self.n_rows != n_rows:
            raise ConfigError(f"groups give a group for {self.n_rows} rows, but the data has {n_rows} rows; give one per row")


__all__ = ["RowGroups"]
