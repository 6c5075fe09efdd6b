"""Seeds derived from one user seed, so every random stream of a run is reproducible on its own.

Training reseeds at the start of every epoch from ``derive_seed(seed, "epoch", e)``: a run
resumed from a checkpoint at epoch e then draws exactly the numbers an uninterrupted run
would, without storing generator states in the checkpoint.
"""

from __future__ import annotations

import hashlib
from typing import Any

SEED_BITS = 63


def derive_seed(seed: int, *keys: int | str) -> int:
    """A 63-bit seed that depends on ``seed`` and on every key (stable across runs and machines)."""
    text = repr((int(seed), *keys)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") & ((1 << SEED_BITS) - 1)


def torch_generator(seed: int, device: Any = "cpu") -> Any:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    import torch

    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def numpy_seed(generator: Any) -> int:
    """A seed for numpy draws taken from the torch ``generator`` (advancing it), so a sampling call
    that mixes torch and numpy randomness stays reproducible from the one generator."""
    import torch

    return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())


__all__ = ["derive_seed", "numpy_seed", "torch_generator"]
