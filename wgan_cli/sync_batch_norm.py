"""Batch normalization over the global batch when it is split over ranks (torchrun, submitit tasks).

In training mode BatchNorm normalizes each channel by the statistics of the batch it sees. Split
over N ranks, each would see only its own rows, and N processes would no longer take the steps of
one. Here every rank sums over its rows and the sums are added over ranks:

    mean = sum_r sum_i x_ri / n,    var = sum_r sum_i (x_ri - mean)^2 / n,    n = sum_r n_r
    y = (x - mean) / sqrt(var + eps) * weight + bias

with autograd-aware all-reduces (their backward all-reduces the incoming gradients), so the
gradient of each rank's loss reaches the rows of every rank, as it does in one process. Running
statistics take the global mean and the unbiased ``var * n / (n - 1)``, the same on every rank.
Unlike ``torch.nn.SyncBatchNorm`` (CUDA only) this runs on gloo too, so the CPU tests check it;
eval mode and a single process use ``F.batch_norm`` unchanged. State dicts are BatchNorm's.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_autograd
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


class SyncBatchNorm(_BatchNorm):
    """BatchNorm1d/2d/3d whose training-mode statistics are those of the batch over all ranks."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input_dim(x)
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = x.new_tensor([x.numel() / x.shape[1]], dtype=torch.float32)
        sums = dist_autograd.all_reduce(torch.cat([x.float().sum(dims), count]))
        n = sums[-1]
        mean = sums[:-1] / n
        centered = x.float() - mean.view(shape)
        var = dist_autograd.all_reduce(centered.square().sum(dims)) / n
        y = centered * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            self.update_running_stats(mean.detach(), var.detach() * n / (n - 1).clamp(min=1))
        return y.to(x.dtype)

    @torch.no_grad()
    def update_running_stats(self, mean: Tensor, unbiased_var: Tensor) -> None:
        """What ``F.batch_norm`` does to the buffers: an exponential (or, momentum None, cumulative) average."""
        self.num_batches_tracked.add_(1)
        momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
        self.running_var.lerp_(unbiased_var.to(self.running_var.dtype), momentum)


def sync_batch_norm(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm layer normalizing over all ranks (in place; the same
    parameter and buffer tensors, so optimizers, EMA copies and checkpoints see no change)."""
    for name, child in module.named_children():
        if isinstance(child, _BatchNorm) and not isinstance(child, SyncBatchNorm):
            synced = SyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                   child.track_running_stats)
            synced._parameters, synced._buffers = child._parameters, child._buffers
            synced.train(child.training)
            setattr(module, name, synced)
        else:
            sync_batch_norm(child)
    return module
