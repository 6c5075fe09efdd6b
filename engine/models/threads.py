"""torch's CPU thread count for the span of one fit or sampling call, and its bounds.

A thread count comes from a parameter or from a model file's manifest: ``torch.set_num_threads``
with a million threads crashes the process (a segfault, no exception), so a count is checked
against the CPUs this process may run on before it reaches torch.
"""

from __future__ import annotations

import os

import torch

from engine.models.config import MAX_THREADS



def machine_threads() -> int:
    """The CPUs this process may run on (its affinity where the system says, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)




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


__all__ = ["MAX_THREADS", "TorchThreads", "machine_threads"]
