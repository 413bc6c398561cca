"""Data-parallel runs under ``torchrun``: who am I, and am I the one who writes?

``torchrun --nproc-per-node N -m fingerspell train ...`` starts N copies of the same command.
Feature extraction is sharded across them (each fills the shared cache with its share), fine-tuning
runs under PyTorch DDP with a DistributedSampler, and only rank 0 writes the run folder. Training
the head on cached features takes seconds, so every rank trains the same head (same seed, same
data) instead of synchronising it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.active:
            torch_dist.barrier()


def init_from_env(device_type: str) -> Dist:
    """Join the process group that torchrun describes in the environment (no-op otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    return Dist(torch_dist.get_rank(), world, local_rank)
