"""``wgan-cli sample RUN_DIR_OR_CHECKPOINT -n 64 --out FILE``: draw from a trained generator
(the EMA copy when the run kept one) without any training code.

Images: ``.png`` / ``.jpg`` (a grid), ``.npy`` (uint8 [N, C, H, W]), or a folder (one PNG each,
what ``wgan-cli fid`` reads). 2-D points: ``.npy`` / ``.csv`` ([N, 2]) or ``.png`` (a scatter).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from wgan_cli import threads
from wgan_cli.commands import run_command, seed
from wgan_cli.errors import UserError
from wgan_cli.progress import Progress
from wgan_cli.threads import add_option as add_threads_option

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
    p.add_argument("--seed", type=seed, default=0, help="noise seed (default 0)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--batch", type=int, default=500, help="samples per generator call (default 500)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing --out file, or the images of an existing --out folder (written "
                        "atomically either way: a failed write leaves what was there)")
    add_threads_option(p)
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if args.n < 1 or args.batch < 1:
        p.error("--num-samples and --batch must be >= 1")
    if not args.out.strip():
        p.error("--out '': give a file or folder name")
    return args


PICTURE_LIMIT = {True: 10_000, False: 200_000}  # images in a grid, points in a scatter plot


def batches(args: argparse.Namespace) -> tuple[Iterator[torch.Tensor], dict]:
    """The checkpoint's state and an iterator of CPU batches of samples (--batch at a time, seeded)."""
    import torch  # lazy: keeps torch out of start-up

    from wgan_cli.checkpoint import generator_from_checkpoint, load_checkpoint  # lazy: keeps torch out of start-up
    from wgan_cli.device import resolve_device  # lazy: keeps torch out of start-up

    device = resolve_device(args.device)
    state = load_checkpoint(args.checkpoint, device)
    generator, noise_dim = generator_from_checkpoint(state, device)
    threads.apply(args.threads, threads.forward_flops(generator, torch.zeros(1, noise_dim, device=device), args.batch),
                  key="--threads")
    g = torch.Generator(device).manual_seed(args.seed)

    def draw() -> Iterator[torch.Tensor]:
        progress = Progress(f"sampling {args.n}", args.n, unit="sample")
        for i in range(0, args.n, args.batch):
            with torch.inference_mode():
                part = generator(torch.randn(min(args.batch, args.n - i), noise_dim, device=device, generator=g)).cpu()
            yield part
            progress.advance(len(part))  # counted once written
        progress.close()

    return draw(), state


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    import torch  # lazy: keeps torch out of start-up

    return ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def check_kind(out: Path, shape: tuple[int, ...]) -> None:
    images = len(shape) == 3
    kinds = ".png/.jpg, .npy or a folder" if images else ".npy, .csv or .png"
    suffix = out.suffix.lower()
    if not ((images and suffix in (".png", ".jpg", ".jpeg", ".npy", "")) or
            (not images and suffix in (".npy", ".csv", ".png"))):
        raise UserError(f"--out {out}: for {'images' if images else '2-D points'} write {kinds}")


def write(parts: Iterator[torch.Tensor], n: int, shape: tuple[int, ...], out: Path, suffix: str) -> str:
    """Write ``n`` samples (images in [-1, 1] or 2-D points), arriving in batches, to ``out`` in the
    format of ``suffix`` ("" = a folder of PNGs); returns what was written. Arrays, folders and CSV
    files are written batch by batch; a grid or a scatter plot, one picture, needs every sample at
    once (checked against memory first)."""
    images = len(shape) == 3
    if suffix == ".npy":
        return write_array(parts, n, shape, out)
    if images and suffix == "":
        return write_folder(parts, n, out)
    if suffix == ".csv":
        with open(out, "w") as f:
            f.write("x,y\n")
            for part in parts:
                np.savetxt(f, part.numpy(), delimiter=",", fmt="%.7g")
        return f"{n} points"
    return write_picture(parts, n, shape, out)


