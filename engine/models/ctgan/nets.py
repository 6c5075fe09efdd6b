"""CTGAN's networks and its gradient penalty (Xu et al. 2019, section 4.4; Gulrajani et al. 2017).

- ``Generator``: residual blocks ``h = ReLU(BatchNorm(Linear(x)))``, each concatenating its
  input to its output (``x <- [h, x]``), then a linear layer to one raw score per encoded
  column. Its input is ``[z, cond]`` with ``cond`` the one-hot conditional vector.
- ``build_critic``: a plain ``nn.Sequential`` of ``Linear / LeakyReLU(0.2) / Dropout(0.5)``
  blocks and a final ``Linear(., 1)`` on ``pac`` rows concatenated (PacGAN). Plain on
  purpose: it is the only network that reads real rows, so differential privacy (Opacus
  DP-SGD, with ``pac=1``) will wrap exactly this module.
- ``gradient_penalty``: WGAN-GP's ``lambda * (||grad D(x_hat)|| - 1)^2`` on interpolates,
  one separate function so a DP trainer can compute (or replace) it on its own.

Speed: the conditional vector has exactly one 1 per row, so its product with the part of a
weight matrix that reads it is one column of that part. The generator therefore stores that
part as an embedding table (``cond``: one row per position of the conditional vector) and
adds the row's entry instead of multiplying the one-hot, in every layer, since every layer
reads ``[..., z, cond]``. The function is exactly the paper's ``Linear`` over ``[dense,
one-hot]`` (same initialisation too); it costs a quarter fewer multiply-adds and its
backward pass is an index-add instead of a matmul.

Sampling uses ``Generator.folded()``: the eval-mode function as plain tensors
(``FoldedGenerator``), BatchNorm folded into the weights, computed into preallocated buffers
with one matmul per layer and no concatenation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch


def _modules():  # torch is imported lazily: ``import engine`` must not load it
    import torch
    from torch import nn

    class ConditionalLinear(nn.Module):
        """``Linear`` over ``[x, one_hot(condition)]``, with the one-hot part as a lookup."""

        def __init__(self, n_dense: int, n_condition: int, n_out: int) -> None:
            super().__init__()
            self.fc = nn.Linear(n_dense, n_out)
            self.cond = nn.Embedding(n_condition, n_out) if n_condition else None
            # nn.Linear's initialisation over the full input width (dense + one-hot).
            bound = 1.0 / math.sqrt(n_dense + n_condition)
            with torch.no_grad():
                self.fc.weight.uniform_(-bound, bound)
                self.fc.bias.uniform_(-bound, bound)
                if self.cond is not None:
                    self.cond.weight.uniform_(-bound, bound)

        def forward(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
            y = self.fc(x)
            if self.cond is not None and condition is not None:
                y = y + self.cond(condition)
            return y

    class Generator(nn.Module):
        """Maps noise ``z`` and a condition index to one raw score per encoded column.

        ``condition`` holds, per row, the position of the 1 in the conditional vector of
        width ``condition_width`` (None when the table has no condition columns). Each
        residual block is ``[ReLU(BatchNorm(Linear(x, cond))), x]``.
        """

        def __init__(self, noise_dim: int, condition_width: int, hidden: tuple[int, ...], output_dim: int) -> None:
            super().__init__()
            self.noise_dim = noise_dim
            self.condition_width = condition_width
            layers, norms = [], []
            dense = noise_dim
            for width in hidden:
                layers.append(ConditionalLinear(dense, condition_width, width))
                norms.append(nn.BatchNorm1d(width))
                dense += width
            self.layers = nn.ModuleList(layers)
            self.norms = nn.ModuleList(norms)
            self.out = ConditionalLinear(dense, condition_width, output_dim)

        def forward(self, z: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
            x = z
            for layer, norm in zip(self.layers, self.norms):
                x = torch.cat([torch.relu(norm(layer(x, condition))), x], dim=1)
            return self.out(x, condition)

        @torch.no_grad()
        def folded(self) -> FoldedGenerator:
            """This generator in eval mode as plain tensors, for sampling (see ``FoldedGenerator``)."""
            layers = []
            for layer, norm in zip(self.layers, self.norms):
                # Eval-mode BatchNorm, ``(y - mean) * scale + beta``, is affine: it folds into
                # the layer before it (weight and condition rows times ``scale``).
                scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                bias = (layer.fc.bias - norm.running_mean) * scale + norm.bias
                table = None if layer.cond is None else layer.cond.weight * scale[None, :]
                layers.append(_folded_layer(layer.fc.weight * scale[:, None], bias, table))
            # The output layer (no norm), padded with zero rows to a multiple of 16 outputs:
            # BLAS kernels run up to half again faster on such widths (159 -> 160 on adult).
            weight, bias = self.out.fc.weight, self.out.fc.bias
            table = None if self.out.cond is None else self.out.cond.weight
            pad = -weight.shape[0] % 16
            if pad:
                weight = torch.nn.functional.pad(weight, (0, 0, 0, pad))
                bias = torch.nn.functional.pad(bias, (0, pad))
                table = None if table is None else torch.nn.functional.pad(table, (0, pad))
            layers.append(_folded_layer(weight, bias, table))
            return FoldedGenerator(layers, noise_dim=self.noise_dim, output_dim=self.out.fc.out_features)

    def _folded_layer(weight: torch.Tensor, bias: torch.Tensor, table: torch.Tensor | None) -> FoldedLayer:
        # The bias is folded into the condition table too: one gather then sets both.
        return FoldedLayer(
            weight=weight.detach().clone(),
            bias=bias.detach().clone(),
            table=None if table is None else (table + bias[None, :]).detach().contiguous(),
        )

    return Generator


@dataclass(frozen=True)
class FoldedLayer:
    """One generator layer for sampling: ``y = x @ weight.T + (table[condition] or bias)``."""

    weight: torch.Tensor  # [out, in], eval-mode BatchNorm folded in; in = [h_k, ..., h_1, z]
    bias: torch.Tensor  # [out]
    table: torch.Tensor | None  # [condition width, out]: condition rows with the bias added


class FoldedGenerator:
    """A generator's eval-mode function as plain tensors, computed into preallocated buffers.

    Same numbers as ``Generator.forward`` in eval mode, up to rounding, with no allocation
    per chunk (fresh multi-megabyte tensors cost a page fault per 4 KiB on first touch, a
    fifth of CPU sampling time at 16k-row chunks) and no concatenation:

    - the hidden activations and the noise live side by side in one workspace row,
      ``[h_L, ..., h_1, z]``, so every layer's input ``[h_k, ..., h_1, z]`` (the residual
      concatenation) is a suffix of its columns: one matmul per layer, no copy;
    - BatchNorm is folded into the weights, the bias into the condition table: a layer is
      one gather (its condition rows, or the bias) then one in-place ``addmm_``, then ReLU
      in place.

    ``output_width`` is the output layer's width padded to a multiple of 16 (faster BLAS);
    the first ``output_dim`` columns are the generator's output.
    """

    def __init__(self, layers: list[FoldedLayer], *, noise_dim: int, output_dim: int) -> None:
        self.layers = layers
        self.noise_dim = noise_dim
        self.output_dim = output_dim
        self.output_width = int(layers[-1].weight.shape[0])
        self.hidden_width = sum(int(layer.weight.shape[0]) for layer in layers[:-1])

    def workspace(self, rows: int, device: torch.device) -> torch.Tensor:
        """A ``[rows, hidden widths + noise_dim]`` buffer for ``forward_into``, reusable across chunks."""
        import torch

        return torch.empty((rows, self.hidden_width + self.noise_dim), device=device)

    def forward_into(self, z: torch.Tensor, condition: torch.Tensor | None, out: torch.Tensor, work: torch.Tensor) -> torch.Tensor:
        """Write the raw scores of noise ``z`` under ``condition`` (see ``Generator``) into ``out``.

        ``out`` is ``[rows, output_width]`` with unit column stride (a row slice of a larger
        array is fine); ``work`` is ``workspace(rows)`` or a row slice of a larger one.
        Returns ``out``.
        """
        import torch

        start = self.hidden_width
        work[:, start:].copy_(z)
        for i, layer in enumerate(self.layers):
            x = work[:, start:]  # [h_k, ..., h_1, z]
            if i < len(self.layers) - 1:
                start -= layer.weight.shape[0]
                y = work[:, start : start + layer.weight.shape[0]]
            else:
                y = out
            if layer.table is not None and condition is not None:
                torch.index_select(layer.table, 0, condition, out=y)
            else:
                y.copy_(layer.bias.expand_as(y))
            y.addmm_(x, layer.weight.t())
            if i < len(self.layers) - 1:
                y.relu_()
        return out


def make_generator(noise_dim: int, condition_width: int, hidden: tuple[int, ...], output_dim: int) -> torch.nn.Module:
    """A CTGAN generator (see ``Generator`` above), initialised like the paper's ``Linear`` layers."""
    return _modules()(noise_dim, condition_width, tuple(hidden), output_dim)


