"""Data-parallel training under ``torchrun``: the one fit loop on N processes.

``torchrun --nproc-per-node N -m engine train DATA --model argn --out m.doppel`` starts N
copies of the CLI; ``join_from_environment`` (called by it) joins them into one process group
(gloo on CPU, nccl on GPU) when ``WORLD_SIZE`` > 1. Then, in every process:

- the same seeds give the same initial weights (and rank 0's are broadcast, to be sure);
- every global batch is split between the processes (``shard``: rank r takes rows r, r + N,
  ...), each computes the mean loss of its share, and the gradients are averaged over the
  processes before every optimizer step (``average_gradients``): DistributedDataParallel's
  rule, applied as an optimizer pre-step hook because the models' losses are methods, not
  ``forward`` calls that DDP's hooks would see. The weights stay identical on every process;
- under DP each process Poisson-samples its own disjoint share of the rows at the same rate
  (the union is a Poisson sample of all rows), the clipped sums are added across processes
  and the noise is added once, by rank 0 (Opacus's distributed optimizers): the accountant's
  (noise, rate, steps) are those of one process, so is the epsilon;
- decisions that depend on a clock (the time limit) are rank 0's (``agree``);
- only rank 0 reports progress, writes checkpoints and saves the model.

Without a process group every function here is the identity: a single process is a world
of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world() -> World:
    """The current process group's rank and size; a world of one without a group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return World(rank=dist.get_rank(), size=dist.get_world_size())
    return World()


def join_from_environment(*, device: str) -> World:
    """Join the process group ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1).

    The backend is nccl for a CUDA ``device`` (each process on ``cuda:LOCAL_RANK``), gloo
    otherwise. Returns the world (of one when ``WORLD_SIZE`` is unset or 1).
    """
    import torch
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return world()
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return world()


def leave(*, synchronize: bool = True) -> None:
    """Leave the process group, if any (at the end of a distributed run).

    ``synchronize``: wait at a barrier until every process has come this far, so that no
    process tears its connections down while another still talks over them (rank 0 saving
    the model while rank 1 had already left ended rank 1 with gloo's "terminate called
    without an active exception"). Pass False on an error path, where another process may
    never arrive (torchrun stops the others when one fails).
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if synchronize and dist.get_world_size() > 1:
            dist.barrier()
        dist.destroy_process_group()


def shard(rows: torch.Tensor) -> torch.Tensor:
    """This process's share of a global batch's row indices (all of them in a world of one)."""
    w = world()
    return rows if w.size == 1 else rows[w.rank :: w.size]


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every process (pickled by torch over the process group)."""
    import torch.distributed as dist

    if world().size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def agree(flag: bool) -> bool:
    """Rank 0's ``flag`` on every process: one decision where clocks differ."""
    return bool(broadcast_object(bool(flag)))


def average_gradients(module_optimizers: list[tuple[Any, Any]]) -> None:
    """Make data-parallel training of these (modules, optimizer) pairs: rank 0's weights on every
    process now, and before every step of each optimizer its gradients averaged over the
    processes. Nothing happens in a world of one."""
    import torch
    import torch.distributed as dist

    w = world()
    if w.size == 1:
        return
    for modules, optimizer in module_optimizers:
        with torch.no_grad():
            for module in modules:
                for tensor in [*module.parameters(), *module.buffers()]:
                    dist.broadcast(tensor.data, src=0)

        def average(opt: torch.optim.Optimizer, *_: Any) -> None:
            # every parameter takes part (a missing gradient counts as zero), so that the
            # processes exchange tensors of one size and end with the same update
            params = [p for group in opt.param_groups for p in group["params"] if p.requires_grad]
            flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            flat /= w.size
            offset = 0
            for p in params:
                p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
                offset += p.numel()

        optimizer.register_step_pre_hook(average)


__all__ = ["World", "agree", "average_gradients", "broadcast_object", "join_from_environment", "leave", "shard", "world"]
