"""CTGAN's batch sampling: rows generated chunk by chunk on worker threads, reproducibly.

Why threads over chunks rather than torch's intra-op threads: a chunk is a couple of dozen
tensor ops, and with intra-op parallelism every op is a fork-join across all cores. On a
shared machine a core taken by another process stalls every join: on the 2-core benchmark
machine under load, two intra-op threads sampled several times *slower* than one. Here each
worker runs whole chunks with single-threaded kernels and never waits for another, except
while drawing random numbers.

Reproducibility: all randomness comes from one ``torch.Generator``. A worker takes the next
chunk and draws all of that chunk's random numbers (conditions, noise, Gumbel uniforms) under
one lock, so the generator is consumed chunk after chunk in row order whatever the
scheduling; the rest of a chunk is a pure function of its draws, computed with
single-threaded kernels. The rows are therefore the same for any number of workers.

Each worker allocates its buffers once (see ``FoldedGenerator``) and, on CPU, writes its
chunk's rows straight into the shared output array.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from engine.models.ctgan.layout import uniform_to_gumbel_
from engine.models.threads import TorchThreads

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from engine.models.ctgan.layout import OutputLayout
    from engine.models.ctgan.nets import FoldedGenerator


def generate_encoded(
    n: int,
    *,
    folded: FoldedGenerator,
    layout: OutputLayout,
    conditions: Callable[[int], torch.Tensor | None],
    generator: torch.Generator,
    fixed: tuple[int, int] | None,
    chunk: int,
    workers: int,
) -> np.ndarray:
    """``n`` generated rows, ``[n, folded.output_width]`` float32, ready for ``inverse_transform``.

    The first ``layout.width`` columns are the encoding (tanh on scalars, one-hot scores plus
    Gumbel noise); the rest are the output layer's padding. ``conditions(size)`` draws a
    chunk's condition indices from ``generator`` (None: no conditional vector); ``fixed``
    (condition column, category) is written into every row's one-hot block. ``workers``
    threads on CPU (one on GPU), ``chunk`` rows at a time.
    """
    import torch

    device = layout.device
    out = np.empty((n, folded.output_width), dtype=np.float32)
    if n == 0:
        return out
    host = torch.from_numpy(out)
    chunk = max(1, min(chunk, n))
    starts = iter(range(0, n, chunk))
    lock = threading.Lock()

    def run() -> None:
        with torch.inference_mode():
            work = folded.workspace(chunk, device)
            z = torch.empty((chunk, folded.noise_dim), device=device)
            noise = torch.empty((chunk, folded.output_width), device=device)
            staging = None if device.type == "cpu" else torch.empty((chunk, folded.output_width), device=device)
            while True:
                with lock:  # the chunk and all its random draws, in chunk order
                    begin = next(starts, None)
                    if begin is None:
                        return
                    size = min(chunk, n - begin)
                    condition = conditions(size)
                    z_rows = z[:size].normal_(generator=generator)
                    uniforms = noise[:size].uniform_(generator=generator)
                rows = host[begin : begin + size] if staging is None else staging[:size]
                folded.forward_into(z_rows, condition, rows, work[:size])
                layout.discretise(rows, uniform_to_gumbel_(uniforms))
                if fixed is not None:
                    layout.fix_category(rows, *fixed)
                if staging is not None:
                    host[begin : begin + size].copy_(rows)

    workers = 1 if device.type != "cpu" else max(1, min(workers, -(-n // chunk)))
    with TorchThreads(1 if device.type == "cpu" else None):
        if workers == 1:
            run()
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="ctgan-sample") as pool:
                for future in [pool.submit(run) for _ in range(workers)]:
                    future.result()
    return out


__all__ = ["generate_encoded"]
