"""The "standard CNN" of the SN-GAN paper (Miyato et al. 2018, Table 3), DCGAN-like.

Generator: z (128) -> dense to 512 x s x s (s = size / 8) -> three 4x4 stride-2 transposed
convs (256, 128, 64; batch norm + ReLU) -> 3x3 conv to the image channels -> tanh.
Critic: 3x3 conv 64, 4x4/2 conv 64, 3x3 conv 128, 4x4/2 conv 128, 3x3 conv 256, 4x4/2 conv 256,
3x3 conv 512 (LeakyReLU 0.1 after each) -> dense to 1. No batch statistics in the critic.
``channels`` scales every width (64 is the paper's).
"""

from __future__ import annotations

from torch import Tensor, nn

from wgan_cli.model.base import MODELS, image_geometry
from wgan_cli.schema.model import CNNConfig


class CNNGenerator(nn.Module):
    def __init__(self, cfg: CNNConfig, shape: tuple[int, int, int]) -> None:
        super().__init__()
        c, ch = shape[0], cfg.channels
        self.base = (8 * ch, shape[1] // 8)
        self.dense = nn.Linear(cfg.noise_dim, 8 * ch * self.base[1] ** 2)
        self.net = nn.Sequential(
            nn.BatchNorm2d(8 * ch), nn.ReLU(),
            nn.ConvTranspose2d(8 * ch, 4 * ch, 4, 2, 1), nn.BatchNorm2d(4 * ch), nn.ReLU(),
            nn.ConvTranspose2d(4 * ch, 2 * ch, 4, 2, 1), nn.BatchNorm2d(2 * ch), nn.ReLU(),
            nn.ConvTranspose2d(2 * ch, ch, 4, 2, 1), nn.BatchNorm2d(ch), nn.ReLU(),
            nn.Conv2d(ch, c, 3, 1, 1), nn.Tanh(),
        )

    def forward(self, z: Tensor) -> Tensor:
        channels, side = self.base
        return self.net(self.dense(z).view(-1, channels, side, side))


class CNNCritic(nn.Module):
    feed_forward = True  # Linear/Conv2d and 1-Lipschitz activations only: prod ||W_l|| bounds Lip(f)

    def __init__(self, cfg: CNNConfig, shape: tuple[int, int, int]) -> None:
        super().__init__()
        c, ch = shape[0], cfg.channels
        layers: list[nn.Module] = []
        widths = [(c, ch, 3, 1), (ch, ch, 4, 2), (ch, 2 * ch, 3, 1), (2 * ch, 2 * ch, 4, 2),
                  (2 * ch, 4 * ch, 3, 1), (4 * ch, 4 * ch, 4, 2), (4 * ch, 8 * ch, 3, 1)]
        for n_in, n_out, k, stride in widths:
            layers += [nn.Conv2d(n_in, n_out, k, stride, 1), nn.LeakyReLU(0.1)]
        self.features = nn.Sequential(*layers)
        self.dense = nn.Linear(8 * ch * (shape[1] // 8) ** 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.dense(self.features(x).flatten(1)).squeeze(1)


@MODELS.register("cnn32", CNNConfig)
def build_cnn(cfg: CNNConfig, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    image = image_geometry("cnn32", shape, multiple=8)
    return CNNGenerator(cfg, image), CNNCritic(cfg, image)
