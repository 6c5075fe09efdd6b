"""CTGAN's view of the encoded table: which output columns get which activation, as index tensors.

The generator emits one raw score per column of ``DataTransformer.transform`` output. Scalars
(``tanh`` spans) go through tanh; every one-hot block (``softmax`` spans) through a
Gumbel-softmax. A Python loop over spans in the hot path would cost one kernel launch per
span, so the spans are instead grouped into a few *buckets* of similar width (widths up to
2, 4, 8, 16, ...): each bucket is one padded ``[batch, spans, width]`` tensor, gathered,
soft-maxed and scattered back with a handful of vectorised ops whatever the number of spans.
Padding costs at most a factor of two in elementwise work, never a matmul.

The same padded tables serve the conditional cross-entropy (the generator's score for the
chosen condition column against the chosen category) and the discretisation used when
sampling (argmax of scores plus Gumbel noise, i.e. an exact draw from the softmax).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from engine.transform import ConditionSpan, Span

# Temperature of the Gumbel-softmax on generated one-hot blocks (the CTGAN paper's 0.2).
GUMBEL_TAU = 0.2
_TINY = 1e-20


@dataclass
class _Bucket:
    """Softmax spans of similar width, padded to ``width``: ``index[s, j]`` is the output column."""

    index: torch.Tensor  # int64 [spans, width]; padding points at column 0
    pad: torch.Tensor  # bool [spans, width]; True on padding
    flat: torch.Tensor  # int64 [spans * width]
    valid: torch.Tensor  # int64 positions in the flattened [spans * width] that are real columns


def _buckets(starts: list[int], sizes: list[int], device: torch.device | str) -> list[_Bucket]:
    """Group spans (given by first column and width) into power-of-two width buckets."""
    import torch

    groups: dict[int, list[int]] = {}
    for i, size in enumerate(sizes):
        width = 1 << max(0, int(size - 1).bit_length())
        groups.setdefault(width, []).append(i)
    out = []
    for width in sorted(groups):
        members = groups[width]
        index = np.zeros((len(members), width), dtype=np.int64)
        pad = np.ones((len(members), width), dtype=bool)
        for row, i in enumerate(members):
            index[row, : sizes[i]] = np.arange(starts[i], starts[i] + sizes[i])
            pad[row, : sizes[i]] = False
        out.append(
            _Bucket(
                index=torch.as_tensor(index, device=device),
                pad=torch.as_tensor(pad, device=device),
                flat=torch.as_tensor(index.ravel(), device=device),
                valid=torch.as_tensor(np.flatnonzero(~pad.ravel()), device=device),
            )
        )
    return out


def gumbel_noise(shape: tuple[int, ...], *, generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """Standard Gumbel noise ``-log(-log U)`` drawn from ``generator`` (reproducible)."""
    import torch

    return uniform_to_gumbel_(torch.rand(shape, generator=generator, device=device))


def uniform_to_gumbel_(u: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) draws turned into standard Gumbel noise ``-log(-log U)``, in place.

    Separate from the draw so that a sampler can draw under a lock (a fixed order of draws,
    hence reproducible rows) and transform outside it.
    """
    return u.clamp_(min=_TINY).log_().neg_().clamp_(min=_TINY).log_().neg_()


