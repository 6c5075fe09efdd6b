"""torch's CPU thread count for the span of one fit or sampling call, and its bounds.

A thread count comes from a parameter or from a model file's manifest: ``torch.set_num_threads``
with a million threads crashes the process (a segfault, no exception), so a count is checked
against the CPUs this process may run on before it reaches torch.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from engine.errors import ConfigError


def machine_threads() -> int:
    """The CPUs this process may run on (its affinity where the system says, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


MAX_THREADS = 1024  # far above any host's cores; a count beyond it is a typo or an attack


def check_thread_count(name: str, value: Any) -> None:
    """``ConfigError`` unless ``value`` is None or an integer from 1 to ``MAX_THREADS``.

    A count above this machine's CPUs is allowed (a model trained on a larger host loads here);
    ``TorchThreads`` clamps it to the CPUs when it is used.
    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_THREADS:
        raise ConfigError(f"{name} must be a positive integer of at most {MAX_THREADS} or None; got {value!r}")


class TorchThreads:
    """Context manager: torch's intra-op thread count set to ``n`` (None: unchanged), then restored.

    Models take a ``num_threads`` parameter: on a shared or small machine one or two threads can
    be much faster than torch's default for small batches. ``n`` is clamped to the CPUs this
    process may run on.
    """

    def __init__(self, n: int | None) -> None:
        self.n = None if n is None else max(1, min(int(n), machine_threads()))
        self.saved: int | None = None

    def __enter__(self) -> TorchThreads:
        if self.n is not None:
            self.saved = torch.get_num_threads()
            if self.saved != self.n:
                torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.n is not None and self.saved is not None and self.saved != self.n:
            torch.set_num_threads(self.saved)


__all__ = ["MAX_THREADS", "TorchThreads", "check_thread_count", "machine_threads"]
