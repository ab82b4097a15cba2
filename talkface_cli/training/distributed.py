"""Process-group set-up for `torchrun` (gloo on CPU, nccl on GPU) and rank-aware helpers."""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..device import resolve_device


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device: str | None = None) -> DistInfo:
    """Join the torchrun process group when launched by torchrun, else a world of one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(0, 1, 0, resolve_device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        # DDP imports this module, whose functions take `group=group.WORLD` as a default: imported
        # after the group is made, they hold it for good, `teardown` cannot free it, and gloo's
        # threads live on into the interpreter's exit (see `teardown`). Imported first, the
        # default is None.
        import torch.distributed.nn.functional as _  # noqa: F401

        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev)


def own_share_first(items: list) -> list:
    """`items` with this torchrun process's share (every WORLD_SIZE-th, from its RANK) first, then the
    rest; unchanged in a world of one. A task's first pass, which caches per clip (content
    features, renders, emotion conditions), so splits across the processes without a word between
    them: each caches its share, and by the time it walks the rest the others have cached theirs.
    A clip done twice costs time only (the cache writes are atomic). The pass runs before the
    process group exists; torchrun has set the variables."""
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    return items[rank::world] + [x for i, x in enumerate(items) if i % world != rank]


def barrier(info: DistInfo) -> None:
    if info.world > 1:
        dist.barrier()


def mean_across(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a tensor over ranks (identity in a world of one)."""
    if info.world > 1:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= info.world
    return values


def teardown(info: DistInfo) -> None:
    """Free the process group and join its threads while Python is whole. The DDP wrapper holds
    the group, so it must be gone by now. A gloo worker that let go of its last collective (a
    Python tensor) while the interpreter was exiting aborted the process ("terminate called
    without an active exception"): torchrun then failed a run that had finished, about one in 50
    under load."""
    if info.world > 1 and dist.is_initialized():
        gc.collect()  # a wrapper in a reference cycle
        dist.destroy_process_group()
