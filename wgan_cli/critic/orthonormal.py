"""A critic 1-Lipschitz by construction (Anil, Lucas and Grosse 2019, "Sorting out Lipschitz
function approximation"; Serrurier et al. 2021), built from deel-torchlip's layers.

Every linear and convolutional layer's weight W is orthonormalized at each training forward pass:
divided by its largest singular value (power iteration), then Björck iterations
W <- (1 + beta) W - beta W W^T W drive every singular value to 1; a convolution is further scaled
by the coefficient of its kernel size and stride. Every activation becomes GroupSort2 (each pair of
units sorted), which is gradient-norm preserving. The composed critic f has Lip(f) <= 1 with
||grad f|| = 1 reachable almost everywhere, so with no penalty term

    E_P f - E_Q f <= W1(P, Q)   (a certified lower bound, tight once f is the optimal potential).
"""

from __future__ import annotations

from torch import nn

from wgan_cli.config import require
from wgan_cli.critic.base import STRATEGIES, LipschitzStrategy
from wgan_cli.errors import ConfigError
from wgan_cli.schema.critic import OrthonormalConfig

ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Tanh)
PLAIN = (nn.Flatten, nn.Identity, nn.Sequential)


@STRATEGIES.register("orthonormal", OrthonormalConfig)
class Orthonormal(LipschitzStrategy):
    capturable = False  # the Björck and power iterations stop on a tolerance checked on the host

    def prepare(self, critic: nn.Module) -> nn.Module:
        if not getattr(critic, "feed_forward", False):
            raise ConfigError(f"critic=orthonormal: the {type(critic).__name__} has residual sums or normalization "
                              "layers; it supports feed-forward critics, model=mlp and model=cnn32")
        swap(critic, self.cfg)
        return critic


def swap(module: nn.Module, cfg: OrthonormalConfig) -> None:
    """Replace, in place, each Linear / Conv2d by its orthonormalized twin and each activation by
    GroupSort2; anything else with parameters is refused."""
    import deel.torchlip as lip  # lazy: deel-torchlip loads only where it is used

    eps = {"eps_spectral": cfg.eps_spectral, "eps_bjorck": cfg.eps_bjorck}
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            new = lip.SpectralLinear(child.in_features, child.out_features, child.bias is not None, **eps)
        elif isinstance(child, nn.Conv2d):
            require(child.groups == 1 and child.dilation == (1, 1), "critic", "orthonormal",
                    "supports plain convolutions only (no groups, no dilation)")
            new = lip.SpectralConv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                                     child.padding, bias=child.bias is not None, padding_mode=child.padding_mode, **eps)
        elif isinstance(child, ACTIVATIONS):
            new = lip.GroupSort2()
        elif isinstance(child, PLAIN) or not any(True for _ in child.parameters()):
            swap(child, cfg)
            continue
        else:
            raise ConfigError(f"critic=orthonormal: cannot orthonormalize a {type(child).__name__} layer; "
                              "it supports Linear and Conv2d layers with pointwise activations")
        setattr(module, name, new)