def build_critic(input_dim: int, hidden: tuple[int, ...], *, pac: int, dropout: float = 0.5) -> torch.nn.Sequential:
    """The PacGAN critic: ``pac`` rows of ``input_dim`` features in, one score out."""
    from torch import nn

    layers: list[nn.Module] = []
    width = input_dim * pac
    for size in hidden:
        layers += [nn.Linear(width, size), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def pack(rows: torch.Tensor, pac: int) -> torch.Tensor:
    """``[batch, features]`` -> ``[batch / pac, pac * features]``: consecutive rows side by side."""
    return rows.reshape(rows.shape[0] // pac, rows.shape[1] * pac)


def _critic_for_penalty(critic: torch.nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``critic(x)``, with each LeakyReLU written ``z * slope(z)`` and the slope held constant.

    Same value and same first derivative as the module itself (a LeakyReLU's derivative is
    that slope), but the slope, piecewise constant, is detached: its derivative is zero, so
    autograd need not carry zeros back through the layers below when the penalty is
    differentiated a second time. That prunes two of the largest matmuls of a critic step
    (a zero gradient into the first layer's weights and into the interpolates).
    """
    import torch
    from torch import nn

    for module in critic:
        if isinstance(module, nn.LeakyReLU):
            with torch.no_grad():
                slope = torch.where(x > 0, 1.0, module.negative_slope).to(x.dtype)
            x = x * slope
        else:
            x = module(x)
    return x


def gradient_penalty(
    critic: torch.nn.Sequential,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    pac: int,
    weight: float = 10.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty ``weight * mean((||d critic(x_hat) / d x_hat|| - 1)^2)``.

    ``x_hat`` interpolates ``real`` and ``fake`` (both ``[batch, features]``, unpacked)
    with one uniform weight per pack of ``pac`` rows; the norm is taken per pack, over all
    its inputs. The graph is kept (``create_graph``) so the penalty trains the critic.
    ``critic`` is the plain ``Sequential`` of ``build_critic`` (any Sequential of modules
    whose only non-linearity is ``LeakyReLU`` works).
    """
    import torch

    packs = real.shape[0] // pac
    alpha = torch.rand((packs, 1, 1), generator=generator, device=real.device, dtype=real.dtype)
    alpha = alpha.expand(packs, pac, 1).reshape(real.shape[0], 1)
    mixed = (alpha * real + (1.0 - alpha) * fake).requires_grad_(True)
    score = _critic_for_penalty(critic, pack(mixed, pac))
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    norm = pack(grad, pac).norm(2, dim=1)
    return weight * ((norm - 1.0) ** 2).mean()


__all__ = ["FoldedGenerator", "FoldedLayer", "build_critic", "gradient_penalty", "make_generator", "pack"]
