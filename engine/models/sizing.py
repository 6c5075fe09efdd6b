"""How big a network will be, known before any of it is allocated.

Two checks use it:

- Loading: a model file's manifest says how wide each layer is, but only the weights hold real
  data. A network is first built on torch's ``meta`` device (shapes only, no memory), and its
  tensor shapes must equal the weights' before the real network is built. So a manifest that
  names a 60,000 x 60,000 layer its weights do not hold costs nothing.
- Training: layer widths given as parameters (``compress_dims=[200000]``) are turned into the
  memory training would need (the parameters, their gradients and Adam's two moments, plus a
  batch's activations) and refused above ``MAX_TRAINING_BYTES`` or the memory available,
  naming the parameters.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import torch

# Memory one model's training may take, whatever the machine (parameters and optimizer state
# plus one batch of activations): 1 GiB holds about 67 million parameters under Adam, a
# hundred times the default CTGAN on a wide table.
MAX_TRAINING_BYTES = 1024**3
# Bytes per trainable parameter under Adam: the float32 weight, its gradient, two moments.
BYTES_PER_PARAMETER = 4 * 4
# Bytes per activation of a layer's output in a batch: the value and its gradient (float32).
BYTES_PER_ACTIVATION = 4 * 2


def meta_shapes(build: Callable[[], torch.nn.Module], *, prefix: str = "") -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of the module ``build()`` makes, built on the ``meta`` device (no memory)."""
    import torch

    with torch.device("meta"):
        module = build()
    return {f"{prefix}{name}": tuple(t.shape) for name, t in module.state_dict().items()}


def meta_parameter_count(build: Callable[[], torch.nn.Module]) -> int:
    """The number of trainable parameters of the module ``build()`` makes, counted on the ``meta`` device."""
    import torch

    with torch.device("meta"):
        module = build()
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def weights_mismatch(expected: Mapping[str, tuple[int, ...]], tensors: Mapping[str, Any]) -> str | None:
    """None when ``tensors`` (name -> tensor) hold exactly ``expected``'s names and shapes, else what differs."""
    got = {name: tuple(t.shape) for name, t in tensors.items()}
    if got == dict(expected):
        return None
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    wrong = sorted(f"{k} {list(got[k])} (the manifest's parameters make {list(expected[k])})" for k in set(expected) & set(got) if got[k] != expected[k])
    parts = [f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else "", f"wrong shape {wrong}" if wrong else ""]
    return ", ".join(p for p in parts if p)


def available_memory_bytes() -> int | None:
    """Memory the system can still give (Linux ``MemAvailable``), or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def training_bytes(*, parameters: int, activation_width: int, batch_rows: int) -> int:
    """Memory a training step needs: parameters with gradients and Adam state, and a batch's activations."""
    return parameters * BYTES_PER_PARAMETER + batch_rows * activation_width * BYTES_PER_ACTIVATION


def check_training_memory(
    *, model: str, params: Mapping[str, Any], parameters: int, activation_width: int, batch_rows: int, limit: int | None = None
) -> None:
    """``ConfigError`` naming ``params`` when training would need more than the limit.

    The limit is ``limit`` (default ``MAX_TRAINING_BYTES``), lowered to the memory available.
    """
    need = training_bytes(parameters=parameters, activation_width=activation_width, batch_rows=batch_rows)
    cap = MAX_TRAINING_BYTES if limit is None else limit
    available = available_memory_bytes()
    allowed, source = cap, "the engine's limit MAX_TRAINING_BYTES"
    if available is not None and available < cap:
        allowed, source = available, "the memory available"
    if need > allowed:
        named = ", ".join(f"{name}={list(value) if isinstance(value, tuple) else value!r}" for name, value in params.items())
        raise ConfigError(
            f"{model} with {named} would need about {_gib(need)} to train ({parameters:,} parameters x "
            f"{BYTES_PER_PARAMETER} bytes for weights, gradients and Adam's moments, plus a batch of {batch_rows:,} rows' "
            f"activations); {source} is {_gib(allowed)}: use smaller layer widths"
        )


def _gib(n: int) -> str:
    return f"{n / 1024**3:.2f} GiB" if n >= 1024**3 / 100 else f"{math.ceil(n / 1024**2)} MiB"


__all__ = [
    "MAX_TRAINING_BYTES",
    "available_memory_bytes",
    "check_training_memory",
    "meta_parameter_count",
    "meta_shapes",
    "training_bytes",
    "weights_mismatch",
]
