"""Data sources (config group ``data``), one file per family."""

from wgan_cli.data.base import DATASETS, DataSource
from wgan_cli.data import image_folder, images, toy  # noqa: F401  (registers the datasets)

__all__ = ["DATASETS", "DataSource"]
