"""A critic fitted to two fixed samples: the Kantorovich-Rubinstein estimate of W1(x, y).

    max_f  E_x f - E_y f   over f kept 1-Lipschitz by a strategy (critic=...)

through the critic updates of training (``Step.critic_update``) with the configuration
``wgan-cli train critic=NAME`` composes: the strategy, the MLP critic and the strategy's own
recipe (``optim=``: optimizer, ``lr_d``, betas, decay over ``steps``). The points are divided by
their joint standard deviation s before fitting, and the estimate multiplied back by s (W1 scales
linearly; the Lipschitz constant is unchanged).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from wgan_cli.critic import STRATEGIES
from wgan_cli.distributed import WHOLE
from wgan_cli.errors import UserError
from wgan_cli.loss import LOSSES
from wgan_cli.metrics.lipschitz import empirical_lipschitz
from wgan_cli.model import MODELS
from wgan_cli.progress import Progress
from wgan_cli.schema import compose_config
from wgan_cli.training.components import make_optimizer, make_scheduler
from wgan_cli.training.run_state import RunState
from wgan_cli.training.step import Step

LIPSCHITZ_POINTS = 1000  # points per side over whose pairs the empirical constant is taken


@dataclass
class CriticFit:
    estimate: float  # E_x f - E_y f on all the points, in the data's units
    lipschitz: float  # empirical constant: max |f(u) - f(v)| / ||u - v|| over pairs of sampled points
    seconds: float  # the fit's wall time
    critic: torch.nn.Module | None = field(default=None, repr=False)  # f(x / scale), in eval mode
    scale: float = 1.0  # the joint standard deviation the points were divided by

    @property
    def lower_bound(self) -> float:
        """estimate / L_emp: a lower bound on W1 whatever the critic's true constant."""
        return self.estimate / self.lipschitz if self.lipschitz > 0 else 0.0


def fit_critic(x: np.ndarray, y: np.ndarray, critic: str = "gp", steps: int = 1000, seed: int = 0,
               overrides: tuple[str, ...] = ()) -> CriticFit:
    """Fit the critic of ``critic=NAME`` (plus any train ``overrides``) to x [N, d] and y [M, d]."""
    cfg = compose_config([f"critic={critic}", "model=mlp", "loss=wasserstein", f"seed={seed}", *overrides])
    strategy, loss = STRATEGIES.build(cfg.critic), LOSSES.build(cfg.loss)
    if not strategy.estimates_w1:
        raise UserError(f"critic={critic}: its objective is no W1 estimate; choose a Lipschitz critic")
    if not strategy.has_network:
        raise UserError(f"critic={critic}: has no critic network to fit")
    device = torch.device("cpu")
    torch.manual_seed(seed)
    _, D = MODELS.build(cfg.model, (x.shape[1],))
    D = strategy.prepare(D)
    opt_d = make_optimizer(cfg.optim, D.parameters(), cfg.optim.lr_d, device)
    schedule = make_scheduler(cfg.optim, opt_d, steps)
    rng = torch.Generator().manual_seed(seed)
    update = Step(cfg, None, strategy, loss, {"G": None, "D": D, "G_train": None, "D_train": D}, (None, opt_d),
                  RunState(rng, fixed_noise=torch.empty(0)), WHOLE, device, skip_nan=False)
    scale = float(np.concatenate([x, y]).std()) or 1.0
    xs, ys = (torch.tensor(v / scale, dtype=torch.float32) for v in (x, y))
    batch = min(cfg.batch_size, len(xs), len(ys))
    start = time.perf_counter()
    progress = Progress(f"critic fit (critic={critic})", steps, unit="step")
    for _ in range(steps):
        real = xs[torch.randint(len(xs), (batch,), generator=rng)]
        fake = ys[torch.randint(len(ys), (batch,), generator=rng)]
        update.critic_update(real, fake)
        schedule.step()
        progress.advance()
    progress.close()
    seconds = time.perf_counter() - start
    D.eval()
    with torch.no_grad():
        estimate = (D(xs).mean() - D(ys).mean()).item() * scale
    n = LIPSCHITZ_POINTS
    points = torch.cat([xs[torch.randperm(len(xs), generator=rng)[:n]], ys[torch.randperm(len(ys), generator=rng)[:n]]])
    return CriticFit(estimate, empirical_lipschitz(D, points, points), seconds, D, scale)
