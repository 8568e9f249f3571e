"""Data-parallel training under ``torchrun --nproc_per_node=N wgan-cli train ...``.

Every rank draws the same global random stream (the run's seed) and computes only its own rows of
each global batch (``Shard.rows``): its data, noise and interpolation weights are rank r's slice of
what a single process with the same global batch would draw. The models are wrapped in
``DistributedDataParallel``, which averages gradients over ranks: the mean over r of rank r's
batch mean is the global mean, so N processes take the single process's steps up to float
rounding. Rank 0 alone logs, evaluates and checkpoints; a checkpoint needs nothing from other
ranks, since their random streams equal rank 0's.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wgan_cli.errors import UserError

if TYPE_CHECKING:  # torch is imported by the functions that use it: composing a config never needs it
    import torch
    from torch import Tensor, nn


def _group_exists() -> bool:
    """Whether this process is in a process group (none can exist before torch is imported)."""
    if "torch.distributed" not in sys.modules:
        return False
    import torch.distributed as dist  # lazy: keeps torch out of start-up

    return dist.is_available() and dist.is_initialized()


@dataclass(frozen=True)
class Shard:
    """This process's part of every global batch."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rows(self, x: Tensor | list) -> Tensor | list:
        """Rank r's rows r*n .. (r+1)*n - 1 of a global batch of world*n rows (or of a list)."""
        if self.world == 1:
            return x
        n = len(x) // self.world
        return x[self.rank * n:(self.rank + 1) * n]


WHOLE = Shard()


def launched() -> bool:
    """True inside a torchrun worker of a group of more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def current_shard() -> Shard:
    if _group_exists():
        import torch.distributed as dist  # lazy: keeps torch out of start-up

        return Shard(dist.get_rank(), dist.get_world_size())
    return WHOLE


def setup(args: list[str]) -> list[str]:
    """Join the process group (gloo for CPU tensors, NCCL for CUDA ones) and return ``args`` with
    the overrides that make every rank write into rank 0's run dir, with one ``.hydra`` record
    and one log."""
    if any(a in ("-m", "--multirun") for a in args):
        raise UserError("torchrun runs one training run over several processes; a sweep (-m) cannot run under "
                        "it: start one torchrun per configuration")
    import torch.distributed as dist  # lazy: keeps torch out of start-up

    join_group()
    run_dir = [time.strftime("outputs/%Y-%m-%d/%H-%M-%S")]
    dist.broadcast_object_list(run_dir, src=0)
    extra = [] if any(a.startswith("hydra.run.dir=") for a in args) else [f"hydra.run.dir={run_dir[0]}"]
    if dist.get_rank() != 0:
        extra += ["hydra.output_subdir=null", "hydra/job_logging=none", "hydra/hydra_logging=none"]
    return [*args, *extra]


def join_group() -> None:
    """Join the process group that torchrun's variables describe (MASTER_ADDR, MASTER_PORT, RANK,
    WORLD_SIZE, LOCAL_RANK); on CUDA this process takes GPU LOCAL_RANK."""
    import torch  # lazy: keeps torch out of start-up
    import torch.distributed as dist  # lazy: keeps torch out of start-up

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")


def join_submitit_tasks() -> bool:
    """Inside a submitit job of several tasks (``hydra.launcher.tasks_per_node=N``, ``nodes=M``):
    make its tasks one data-parallel run, as torchrun's workers would be. submitit's
    ``TorchDistributedEnvironment`` sets torchrun's variables from SLURM's (or its local executor's):
    MASTER_ADDR the job's first node, MASTER_PORT drawn from the job id, RANK, WORLD_SIZE,
    LOCAL_RANK. Returns whether this process joined a group (then ``teardown`` at the job's end)."""
    if not os.environ.get("SUBMITIT_EXECUTOR") or launched() or _group_exists():
        return False
    import submitit  # lazy: keeps submitit out of start-up

    if submitit.JobEnvironment().num_tasks == 1:
        return False
    submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    join_group()
    return True


@contextmanager
def leaving_group() -> Iterator[None]:
    """Leave the process group (if any) when the block ends: after every rank got there when it
    ended normally, at once when it raised."""
    try:
        yield
    except BaseException:
        teardown()
        raise
    teardown(wait=True)


def teardown(wait: bool = False) -> None:
    """Leave the process group; ``wait``: after every rank got here (the run ended normally)."""
    if _group_exists():
        import torch.distributed as dist  # lazy: keeps torch out of start-up

        if wait:
            dist.barrier()
        dist.destroy_process_group()


def wrap(module: nn.Module, shard: Shard, device: torch.device) -> nn.Module:
    """``module`` under DistributedDataParallel when there are several ranks, else itself. Its
    BatchNorm layers (in place) then normalize over the global batch (``sync_batch_norm``)."""
    if shard.world == 1 or not any(p.requires_grad for p in module.parameters()):
        return module
    from torch.nn.parallel import DistributedDataParallel  # lazy: keeps torch out of start-up

    from wgan_cli.sync_batch_norm import sync_batch_norm  # lazy: keeps torch out of start-up

    sync_batch_norm(module)

    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def mean_over_ranks(values: dict[str, Tensor], shard: Shard) -> dict[str, Tensor]:
    """Each value averaged over the ranks (the logged losses are then the global batch's)."""
    if shard.world == 1 or not values:
        return values
    import torch  # lazy: keeps torch out of start-up
    import torch.distributed as dist  # lazy: keeps torch out of start-up

    stacked = torch.stack([v.float() for v in values.values()])
    dist.all_reduce(stacked)
    return dict(zip(values, stacked / shard.world))


def any_rank(flag: bool, shard: Shard, device: torch.device) -> bool:
    """True on every rank when it is true on one (all ranks stop at the same step)."""
    if shard.world == 1:
        return flag
    import torch  # lazy: keeps torch out of start-up
    import torch.distributed as dist  # lazy: keeps torch out of start-up

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def barrier(shard: Shard) -> None:
    """Wait for every rank: before the group is torn down, so that no rank leaves while rank 0
    still evaluates and saves (gloo aborts a process whose peer vanished mid-connection)."""
    if shard.world > 1:
        import torch.distributed as dist  # lazy: keeps torch out of start-up

        dist.barrier()
