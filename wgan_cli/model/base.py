"""A model entry builds the pair (generator, critic) for a data shape.

The generator maps noise z ~ N(0, I) of shape [B, noise_dim] to samples of the data shape;
the critic maps samples to one real number each, shape [B].
"""

from __future__ import annotations

from wgan_cli.config import require
from wgan_cli.schema.model import MODELS, ModelConfig  # noqa: F401  (re-exported)


def image_geometry(model: str, shape: tuple[int, ...], multiple: int) -> tuple[int, int, int]:
    """Check that a convolutional model can serve the data's shape: square images whose side
    is a multiple of ``multiple`` (each stride-2 stage halves it). Returns (C, H, W)."""
    require(len(shape) == 3, "model", model, f"needs image data, but the data's samples have shape {tuple(shape)}; use model=mlp")
    c, h, w = shape
    require(
        h == w and h % multiple == 0 and h >= multiple,
        "data.size", h,
        f"model={model} needs square images whose side is a multiple of {multiple} (for example data.size=32)",
    )
    return c, h, w
