"""Memory a request needs, estimated before the work starts, against what the machine has.

A request that cannot fit is refused in one line naming the key, the estimate, what is available
and the largest value that fits, instead of being killed by the kernel (host) or raising an
out-of-memory error (CUDA) minutes later. The estimates are coarse on purpose (within a factor of
about 2 of the measured peak): they tell a request that cannot fit from one that may.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import torch

from wgan_cli.errors import UserError

GiB = 2**30
# ot.emd2 on an n x m problem: the float64 cost matrix and the network simplex's arcs hold
# 5.2 x 8 n m bytes at peak (measured for n = m = 1000, 2000 and 4000)
EXACT_BYTES_PER_PAIR = 44
SINKHORN_BYTES_PER_PAIR = 32  # the cost matrix, its kernel and the plan, float64
LP_BYTES_PER_PAIR = 400  # scipy HiGHS: one variable and its constraint entries per pair


class TooLarge(UserError):
    """A request that does not fit in memory (exit code 2: a bad value, not a failed run)."""

    exit_code = 2


def host_available() -> int:
    """Bytes this process may still allocate: MemAvailable, capped by a cgroup (container) limit."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except OSError:
        pass
    if available is None:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            if limit.isdigit() and int(limit) < 2**60:
                available = min(available, int(limit) - int(Path(usage_file).read_text()))
                break
        except (OSError, ValueError):
            continue
    return max(0, available)


def device_available(device) -> int:  # noqa: ANN001 - a torch.device
    if getattr(device, "type", "cpu") == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free
    return host_available()


def size(n_bytes: float) -> str:
    return f"{n_bytes / GiB:.1f} GiB" if n_bytes >= GiB / 10 else f"{n_bytes / 2**20:.0f} MiB"


def require_fits(key: str, value: int, need: Callable[[int], float], available: int, what: str,
                 advice: str = "") -> None:
    """Refuse ``key=value`` when ``need(value)`` bytes exceed ``available``, naming the largest value
    that fits (``need`` grows with the value)."""
    if need(value) <= available:
        return
    low, high = 0, value  # the largest v with need(v) <= available
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if need(mid) <= available else (low, mid - 1)
    largest = f"the largest that fits is about {low}" if low >= 1 else "nothing of this kind fits"
    raise TooLarge(f"{key}={value}: {what} needs about {size(need(value))}, {size(available)} available; "
                   f"{largest}" + (f"; {advice}" if advice else ""))


def exact_w1_bytes(n: int, m: int | None = None) -> float:
    return EXACT_BYTES_PER_PAIR * n * (n if m is None else m)


def largest_square(bytes_per_pair: int, available: int) -> int:
    return int(math.sqrt(max(0, available) / bytes_per_pair))


def activations_per_sample(net, shape: tuple[int, ...]) -> int:  # noqa: ANN001 - an nn.Module
    """Output elements of every leaf module for one input of ``shape`` (a forward pass on two zero
    inputs in eval mode, under no_grad: no state of the net changes)."""
    count = [0]
    hooks = [m.register_forward_hook(lambda m, i, o: count.__setitem__(0, count[0] + o.numel()))
             for m in net.modules() if not list(m.children())]
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros((2, *shape)))
    finally:
        net.train(was_training)
        for hook in hooks:
            hook.remove()
    return count[0] // 2


def training_step_bytes(generator, critic, data_shape: tuple[int, ...], noise_dim: int,  # noqa: ANN001
                        double_backward: bool) -> Callable[[int], float]:
    """Bytes of one training step at batch B (float32): the critic step puts B real and B fake
    samples through the critic, the generator step B through both nets; the activations kept for
    the backward pass and their gradients take 1.5 times the forward outputs, 2.5 times under the
    gradient penalty's double backward. Plus the weights, their gradients and two Adam moments.
    Measured on the CPU (peak resident memory of two steps; mlp, cnn32 and resnet32, gp and sn):
    0.9x to 1.8x of the real peak."""
    per_sample_data = math.prod(data_shape)
    critic_acts = activations_per_sample(critic, data_shape) + per_sample_data
    generator_acts = activations_per_sample(generator, (noise_dim,)) + critic_acts
    factor = 2.5 if double_backward else 1.5
    weights = 4 * sum(p.numel() for net in (generator, critic) for p in net.parameters())

    def need(batch: int) -> float:
        return 4 * factor * batch * max(2 * critic_acts, generator_acts) + 4 * weights

    return need
