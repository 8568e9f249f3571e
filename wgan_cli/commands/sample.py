"""``wgan-cli sample RUN_DIR_OR_CHECKPOINT -n 64 --out FILE``: draw from a trained generator
(the EMA copy when the run kept one) without any training code.

Images: ``.png`` / ``.jpg`` (a grid), ``.npy`` (uint8 [N, C, H, W]), or a folder (one PNG each,
what ``wgan-cli fid`` reads). 2-D points: ``.npy`` / ``.csv`` ([N, 2]) or ``.png`` (a scatter).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from wgan_cli.commands import run_command
from wgan_cli.errors import UserError

if TYPE_CHECKING:  # torch is imported by the work, not by --help or completion
    import torch


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wgan-cli sample",
        description="Samples from a trained generator (the EMA copy when present).",
        epilog="example: wgan-cli sample outputs/2026-11-22/10-00-00 -n 64 --out grid.png",
    )
    p.add_argument("checkpoint", metavar="RUN_DIR_OR_CHECKPOINT")
    p.add_argument("--num-samples", "-n", dest="n", metavar="N", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--n", dest="n", type=int, default=64, help=argparse.SUPPRESS)  # the former spelling
    p.add_argument("--out", required=True,
                   help="grid .png/.jpg, .npy, or a folder of PNGs (images); .npy, .csv or .png (2-D points)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--batch", type=int, default=500, help="samples per generator call (default 500)")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if args.n < 1 or args.batch < 1:
        p.error("--num-samples and --batch must be >= 1")
    return args


def generate(args: argparse.Namespace) -> tuple[torch.Tensor, dict]:
    from wgan_cli.checkpoint import generator_from_checkpoint, load_checkpoint
    import torch

    from wgan_cli.device import resolve_device

    device = resolve_device(args.device)
    state = load_checkpoint(args.checkpoint, device)
    generator, noise_dim = generator_from_checkpoint(state, device)
    g = torch.Generator(device).manual_seed(args.seed)
    with torch.inference_mode():
        out = torch.cat([
            generator(torch.randn(min(args.batch, args.n - i), noise_dim, device=device, generator=g)).cpu()
            for i in range(0, args.n, args.batch)
        ])
    return out, state


def write(samples: torch.Tensor, out: Path) -> str:
    """Write ``samples`` (images in [-1, 1] or 2-D points) to ``out``; returns what was written."""
    import torch
    from torchvision.utils import save_image

    images = samples.ndim == 4
    suffix = out.suffix.lower()
    if images and suffix in (".png", ".jpg", ".jpeg"):
        nrow = int(np.ceil(np.sqrt(len(samples))))
        save_image(samples, out, nrow=nrow, normalize=True, value_range=(-1, 1), padding=2)
        return f"a {nrow}-column grid of {len(samples)} images"
    if suffix == ".npy":
        array = ((samples + 1) * 127.5).round().clamp(0, 255).to(torch.uint8) if images else samples
        np.save(out, array.numpy())
        return f"an array {tuple(array.shape)} {'uint8' if images else 'float32'}"
    if images and suffix == "":
        out.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(samples):
            save_image(image, out / f"{i:06d}.png", normalize=True, value_range=(-1, 1))
        return f"{len(samples)} PNG files"
    if not images and suffix == ".csv":
        np.savetxt(out, samples.numpy(), delimiter=",", header="x,y", comments="", fmt="%.7g")
        return f"{len(samples)} points"
    if not images and suffix == ".png":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(samples[:, 0], samples[:, 1], s=4, alpha=0.6, color="tab:green")
        ax.set_aspect("equal")
        ax.set_title(f"{len(samples)} generated points")
        fig.savefig(out, dpi=100, bbox_inches="tight")
        plt.close(fig)
        return f"a scatter plot of {len(samples)} points"
    kinds = ".png/.jpg, .npy or a folder" if images else ".npy, .csv or .png"
    raise UserError(f"--out {out}: for {'images' if images else '2-D points'} write {kinds}")


def sample(args: argparse.Namespace) -> None:
    from wgan_cli.paths import check_writable

    out = Path(args.out).expanduser()
    check_writable(out, "--out", folder=not out.suffix)  # before the generator runs
    from wgan_cli.checkpoint import sampler_name

    samples, state = generate(args)
    what = write(samples, out)
    print(f"wrote {what} to {out} ({sampler_name(state)}, step {state['step']}, seed {args.seed})")


def main() -> None:
    args = parse_args(sys.argv[1:])
    run_command(lambda: sample(args))
