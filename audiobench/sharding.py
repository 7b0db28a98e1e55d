"""Extraction across processes started by ``torchrun`` (one node or many, through its
rendezvous).

Every rank plans the same batches from the same cache state, takes every ``world_size``-th
batch, encodes it and writes its own cache chunks; batches are identical to a single
process's, so the cache afterwards holds the same numbers. Outside torchrun there is one
shard and nothing here touches ``torch.distributed``. Torch is imported only by the functions
that need it: reading a process's shard stays free of it (cache-hit runs never import torch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from audiobench.errors import ConfigError

if TYPE_CHECKING:
    import torch

T = TypeVar("T")
#: Ranks wait this long for each other (the slowest rank's whole share of the clips).
TIMEOUT = timedelta(hours=6)


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    #: Processes on this machine (torchrun's LOCAL_WORLD_SIZE): they share its CPU cores.
    local_world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def take(self, items: list[T]) -> list[T]:
        """This rank's share: every ``world_size``-th item, starting at ``rank``."""
        return items[self.rank::self.world_size]


def current_shard() -> Shard:
    """The shard torchrun assigned to this process (its RANK, WORLD_SIZE, LOCAL_RANK,
    LOCAL_WORLD_SIZE)."""
    env = os.environ
    return Shard(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)),
                 int(env.get("LOCAL_WORLD_SIZE", 1)))


def check_ranks(shard: Shard, clips: int, what: str) -> None:
    if shard.world_size > clips:
        raise ConfigError(f"{shard.world_size} ranks for {clips} clips of {what}",
                          "start torchrun with at most as many processes as clips")


def rank_device(device: torch.device, shard: Shard) -> torch.device:
    """Each rank of a node gets its own GPU (``cuda`` -> ``cuda:LOCAL_RANK``)."""
    if shard.distributed and device.type == "cuda" and device.index is None:
        import torch

        return torch.device("cuda", shard.local_rank)
    return device


def join(shard: Shard, device: torch.device) -> None:
    """Join the process group (NCCL on GPUs, gloo on CPUs) unless already in one."""
    import torch
    import torch.distributed as dist

    if shard.distributed and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)


def barrier(shard: Shard) -> None:
    if shard.distributed:
        import torch.distributed as dist

        dist.barrier()


def gather(shard: Shard, value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order (just ``[value]`` in a single process)."""
    if not shard.distributed:
        return [value]
    import torch.distributed as dist

    values: list[Any] = [None] * shard.world_size
    dist.all_gather_object(values, value)
    return values
