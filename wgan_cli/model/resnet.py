"""The ResNet of the WGAN-GP paper's CIFAR-10 experiment (Gulrajani et al. 2017, gan_cifar_resnet.py).

Generator: z (128) -> dense to C_g x s x s (s = size / 8) -> three up-sampling residual blocks
(BN, ReLU, 2x nearest up-sampling, 3x3 conv, BN, ReLU, 3x3 conv; shortcut: up-sample + 1x1
conv) -> BN, ReLU, 3x3 conv to the image channels, tanh.
Critic (no normalization): an optimized first block and a residual down-sampling block
(2x2 mean pool), two plain residual blocks, ReLU, global mean pool, dense to 1.
The paper uses C_g = C_d = 128; the SN-GAN paper's variant doubles the generator (g_channels=256).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from wgan_cli.model.base import MODELS, image_geometry
from wgan_cli.schema.model import ResNetConfig


class UpBlock(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(n_in), nn.Conv2d(n_in, n_out, 3, 1, 1)
        self.bn2, self.conv2 = nn.BatchNorm2d(n_out), nn.Conv2d(n_out, n_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(n_in, n_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class DownBlock(nn.Module):
    """Residual critic block; ``first`` is the optimized input block (no leading ReLU)."""

    def __init__(self, n_in: int, n_out: int, down: bool, first: bool = False) -> None:
        super().__init__()
        self.down, self.first = down, first
        self.conv1, self.conv2 = nn.Conv2d(n_in, n_out, 3, 1, 1), nn.Conv2d(n_out, n_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(n_in, n_out, 1) if (down or n_in != n_out) else nn.Identity()
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()  # modules, so a strategy can swap them (critic/gp.py)

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.first else self.relu1(x)
        h = self.conv2(self.relu2(self.conv1(h)))
        s = x
        if self.down:
            h = F.avg_pool2d(h, 2)
            s = self.shortcut(F.avg_pool2d(s, 2)) if self.first else F.avg_pool2d(self.shortcut(s), 2)
        else:
            s = self.shortcut(s)
        return h + s


class ResNetGenerator(nn.Module):
    def __init__(self, cfg: ResNetConfig, shape: tuple[int, int, int]) -> None:
        super().__init__()
        ch = cfg.g_channels
        self.base = (ch, shape[1] // 8)
        self.dense = nn.Linear(cfg.noise_dim, ch * self.base[1] ** 2)
        self.blocks = nn.Sequential(UpBlock(ch, ch), UpBlock(ch, ch), UpBlock(ch, ch))
        self.out = nn.Sequential(nn.BatchNorm2d(ch), nn.ReLU(), nn.Conv2d(ch, shape[0], 3, 1, 1), nn.Tanh())

    def forward(self, z: Tensor) -> Tensor:
        channels, side = self.base
        return self.out(self.blocks(self.dense(z).view(-1, channels, side, side)))


class ResNetCritic(nn.Module):
    def __init__(self, cfg: ResNetConfig, shape: tuple[int, int, int]) -> None:
        super().__init__()
        ch = cfg.d_channels
        self.blocks = nn.Sequential(
            DownBlock(shape[0], ch, down=True, first=True),
            DownBlock(ch, ch, down=True),
            DownBlock(ch, ch, down=False),
            DownBlock(ch, ch, down=False),
        )
        self.dense = nn.Linear(ch, 1)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        h = self.relu(self.blocks(x)).mean(dim=(2, 3))
        return self.dense(h).squeeze(1)


@MODELS.register("resnet32", ResNetConfig)
def build_resnet(cfg: ResNetConfig, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    image = image_geometry("resnet32", shape, multiple=8)
    return ResNetGenerator(cfg, image), ResNetCritic(cfg, image)
