"""Each row's gradient norm for the ``nn.Linear`` layers of a network, without per-row gradients.

A linear layer applied once to a batch of row vectors, ``y_i = W x_i + b``, gives row ``i``
the weight gradient ``g_i x_i^T`` and bias gradient ``g_i`` (``g_i`` the gradient at ``y_i``),
so the squared norm of row ``i``'s gradient is ``|g_i|^2 (|x_i|^2 + 1)``: two vectors the
forward and one backward pass already hold (Goodfellow 2015, "ghost" norms in Li et al. 2022).
DP-SGD then clips by reweighting each row's loss (``engine.privacy.dpsgd``).

``LinearNorms(module)`` records, while it is entered, the input and output of every
``nn.Linear`` inside ``module``. The formula needs each layer used once per forward on
``(B, features)`` inputs, and every other trainable parameter of ``module`` measured by the
caller (named in ``measured_by_caller``); anything else is refused rather than mis-measured.
"""

from __future__ import annotations

from types import TracebackType

import torch
from torch import nn


class LinearNorms:
    """Records the ``nn.Linear`` layers' inputs and outputs of one forward (see the module docstring)."""

    def __init__(self, module: nn.Module, *, measured_by_caller: tuple[torch.Tensor, ...] = ()) -> None:
        self.layers = [m for m in module.modules() if isinstance(m, nn.Linear)]
        covered = {id(p) for layer in self.layers for p in layer.parameters()} | {id(p) for p in measured_by_caller}
        missing = [name for name, p in module.named_parameters() if p.requires_grad and id(p) not in covered]
        if missing:  # a norm that leaves out a parameter would clip too little: refuse
            raise RuntimeError(f"parameters outside nn.Linear layers need their own per-row norms: {missing}")
        self.called: list[nn.Linear] = []  # in call order, beside their inputs and outputs
        self.inputs: list[torch.Tensor] = []
        self.outputs: list[torch.Tensor] = []
        self._handles: list = []

    def __enter__(self) -> LinearNorms:
        self._handles = [layer.register_forward_hook(self._record) for layer in self.layers]
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _record(self, layer: nn.Linear, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if any(layer is seen for seen in self.called):
            raise RuntimeError(f"{layer} ran twice in one forward: per-row gradient norms need each linear layer used once")
        if args[0].dim() != 2:
            raise RuntimeError(f"{layer} got a {args[0].dim()}-d input: per-row gradient norms need (rows, features)")
        self.called.append(layer)
        self.inputs.append(args[0])
        self.outputs.append(output)

    def squared_norms(self, output_grads: list[torch.Tensor] | tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Per-row squared gradient norm over every recorded layer's weight and bias, given the
        gradients at their outputs (``torch.autograd.grad(loss, self.outputs)``)."""
        if len(self.called) != len(self.layers):
            raise RuntimeError("some linear layers did not run in the recorded forward; their rows' gradients are unknown")
        total = None
        for layer, x, g in zip(self.called, self.inputs, output_grads):
            g2 = g.detach().pow(2).sum(1)
            term = g2 * x.detach().pow(2).sum(1)
            if layer.bias is not None:
                term = term + g2
            total = term if total is None else total + term
        assert total is not None, "no linear layer recorded"
        return total


__all__ = ["LinearNorms"]
