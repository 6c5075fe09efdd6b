"""torch's CPU thread count for the span of one fit or sampling call, and its bounds.

A thread count comes from a parameter or from a model file's manifest: ``torch.set_num_threads``
with a million threads crashes the process (a segfault, no exception), so a count is checked
against the CPUs this process may use (``engine.cpus``) before it reaches torch.

OpenMP threads that finish a parallel region spin for a while before sleeping; on a machine
whose cores other processes also use, that spinning takes the cores the others need.
``prepare_process_threads`` sets ``OMP_WAIT_POLICY=PASSIVE`` (threads sleep at once) for
entry points to call before torch is imported: OpenMP reads it once, when it loads.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from typing import TYPE_CHECKING

from engine.cpus import default_threads, machine_threads
from engine.errors import ConfigError
from engine.models.config import MAX_THREADS

if TYPE_CHECKING:  # pragma: no cover
    from types import TracebackType


def prepare_process_threads(*, threads: int | None = None, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set OpenMP's environment for a process that is about to load torch: ``OMP_WAIT_POLICY=PASSIVE``,
    and ``OMP_NUM_THREADS=threads`` when given; a variable already set (by the user) is kept.

    Returns the variables it set. OpenMP reads them once, when torch loads it: called after
    ``import torch`` they reach only child processes (and ``default_threads``, which reads
    ``OMP_NUM_THREADS`` on every call).
    """
    env = os.environ if environ is None else environ
    wanted = {"OMP_WAIT_POLICY": "PASSIVE"}
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
            raise ConfigError(f"threads must be a whole number in [1, {MAX_THREADS}]; got {threads!r}")
        wanted["OMP_NUM_THREADS"] = str(threads)
    applied = {name: value for name, value in wanted.items() if not env.get(name)}
    env.update(applied)
    return applied


def torch_loaded() -> bool:
    """Whether torch (and with it OpenMP) is already loaded in this process: too late for its environment."""
    return "torch" in sys.modules


class TorchThreads:
    """Context manager: torch's intra-op thread count set to ``n`` (None: ``default_threads()``), then restored.

    Models take a ``num_threads`` parameter: on a shared or small machine one or two threads can
    be much faster than torch's default for small batches. ``n`` is clamped to the CPUs this
    process may use (``machine_threads``: affinity and cgroup quota).
    """

    def __init__(self, n: int | None) -> None:
        self.n = default_threads() if n is None else max(1, min(int(n), machine_threads()))
        self.saved: int | None = None

    def __enter__(self) -> TorchThreads:
        import torch

        self.saved = torch.get_num_threads()
        if self.saved != self.n:
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        import torch

        if self.saved is not None and self.saved != self.n:
            torch.set_num_threads(self.saved)


__all__ = ["MAX_THREADS", "TorchThreads", "prepare_process_threads", "torch_loaded"]