class OutputLayout:
    """Index tensors for the generator's output activations, the condition loss and decoding.

    Built once from the transformer's ``output_info_`` / ``span_starts_`` /
    ``condition_spans_``; every method is a fixed number of tensor ops.
    """

    def __init__(
        self,
        spans: list[Span],
        starts: list[int],
        condition_spans: list[ConditionSpan],
        *,
        device: torch.device | str,
    ) -> None:
        import torch

        self.device = torch.device(device)
        self.width = int(sum(s.size for s in spans))
        tanh_cols = [c for s, a in zip(spans, starts) if s.activation == "tanh" for c in range(a, a + s.size)]
        soft = [(a, s.size) for s, a in zip(spans, starts) if s.activation == "softmax"]
        self.tanh_index = torch.as_tensor(np.asarray(tanh_cols, dtype=np.int64), device=self.device)
        self.buckets = _buckets([a for a, _ in soft], [n for _, n in soft], self.device)
        # ``cat([tanh outputs, bucket outputs...])`` holds every column once, in an order of
        # our making; ``inverse_order`` puts them back in output order with one gather.
        order = list(tanh_cols)
        for bucket in self.buckets:
            order.extend(bucket.flat[bucket.valid].tolist())
        if sorted(order) != list(range(self.width)):
            raise ValueError("the transformer's spans do not tile its output columns exactly")
        self.inverse_order = torch.as_tensor(np.argsort(np.asarray(order, dtype=np.int64)), device=self.device)
        # Condition spans: one padded table [columns, max width] for the cross-entropy.
        self.n_conditions = len(condition_spans)
        self.condition_sizes = torch.as_tensor([c.size for c in condition_spans], dtype=torch.int64, device=self.device)
        self.condition_starts = torch.as_tensor([c.start for c in condition_spans], dtype=torch.int64, device=self.device)
        offsets = np.concatenate([[0], np.cumsum([c.size for c in condition_spans])]).astype(np.int64)
        self.condition_offsets = torch.as_tensor(offsets[:-1], device=self.device)
        self.condition_width = int(offsets[-1])
        max_size = max((c.size for c in condition_spans), default=1)
        cindex = np.zeros((max(1, self.n_conditions), max_size), dtype=np.int64)
        cpad = np.ones_like(cindex, dtype=bool)
        for j, c in enumerate(condition_spans):
            cindex[j, : c.size] = np.arange(c.start, c.start + c.size)
            cpad[j, : c.size] = False
        self.condition_index = torch.as_tensor(cindex, device=self.device)
        self.condition_pad = torch.as_tensor(cpad, device=self.device)

    # -- training -------------------------------------------------------------------------
    def activate(self, raw: torch.Tensor, *, generator: torch.Generator, tau: float = GUMBEL_TAU) -> torch.Tensor:
        """tanh on scalar columns, Gumbel-softmax (temperature ``tau``) on every one-hot block."""
        import torch

        batch = raw.shape[0]
        parts = [torch.tanh(raw.index_select(1, self.tanh_index))]
        for bucket in self.buckets:
            spans, width = bucket.index.shape
            logits = raw.index_select(1, bucket.flat).view(batch, spans, width)
            noise = gumbel_noise((batch, spans, width), generator=generator, device=raw.device)
            logits = (logits + noise).masked_fill(bucket.pad, float("-inf"))
            probs = torch.softmax(logits / tau, dim=-1).view(batch, spans * width)
            parts.append(probs.index_select(1, bucket.valid))
        return torch.cat(parts, dim=1).index_select(1, self.inverse_order)

    def condition_loss(self, raw: torch.Tensor, column: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy between the raw scores of each row's condition column and its category."""
        import torch.nn.functional as F

        index = self.condition_index.index_select(0, column)  # [batch, max width]
        logits = raw.gather(1, index).masked_fill(self.condition_pad.index_select(0, column), float("-inf"))
        return F.cross_entropy(logits, category)

    def condition_position(self, column: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        """Per row, the position of the 1 in the conditional vector for (condition column, category)."""
        return self.condition_offsets.index_select(0, column) + category

    # -- sampling -------------------------------------------------------------------------
    def discretise(self, raw: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``raw`` (modified in place) made ready for ``inverse_transform``: tanh on scalars,
        Gumbel noise added to every one-hot block's scores.

        ``inverse_transform`` reads a one-hot block by its argmax, and ``argmax(scores +
        Gumbel noise)`` is an exact draw from ``softmax(scores)`` whatever the temperature:
        the decoded categories follow the same distributions as training's Gumbel-softmax,
        without a softmax or a one-hot being computed.

        ``noise`` is standard Gumbel noise of ``raw``'s shape: one contiguous add instead of
        a scatter onto the one-hot columns; the few scalar columns are then overwritten with
        their tanh, computed before the add. ``raw`` may be wider than the layout (padding
        columns, left meaningless).
        """
        import torch

        values = torch.tanh(raw.index_select(1, self.tanh_index))
        raw.add_(noise)
        raw.index_copy_(1, self.tanh_index, values)
        return raw

    def fix_category(self, rows: torch.Tensor, column: int, category: int) -> None:
        """Make ``category`` the argmax of condition column ``column``'s block (a one-hot, in place)."""
        start = int(self.condition_starts[column])
        size = int(self.condition_sizes[column])
        rows[:, start : start + size] = 0.0
        rows[:, start + category] = 1.0


def marginal_distance(real: np.ndarray, fake: np.ndarray, spans: list[Span], starts: list[int], *, bins: int = 20) -> float:
    """Mean per-span distance between two encoded matrices' marginals, in [0, 1].

    One-hot blocks: total variation between the category frequencies (argmax per row).
    Scalars: total variation between histograms on ``bins`` equal bins of [-1, 1]. A cheap,
    discriminator-free yardstick of how close generated rows are to real ones, used as the
    validation loss for early stopping.
    """
    distances = []
    for span, start in zip(spans, starts):
        block_r = real[:, start : start + span.size]
        block_f = fake[:, start : start + span.size]
        if span.activation == "softmax":
            p = np.bincount(block_r.argmax(1), minlength=span.size) / max(1, len(block_r))
            q = np.bincount(block_f.argmax(1), minlength=span.size) / max(1, len(block_f))
            distances.append(0.5 * float(np.abs(p - q).sum()))
        else:
            for j in range(span.size):
                edges = np.linspace(-1.0, 1.0, bins + 1)
                p = np.histogram(np.clip(block_r[:, j], -1, 1), edges)[0] / max(1, len(block_r))
                q = np.histogram(np.clip(block_f[:, j], -1, 1), edges)[0] / max(1, len(block_f))
                distances.append(0.5 * float(np.abs(p - q).sum()))
    return float(np.mean(distances)) if distances else 0.0


__all__ = ["GUMBEL_TAU", "OutputLayout", "gumbel_noise", "marginal_distance", "uniform_to_gumbel_"]