def write_array(parts: Iterator[torch.Tensor], n: int, shape: tuple[int, ...], out: Path) -> str:
    """A ``.npy`` file filled batch by batch through a memory map (uint8 images, float32 points)."""
    from wgan_cli.memory import require_fits  # lazy: keeps torch out of start-up

    images = len(shape) == 3
    item = (1 if images else 4) * math.prod(shape)
    require_fits("--num-samples", n, lambda k: k * item, shutil.disk_usage(out.parent).free,
                 f"the .npy file in {out.parent}", "free some disk space or write fewer samples")
    array = np.lib.format.open_memmap(out, mode="w+", dtype=np.uint8 if images else np.float32, shape=(n, *shape))
    i = 0
    for part in parts:
        array[i:i + len(part)] = (to_uint8(part) if images else part).numpy()
        i += len(part)
    array.flush()
    del array
    return f"an array {(n, *shape)} {'uint8' if images else 'float32'}"


def write_folder(parts: Iterator[torch.Tensor], n: int, out: Path) -> str:
    """One PNG per image, ``000000.png`` on."""
    from torchvision.utils import save_image  # lazy: keeps torchvision out of start-up

    out.mkdir(parents=True, exist_ok=True)
    i = 0
    for part in parts:
        for image in part:
            save_image(image, out / f"{i:06d}.png", normalize=True, value_range=(-1, 1))
            i += 1
    return f"{n} PNG files"


def write_picture(parts: Iterator[torch.Tensor], n: int, shape: tuple[int, ...], out: Path) -> str:
    """One picture of every sample: a grid of images (upscaled as on the dashboard) or a scatter
    plot of points; refused beyond what one picture shows or memory holds."""
    from wgan_cli.memory import host_available, require_fits  # lazy: keeps torch out of start-up

    images = len(shape) == 3
    most = PICTURE_LIMIT[images]
    if n > most:
        raise UserError(f"--num-samples={n}: one picture of more than {most} {'images' if images else 'points'} "
                        f"shows nothing more; write .npy{' or a folder' if images else ' or .csv'} for larger samples")
    per_sample = 4 * math.prod(shape) * 4  # the samples, the grid, its uint8 copy and the encoder's
    require_fits("--num-samples", n, lambda k: k * per_sample, host_available(),
                 "one picture of every sample", "write .npy or a folder, which go batch by batch")
    import torch  # lazy: keeps torch out of start-up

    samples = torch.cat(list(parts))
    if images:
        from torchvision.utils import save_image  # lazy: keeps torchvision out of start-up

        from wgan_cli.plots import sample_grid  # lazy: keeps torch out of start-up

        nrow = int(np.ceil(np.sqrt(len(samples))))
        grid = sample_grid(samples, nrow)  # upscaled as on the dashboard: 16-pixel digits stay readable
        save_image(grid, out)
        return f"a {nrow}-column grid of {len(samples)} images ({grid.shape[-1]} x {grid.shape[-2]} px)"
    import matplotlib  # lazy: keeps matplotlib out of start-up

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: keeps matplotlib out of start-up

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(samples[:, 0], samples[:, 1], s=4, alpha=0.6, color="tab:green")
    ax.set_aspect("equal")
    ax.set_title(f"{len(samples)} generated points")
    fig.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return f"a scatter plot of {len(samples)} points"


def sample(args: argparse.Namespace) -> None:
    from wgan_cli.paths import (  # lazy: keeps torch out of start-up
        check_new, check_not_input, check_writable, written_atomically)
    from wgan_cli.rundir import RunDir  # lazy: keeps torch out of start-up

    out = Path(args.out).expanduser()
    check_writable(out, "--out", folder=not out.suffix)  # before the generator runs
    check_not_input(out, "--out", [Path(args.checkpoint), RunDir(Path(args.checkpoint).expanduser()).last])
    check_new(out, "--out", args.force, folder=not out.suffix)
    from wgan_cli.checkpoint import sampler_name  # lazy: keeps torch out of start-up

    parts, state = batches(args)
    shape = tuple(state["data_shape"])
    check_kind(out, shape)
    with written_atomically(out) as tmp:
        what = write(parts, args.n, shape, tmp, out.suffix.lower())
    print(f"wrote {what} to {out} ({sampler_name(state)}, step {state['step']}, seed {args.seed})")


def main() -> None:
    args = parse_args(sys.argv[1:])
    run_command(lambda: sample(args))
