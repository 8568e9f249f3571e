"""Training a WGAN: the trainer that builds a run (``trainer.py``) from its networks and
optimizers (``components.py``), one step (``step.py``), the evaluation, the run's state, the
periodic tasks and the loop, one module each."""

from wgan_cli.training.components import Diverged, make_optimizer, make_scheduler, update_ema
from wgan_cli.training.trainer import Trainer

__all__ = ["Diverged", "Trainer", "make_optimizer", "make_scheduler", "update_ema"]
