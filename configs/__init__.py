"""Hydra config groups of wgan-cli, installed as the package ``wgan_cli.configs``."""
