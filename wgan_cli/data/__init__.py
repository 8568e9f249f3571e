"""Data sources (config group ``data``), one file per family."""

from wgan_cli.data.base import DATASETS, DataSource
from wgan_cli.data import toy  # noqa: F401  (registers the toy datasets)

__all__ = ["DATASETS", "DataSource"]
