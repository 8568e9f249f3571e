"""A training step replayed as one CUDA graph (``train.cuda_graph=true``, on CUDA).

A generator step of the small models is launch-bound on a GPU: hundreds of kernels of a few
microseconds each, every one launched from Python. Captured once, the whole step (n_critic critic
updates and the generator update) replays as a single launch. What capture needs, the trainer
provides: no host synchronization inside a step (tests/test_cuda_graphs.py), static shapes, data drawn on
the device, optimizers with ``capturable=True`` whose learning rates are device tensors (the
schedulers ``fill_`` them), and the training ``torch.Generator`` registered with the graph, so each
replay draws fresh numbers and advances its offset exactly as the eager step would.

On an H100 (tests/test_cuda_graphs.py): replays equal eager steps to float32 rounding under
deterministic kernels, with no host synchronization; 8.5x-10x the reference loop on the toy GP,
where eager steps gave 1.16x (README, Measured).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

WARMUP = 3  # eager calls (on a side stream) before capture: lazy init, cuDNN autotuning, optimizer state


class StepGraph:
    """``fn()`` run eagerly for the first ``warmup`` calls, then captured; every later call replays
    the graph and returns the captured outputs, the same tensors overwritten by each replay."""

    def __init__(self, fn: Callable[[], Any], generators: list[torch.Generator], warmup: int = WARMUP) -> None:
        self.fn, self.generators, self.warmup = fn, generators, warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.outputs: Any = None
        self.calls = 0
        self.side: torch.cuda.Stream | None = None

    def __call__(self) -> Any:
        if self.graph is None and self.calls < self.warmup:
            self.calls += 1
            self.side = self.side or torch.cuda.Stream()
            self.side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side):
                outputs = self.fn()
            torch.cuda.current_stream().wait_stream(self.side)
            return outputs
        if self.graph is None:
            self.capture()
        self.graph.replay()
        return self.outputs

    def capture(self) -> None:
        graph = torch.cuda.CUDAGraph()
        for generator in self.generators:
            graph.register_generator_state(generator)
        with torch.cuda.graph(graph):  # records the kernels without running them
            self.outputs = self.fn()
        self.graph = graph


def lr_on_device(optimizer: torch.optim.Optimizer) -> None:
    """Make ``optimizer`` capturable: learning rates as tensors on the parameters' device (a captured
    step reads the tensor, so a scheduler's ``fill_`` reaches it) and step counts there too."""
    for group in optimizer.param_groups:
        group["capturable"] = True
        if not isinstance(group["lr"], Tensor):
            group["lr"] = torch.tensor(float(group["lr"]), device=group["params"][0].device)
    for param, state in optimizer.state.items():
        if "step" in state:
            state["step"] = state["step"].to(device=param.device, dtype=torch.float32)


def portable(optimizer_state: dict[str, Any]) -> dict[str, Any]:
    """An optimizer's ``state_dict()`` that any device loads: float learning rates, not capturable."""
    for group in optimizer_state["param_groups"]:
        if isinstance(group["lr"], Tensor):
            group["lr"] = group["lr"].item()
        if "capturable" in group:
            group["capturable"] = False
    return optimizer_state
