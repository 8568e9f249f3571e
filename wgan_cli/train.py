"""``wgan-cli train``: the Hydra app that composes ``configs/`` and runs the trainer."""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

# importing the component packages registers their names and config schemas
import wgan_cli.config  # noqa: F401
import wgan_cli.critic  # noqa: F401
import wgan_cli.data  # noqa: F401
import wgan_cli.loss  # noqa: F401
import wgan_cli.model  # noqa: F401
from wgan_cli.errors import UserError, full_errors_wanted, install_one_line_errors, report

CONFIG_PATH = "pkg://wgan_cli.configs"


def compose_config(overrides: list[str]) -> DictConfig:
    """The config ``wgan-cli train OVERRIDES`` would run, composed without running it."""
    from hydra import compose, initialize_config_module

    with initialize_config_module("wgan_cli.configs", version_base=None):
        return compose("config", overrides=overrides)


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="config")
def train(cfg: DictConfig) -> float:
    from wgan_cli.trainer import Trainer

    try:
        metrics = Trainer(cfg, Path(HydraConfig.get().runtime.output_dir)).fit()
    except UserError as ex:
        if full_errors_wanted():
            raise
        report(ex)  # one line and exit here: Hydra's job runner would log a second line first
    return metrics["w1/exact"]


def main() -> None:
    install_one_line_errors()
    train()
