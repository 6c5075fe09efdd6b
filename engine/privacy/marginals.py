"""Match a decoder's generated one-hot frequencies to the private marginals the domain measured.

Under DP the domain has already measured, and paid for, the counts of each categorical's
levels, the weights of each privately measured number's modes and its share of nulls
(``engine.privacy.private_statistics``).
A VAE's decoder fed the prior generates other frequencies than those (its training saw
codes from the encoder, whose aggregate is not the prior; under DP-SGD's few noisy steps the
gap is wide: adult's education came out 0.78 TV-similar at epsilon 10). Adding a constant to
each block's logits moves its generated frequencies without touching how the block depends on
the latent code, so the pairs the decoder learned stay. Post-processing of accounted
releases: it costs no budget.

``block_targets`` lists the blocks that have a private marginal; ``logit_shift`` finds, for
logits drawn under the prior, the per-column constants whose mean softmax per block equals
those marginals (each block alone: a block's shift moves no other block's frequencies);
``calibrate`` adds them to the output layer's bias and notes it in the run. A one-hot block
is sampled as a draw from the softmax of its logits (TVAE) or as the argmax of logits plus
Gumbel noise (CTGAN, the same distribution), so the mean softmax is the generated frequency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Draws of a model's latent input (and conditions) on which its block frequencies are measured.
CALIBRATION_ROWS = 16_384
# No target frequency below this: a level the noise emptied is made rare, not impossible
# (a logit of minus infinity would poison the layer's bias).
FLOOR = 1e-4


@dataclass(frozen=True)
class BlockTarget:
    """A one-hot block ``[start, start + size)`` of the float encoding and its private frequencies."""

    column: str
    start: int
    size: int
    probs: np.ndarray


def block_targets(transformer: Any, counts: dict[str, Any]) -> list[BlockTarget]:
    """The category blocks with private ``counts`` (column -> count per level code), the mode
    blocks of numbers whose modes were weighted by a private histogram (not public bounds), and
    the [present, missing] blocks of numbers whose null share was measured privately."""
    records = getattr(transformer, "protections_", {}).get("differential_privacy", [])
    measured = {record["column"] for record in records if record.get("bounds") == "private quantiles"}
    null_shares = {record["column"]: float(record["null_share"]) for record in records if "null_share" in record}
    targets = []
    for span, start in zip(transformer.output_info_, transformer.span_starts_):
        if span.kind == "category" and span.column in counts:
            probs = np.asarray(counts[span.column], dtype=np.float64)
        elif span.kind == "mode" and span.column in measured:
            encoder = transformer.encoders_[transformer.columns_.index(span.column)]
            probs = np.asarray(encoder.core.vgm.weights, dtype=np.float64)
        elif span.kind == "null" and span.column in null_shares:
            probs = np.array([1.0 - null_shares[span.column], null_shares[span.column]])
        else:
            continue
        probs = np.maximum(probs, 0.0)
        if len(probs) != span.size or not probs.sum() > 0:
            continue
        probs = np.maximum(probs / probs.sum(), FLOOR)
        targets.append(BlockTarget(span.column, int(start), int(span.size), probs / probs.sum()))
    return targets


def logit_shift(logits: Any, targets: list[BlockTarget], *, iterations: int = 20) -> Any:
    """A ``(columns,)`` tensor to add to ``logits`` (rows drawn under the prior, ``(rows, columns)``)
    so that each target block's mean softmax equals its private frequencies; zero elsewhere.

    A fixed-point iteration per block, ``shift += log(target) - log(mean softmax)``: exact in
    one step when the logits do not vary across rows, a few more when they do.
    """
    import torch

    shift = torch.zeros(logits.shape[1], dtype=logits.dtype, device=logits.device)
    for target in targets:
        block = slice(target.start, target.start + target.size)
        log_target = torch.as_tensor(np.log(target.probs), dtype=logits.dtype, device=logits.device)
        for _ in range(iterations):
            mean = torch.softmax(logits[:, block] + shift[block], dim=1).mean(0)
            shift[block] += log_target - torch.log(mean.clamp_min(1e-12))
    return shift


def calibrate(*, run: Any, transformer: Any, logits: Any, bias: Any) -> None:
    """Add to ``bias`` (the output layer's bias that ``logits`` include, in the transformer's
    column order) the ``logit_shift`` to the run's private marginals; note it in ``run``."""
    import torch

    targets = block_targets(transformer, run.extra.get("counts", {}))
    if not targets:
        return
    with torch.no_grad():
        bias += logit_shift(logits.detach(), targets)
    columns = sorted({t.column for t in targets})
    run.notes.append(f"output calibrated to the private marginals of {len(targets)} one-hot blocks ({', '.join(columns)}): post-processing, no budget")


__all__ = ["CALIBRATION_ROWS", "FLOOR", "BlockTarget", "block_targets", "calibrate", "logit_shift"]
