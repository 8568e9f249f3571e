"""Lipschitz strategies for the critic (config group ``critic``), one file each."""

from wgan_cli.critic.base import STRATEGIES, LipschitzStrategy
from wgan_cli.critic import clip, gp, lp, orthonormal, sinkhorn, sn  # noqa: F401  (registers the strategies)

__all__ = ["STRATEGIES", "LipschitzStrategy"]
