"""The energy distance between held-out real and generated samples, a periodic task (``tasks.energy``):

    E(P, Q) = 2 E||X - Y|| - E||X - X'|| - E||Y - Y'||,   X, X' ~ P,  Y, Y' ~ Q

(Székely and Rizzo 2013): zero exactly when P = Q, no critic involved, so it checks the critic's
W1 estimate from outside. Computed on ``n`` samples per side (V-statistic) every ``every`` steps,
logged as ``energy/distance``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wgan_cli.config import require
from wgan_cli.schema.task import TaskConfig
from wgan_cli.training.tasks import TASKS, Task, TaskContext


@dataclass
class EnergyConfig(TaskConfig):
    name: str = "energy"
    every: int = 500
    n: int = 1000  # samples per side

    def check(self) -> None:
        super().check()
        require(self.n >= 2, "tasks.energy.n", self.n, "must be an integer >= 2")


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.flatten(1).double(), y.flatten(1).double()
    return (2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean()).item()


@TASKS.register("energy", EnergyConfig)
class EnergyDistance(Task):
    def measure(self, ctx: TaskContext) -> dict[str, float]:
        real, fake = ctx.draw(self.cfg.n)  # the task's own stream; the generator in eval mode
        return {"energy/distance": energy_distance(real, fake)}
