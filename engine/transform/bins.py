"""Two-level discretisation of one numeric column for the token (autoregressive) encoding.

A value becomes two tokens: a coarse bin and a fine bin within it.

- Coarse bins follow the data: values frequent enough to fill a bin on their own (at least
  1/n_bins of the rows, like the zeros of ``capital-gain``) become *atoms*, bins of width zero
  that restore the value exactly; the other values are cut into intervals by the union of
  ``n_bins // 4`` evenly spaced edges (so no interval is wider than 4 / n_bins of the range
  and a long tail keeps a useful precision) and quantile edges for the rest of the ``n_bins``
  budget (fine where the data is dense). At most about 1.25 * n_bins coarse codes. When a
  column has at most ``n_bins`` distinct values, every value is an atom and the encoding is
  exact.
- The fine bin splits its coarse interval into ``n_fine`` equal parts (always 0 for an atom).

Decoding draws the value uniformly inside its fine bin (seeded), so a restored value is within
one fine-bin width, ``(interval width) / n_fine``, of the original; atoms are exact. Coarse codes
are ordered along the number line, atoms and intervals interleaved, so the token order keeps
the order of the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl


@dataclass
class QuantileBins:
    """Fitted bins: exact atoms plus quantile intervals, each with its coarse code."""

    atoms: np.ndarray  # sorted distinct values with a zero-width bin each
    edges: np.ndarray  # sorted interval edges (len = intervals + 1), or empty
    n_fine: int
    atom_codes: np.ndarray = field(init=False)
    interval_codes: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.atoms = np.asarray(self.atoms, dtype=np.float64)
        self.edges = np.asarray(self.edges, dtype=np.float64)
        n_intervals = max(len(self.edges) - 1, 0)
        # Number-line order: an atom comes before an interval starting at the same value.
        keys = np.concatenate([self.atoms, self.edges[:n_intervals]])
        is_interval = np.concatenate([np.zeros(len(self.atoms)), np.ones(n_intervals)])
        order = np.lexsort((is_interval, keys))
        codes = np.empty(len(order), dtype=np.int64)
        codes[order] = np.arange(len(order))
        self.atom_codes = codes[: len(self.atoms)]
        self.interval_codes = codes[len(self.atoms) :]

    @property
    def n_coarse(self) -> int:
        return len(self.atom_codes) + len(self.interval_codes)

    @classmethod
    def fit(cls, x: np.ndarray, *, n_bins: int, n_fine: int, pinned: tuple[float, ...] = ()) -> QuantileBins:
        """Fit on the finite, clipped values ``x`` (at least one).

        ``pinned``: values of ``x`` that become atoms however rare they are (the clip values of
        the extreme-value protection, so the most extreme released value is restored exactly).
        """
        counts = pl.Series(x).value_counts(name="n")
        values = counts.get_column(counts.columns[0]).to_numpy()
        n = counts.get_column("n").to_numpy()
        if len(values) <= n_bins:
            return cls(np.sort(values), np.empty(0), n_fine)
        frequent = values[n * n_bins >= len(x)]
        atoms = np.union1d(frequent, np.intersect1d(np.asarray(pinned, dtype=np.float64), values))
        rest = x[~np.isin(x, atoms)] if len(atoms) else x
        if len(rest) == 0:
            return cls(atoms, np.empty(0), n_fine)
        n_even = max(n_bins // 4, 1)
        n_quantile = max(n_bins - len(atoms) - n_even, 1)
        quantiles = np.quantile(rest, np.linspace(0.0, 1.0, n_quantile + 1), method="inverted_cdf")
        even = np.linspace(quantiles[0], quantiles[-1], n_even + 1)
        edges = np.unique(np.concatenate([quantiles, even]))
        if len(edges) < 2:  # the rest is a single value: make it an atom as well
            return cls(np.sort(np.append(atoms, edges)), np.empty(0), n_fine)
        return cls(atoms, edges, n_fine)

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coarse and fine codes (int64) of values already clipped to the fitted range."""
        coarse = np.empty(len(x), dtype=np.int64)
        fine = np.zeros(len(x), dtype=np.int64)
        is_atom = np.zeros(len(x), dtype=bool)
        if len(self.atoms):
            pos = np.clip(np.searchsorted(self.atoms, x), 0, len(self.atoms) - 1)
            is_atom = self.atoms[pos] == x
            if not len(self.interval_codes):  # only atoms: unseen values go to the nearest one
                left = np.clip(pos - 1, 0, len(self.atoms) - 1)
                nearer_left = np.abs(x - self.atoms[left]) < np.abs(x - self.atoms[pos])
                return self.atom_codes[np.where(nearer_left, left, pos)], fine
            coarse[is_atom] = self.atom_codes[pos[is_atom]]
        rest = ~is_atom
        xr = x[rest]
        idx = np.clip(np.searchsorted(self.edges, xr, side="right") - 1, 0, len(self.interval_codes) - 1)
        lo, hi = self.edges[idx], self.edges[idx + 1]
        frac = (xr - lo) / (hi - lo)
        coarse[rest] = self.interval_codes[idx]
        fine[rest] = np.clip(np.floor(frac * self.n_fine), 0, self.n_fine - 1).astype(np.int64)
        return coarse, fine

    def decode(self, coarse: np.ndarray, fine: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Values from codes; inside an interval, uniform within the fine bin (seeded)."""
        coarse = np.clip(np.asarray(coarse, dtype=np.int64), 0, self.n_coarse - 1)
        fine = np.clip(np.asarray(fine, dtype=np.int64), 0, self.n_fine - 1)
        kind = np.zeros(self.n_coarse, dtype=np.int64)  # code -> index into atoms or intervals
        is_atom_code = np.zeros(self.n_coarse, dtype=bool)
        kind[self.atom_codes] = np.arange(len(self.atom_codes))
        is_atom_code[self.atom_codes] = True
        kind[self.interval_codes] = np.arange(len(self.interval_codes))
        out = np.empty(len(coarse), dtype=np.float64)
        atom = is_atom_code[coarse]
        out[atom] = self.atoms[kind[coarse[atom]]]
        inter = ~atom
        idx = kind[coarse[inter]]
        lo, hi = self.edges[idx], self.edges[idx + 1]
        u = rng.random(int(inter.sum()))
        out[inter] = lo + (fine[inter] + u) * (hi - lo) / self.n_fine
        return out

    def max_error(self) -> float:
        """Largest distance between a value and its decoding: the widest fine bin."""
        if len(self.edges) < 2:
            return 0.0
        return float(np.max(np.diff(self.edges)) / self.n_fine)

    def to_dict(self) -> dict[str, Any]:
        return {"atoms": self.atoms.tolist(), "edges": self.edges.tolist(), "n_fine": self.n_fine}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuantileBins:
        return cls(np.asarray(d["atoms"], dtype=np.float64), np.asarray(d["edges"], dtype=np.float64), int(d["n_fine"]))
