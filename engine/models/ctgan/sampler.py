"""CTGAN's conditional vector and training-by-sampling, vectorised over the whole batch.

Training (Xu et al. 2019, section 4.3): for every row of a batch pick one discrete column
uniformly, then one of its categories with probability proportional to the logarithm of its
frequency (``log(1 + count)``, so rare categories are seen far more often than their share
and a category with no training rows is never picked), and draw the real row the critic sees
among the training rows holding that category.

Everything is precomputed once: each condition column's category code per row, and per
column the row indices sorted by category (``sorted_rows[j]``) with the offset and count of
every category's run in it. A batch is then a few integer tensor ops: ``randint`` for the
columns, an inverse-CDF lookup for the categories, and ``sorted_rows[column, offset +
floor(u * count)]`` for the rows. No Python loop runs over rows, columns or categories.

Sampling after training uses the plain frequencies instead of their logarithms: the mixture
over columns of ``P(category) * p(row | category)`` is then the data distribution itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from engine.transform import ConditionSpan


class ConditionSampler:
    """Draws (column, category) pairs for CTGAN's conditional vector.

    ``counts[j, k]`` is the number of training rows holding category ``k`` of condition
    column ``j`` (zero-padded to the widest column). Only these counts are needed, so a
    loaded model samples conditions without its training data. Tensors live on ``device``.
    """

    def __init__(self, counts: np.ndarray, *, device: torch.device | str) -> None:
        import torch

        self.device = torch.device(device)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.n_columns = int(self.counts.shape[0]) if self.counts.ndim == 2 else 0
        weights = self.counts.astype(np.float64)
        self._log_cdf = torch.as_tensor(_cdf(np.log1p(weights)), device=self.device)
        self._freq_cdf = torch.as_tensor(_cdf(weights), device=self.device)
        # The joint of (column uniform, category by frequency) over the flattened padded
        # [columns, width] grid: ``draw`` needs one uniform and one binary search per row.
        if self.n_columns:
            shares = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1.0) / self.n_columns
            self._joint_cdf = torch.as_tensor(_cdf(shares.reshape(1, -1))[0], device=self.device)

    @staticmethod
    def count_categories(data: np.ndarray, condition_spans: list[ConditionSpan]) -> np.ndarray:
        """``counts[j, k]``: rows of the encoded ``data`` holding category ``k`` of column ``j``."""
        width = max((c.size for c in condition_spans), default=1)
        counts = np.zeros((len(condition_spans), width), dtype=np.int64)
        for j, span in enumerate(condition_spans):  # once per column at setup
            counts[j, : span.size] = data[:, span.start : span.start + span.size].sum(axis=0, dtype=np.float64).round()
        return counts

    def probabilities(self, *, log_frequency: bool = True) -> np.ndarray:
        """P(category | column) per column: ``log(1 + count)`` (training) or ``count`` normalised."""
        weights = np.log1p(self.counts.astype(np.float64)) if log_frequency else self.counts.astype(np.float64)
        return weights / weights.sum(axis=1, keepdims=True)

    def sample(self, batch: int, *, generator: torch.Generator, log_frequency: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch`` (column, category) pairs: column uniform, category by (log-)frequency."""
        import torch

        column = torch.randint(self.n_columns, (batch,), generator=generator, device=self.device)
        cdf = (self._log_cdf if log_frequency else self._freq_cdf).index_select(0, column)
        u = torch.rand((batch, 1), generator=generator, device=self.device, dtype=cdf.dtype)
        category = (cdf <= u).sum(dim=1)
        return column, category

    def draw(self, batch: int, *, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch`` (column, category) pairs for sampling: column uniform, category by frequency.

        The same distribution as ``sample(log_frequency=False)``, drawn with one uniform and
        one binary search per row in the joint's cumulative distribution instead of a
        ``[batch, width]`` comparison table (about 8% of CPU sampling time otherwise).
        """
        import torch

        u = torch.rand((batch,), generator=generator, device=self.device, dtype=self._joint_cdf.dtype)
        cell = torch.searchsorted(self._joint_cdf, u, right=True)  # first entry > u: never a zero-weight cell
        width = self.counts.shape[1]
        return cell // width, cell % width

    def fixed(self, batch: int, column: int, category: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch`` copies of one (column, category) pair."""
        import torch

        return (
            torch.full((batch,), column, dtype=torch.int64, device=self.device),
            torch.full((batch,), category, dtype=torch.int64, device=self.device),
        )


class RowSampler:
    """Training-by-sampling: a uniformly drawn training row holding each requested category.

    ``data`` is the encoded training matrix (numpy float32), ``condition_spans`` the
    transformer's. Per condition column the row indices are sorted by category once; a
    category's rows are then the run ``sorted_rows[j, start[j, k] : start[j, k] + count[j, k]]``.
    """

    def __init__(self, data: np.ndarray, condition_spans: list[ConditionSpan], *, device: torch.device | str) -> None:
        import torch

        self.device = torch.device(device)
        self.n_rows = int(data.shape[0])
        counts = ConditionSampler.count_categories(data, condition_spans)
        starts = np.zeros_like(counts)
        starts[:, 1:] = np.cumsum(counts, axis=1)[:, :-1]
        sorted_rows = np.zeros((len(condition_spans), self.n_rows), dtype=np.int64)
        for j, span in enumerate(condition_spans):  # once per column at setup
            codes = data[:, span.start : span.start + span.size].argmax(axis=1)
            sorted_rows[j] = np.argsort(codes, kind="stable")
        self.counts = counts
        self._counts = torch.as_tensor(counts, device=self.device)
        self._starts = torch.as_tensor(starts, device=self.device)
        self._sorted_rows = torch.as_tensor(sorted_rows, device=self.device)

    def sample(self, column: torch.Tensor, category: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
        """For each (column, category) pair, the index of a training row holding that category.

        Uniform among those rows; the category must have rows (``ConditionSampler`` never
        picks one that has none).
        """
        import torch

        count = self._counts[column, category]
        start = self._starts[column, category]
        u = torch.rand(column.shape, generator=generator, device=self.device, dtype=torch.float64)
        offset = torch.minimum((u * count).long(), count - 1)
        return self._sorted_rows[column, start + offset]

    def uniform(self, batch: int, *, generator: torch.Generator) -> torch.Tensor:
        """``batch`` row indices drawn uniformly (a table without condition columns)."""
        import torch

        return torch.randint(self.n_rows, (batch,), generator=generator, device=self.device)


def _cdf(weights: np.ndarray) -> np.ndarray:
    """Per-row cumulative distribution of non-negative weights (rows may end in zero padding).

    ``(cdf <= u).sum()`` for ``u`` in [0, 1) is then the inverse-CDF draw. Every entry from
    the last positive weight on is exactly 1.0, so rounding can never pick padding, and a
    zero-weight category (equal to its predecessor) is never picked.
    """
    total = weights.sum(axis=1, keepdims=True)
    cdf = np.cumsum(weights / np.where(total > 0, total, 1.0), axis=1)
    positive = weights > 0
    tail = positive.cumsum(axis=1) == positive.sum(axis=1, keepdims=True)
    return np.where(tail, 1.0, cdf)


__all__ = ["ConditionSampler", "RowSampler"]
