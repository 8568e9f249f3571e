"""Counting the FLOPs and resident memory of training steps (scripts/bench_train.py and the tests)."""

from __future__ import annotations

import os
from typing import Callable

from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry


def rss_mb() -> float:
    """This process's resident memory in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def count_flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call of ``fn`` by ``torch.utils.flop_counter``'s formulas: matmuls and
    convolutions, forward, backward and double backward. Its ``FlopCounterMode`` cannot follow
    ``autograd.grad`` (its module tracker raises), so the formulas are applied from a plain
    dispatch mode."""
    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
            out = func(*args, **(kwargs or {}))
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                Count.total += formula(*args, **(kwargs or {}), out_val=out)
            return out

    with Count():
        fn()
    return float(Count.total)
