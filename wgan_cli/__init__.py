"""wgan-cli: a command-line runner for Wasserstein GAN experiments."""

__version__ = "0.1.0"
