"""torch's CPU thread count for the span of one fit or sampling call."""

from __future__ import annotations

import torch


class TorchThreads:
    """Context manager: torch's intra-op thread count set to ``n`` (None: unchanged), then restored.

    Models take a ``num_threads`` parameter: on a shared or small machine one or two threads can
    be much faster than torch's default for small batches.
    """

    def __init__(self, n: int | None) -> None:
        self.n = n
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


__all__ = ["TorchThreads"]
