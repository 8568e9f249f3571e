"""Generator/critic architectures (config group ``model``), one file each."""

from wgan_cli.model.base import MODELS, ModelConfig
from wgan_cli.model import cnn, mlp, resnet, shift  # noqa: F401  (registers the models)

__all__ = ["MODELS", "ModelConfig"]
