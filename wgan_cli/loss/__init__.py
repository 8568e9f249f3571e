"""Adversarial losses (config group ``loss``), one file each."""

from wgan_cli.loss.base import LOSSES, AdversarialLoss
from wgan_cli.loss import hinge, nonsaturating, wasserstein  # noqa: F401  (registers the losses)

__all__ = ["LOSSES", "AdversarialLoss"]
