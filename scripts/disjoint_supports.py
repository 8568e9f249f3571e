"""Why W1 and not JS: the WGAN paper's Example 1 (Arjovsky et al. 2017, Figures 1-2 in spirit).

P is uniform on {0} x [0, 1], Q_theta on {theta} x [0, 1] (``data=disjoint_lines``,
``model=shift``). For each theta this prints and plots

- W1(P, Q_theta), exact on samples (ot.emd2): |theta|;
- JS(P, Q_theta): log 2 for every theta != 0 (the supports are disjoint), 0 at theta = 0;
- dL/dtheta for the generator against a near-optimal critic (``loss=wasserstein`` with the
  gradient penalty: L = -E f(g_theta(z))), about sign(theta) in magnitude 1;
- dL/dtheta against a near-optimal discriminator under the minimax loss
  (L = E log(1 - D(g_theta(z)))), which vanishes as D saturates.

    python scripts/disjoint_supports.py [--out docs/disjoint_supports.png] [--steps 400]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from wgan_cli.critic.gp import GPConfig, GradientPenalty
from wgan_cli.data.base import DataConfig
from wgan_cli.data.toy import DisjointLines
from wgan_cli.metrics.w1 import exact_w1
from wgan_cli.model.mlp import mlp
from wgan_cli.model.shift import ShiftGenerator

N = 512  # samples per side


def generator_gradients(theta: float, steps: int = 400, seed: int = 0) -> dict[str, float]:
    """Exact W1, JS, and the generator's dL/dtheta against a trained WGAN critic and a trained
    minimax (JS) discriminator, at a fixed theta."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    data = DisjointLines(DataConfig(name="disjoint_lines"), torch.device("cpu"))
    generator = ShiftGenerator(theta)
    real = data.sample(N, g)
    z = torch.randn(N, 1, generator=g)
    fake = generator(z).detach()
    out = {"theta": theta, "w1_exact": exact_w1(real, fake), "js": 0.0 if theta == 0 else math.log(2)}

    # a near-optimal WGAN critic: max E_P f - E_Q f, with the gradient penalty
    critic, gp = mlp(2, 64, 2, 1), GradientPenalty(GPConfig(weight=10.0))
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
    for _ in range(steps):
        loss = critic(fake).mean() - critic(real).mean() + gp.penalty(critic, real, fake, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    loss_g = -critic(generator(z)).mean()
    out["grad_wgan"] = torch.autograd.grad(loss_g, generator.theta)[0].item()

    # a near-optimal discriminator: max E_P log D + E_Q log(1 - D), D = sigmoid(logit)
    disc = mlp(2, 64, 2, 1)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.5, 0.9))
    for _ in range(steps):
        lr_, lf = disc(real), disc(fake)
        loss = F.binary_cross_entropy_with_logits(lr_, torch.ones_like(lr_)) + \
            F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))
        opt.zero_grad()
        loss.backward()
        opt.step()
    loss_g = -F.softplus(disc(generator(z))).mean()  # log(1 - sigmoid(l)) = -softplus(l)
    out["grad_js"] = torch.autograd.grad(loss_g, generator.theta)[0].item()
    return out


def plot(rows: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    theta = np.array([r["theta"] for r in rows])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(theta, [r["w1_exact"] for r in rows], "o-", label="W1 (exact on samples)")
    left.plot(theta, [r["js"] for r in rows], "s--", label="JS divergence")
    left.set_xlabel("theta")
    left.set_title("distance between P and Q_theta")
    left.legend()
    right.plot(theta, [abs(r["grad_wgan"]) for r in rows], "o-", label="WGAN critic (gradient penalty)")
    right.plot(theta, [abs(r["grad_js"]) for r in rows], "s--", label="minimax GAN discriminator")
    right.set_xlabel("theta")
    right.set_title("|dL/dtheta| the generator receives")
    right.legend()
    fig.suptitle("Disjoint supports (WGAN paper, Example 1): W1 is continuous in theta and its gradient useful")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/disjoint_supports.png")
    p.add_argument("--steps", type=int, default=400, help="training steps of each critic / discriminator")
    p.add_argument("--points", type=int, default=11, help="values of theta in [-1, 1]")
    args = p.parse_args()
    rows = []
    print(f"{'theta':>7} {'W1':>8} {'JS':>7} {'dL/dtheta WGAN':>15} {'dL/dtheta JS':>13}")
    for theta in np.linspace(-1, 1, args.points):
        r = generator_gradients(float(theta), args.steps)
        rows.append(r)
        print(f"{r['theta']:7.2f} {r['w1_exact']:8.4f} {r['js']:7.4f} {r['grad_wgan']:15.4f} {r['grad_js']:13.2e}")
    plot(rows, Path(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
