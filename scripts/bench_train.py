"""Generator steps per second of wgan-cli's trainer against a plain PyTorch loop, the way
tutorials and the WGAN-GP authors' code write it, on the same models, batch, n_critic and device.

    python scripts/bench_train.py [--configs toy_gp,demo,cnn32_gp,...] [--device cpu|cuda]
                                  [--rounds 5] [--seconds 2]

The reference loop (``reference_step`` below): per critic step a fresh generator forward, separate
critic forwards on the real, the fake and the interpolated batch, and the penalty through
``torch.autograd.grad(create_graph=True)``. The trainer (logging and evaluation off; on CUDA
each step a CUDA graph's replay unless ``--set train.cuda_graph=false``): one generator
forward for the fakes of all n_critic steps (one per step for generators with BatchNorm), one
critic forward over real and fake together.
The two alternate in rounds of about ``--seconds`` each, in one process; the ratio is the median of
the per-round ratios. Also printed, for both loops: the achieved FLOP rate (FLOPs of one step counted by
``torch.utils.flop_counter``, backward and double backward included) against the same device's
float32 matrix-multiply throughput measured here, and the memory (peak CUDA memory, or the process's
RSS growth over the timed rounds on CPU: a leak shows as growth).

CIFAR-shaped configs read a folder of random 32x32 PNGs written to a temporary dir
(``data=image_folder``): the real loader, no download.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wgan_cli.train import compose_config  # noqa: E402  (registers every component)
from wgan_cli.profiling import count_flops, rss_mb  # noqa: E402
from wgan_cli.training import Trainer  # noqa: E402

CONFIGS = {
    "toy_gp": ["experiment=toy_wgan_gp"],  # MLP 512 x 3, batch 256, n_critic 5, GP
    "toy_gp_bf16": ["experiment=toy_wgan_gp", "train.amp=bf16"],  # against the same float32 reference
    "demo": [],  # the default: MLP 256 x 3, batch 128, sn_ttur, n_critic 1
    "cnn32_gp": ["model=cnn32", "critic=gp", "n_critic=5", "batch_size=64"],
    "cnn32_sn": ["model=cnn32", "critic=sn", "n_critic=1", "batch_size=64"],
    "resnet32_gp": ["model=resnet32", "critic=gp", "n_critic=5", "batch_size=64"],
    "resnet32_sn": ["model=resnet32", "critic=sn", "n_critic=5", "batch_size=64"],
    "cnn32_gp_bf16": ["model=cnn32", "critic=gp", "n_critic=5", "batch_size=64", "train.amp=bf16"],
    # the CIFAR-10 presets as published (configs/experiment/), on random 32x32 images
    "wgan_clip_cifar10_cnn": ["experiment=wgan_clip_cifar10_cnn"],
    "wgan_gp_cifar10_cnn": ["experiment=wgan_gp_cifar10_cnn"],
    "wgan_gp_cifar10_resnet": ["experiment=wgan_gp_cifar10_resnet"],
    "sngan_cifar10_cnn": ["experiment=sngan_cifar10_cnn"],
    "sngan_cifar10_resnet": ["experiment=sngan_cifar10_resnet"],
}
PRESETS = [name for name in CONFIGS if "cifar10" in name]  # --configs presets
DEFAULT = [name for name in CONFIGS if name not in PRESETS]


def needs_images(overrides: list[str]) -> bool:
    return any(o in ("model=cnn32", "model=resnet32") or (o.startswith("experiment=") and "cifar10" in o)
               for o in overrides)


def reference_step(trainer: Trainer) -> None:
    """One generator step the tutorial way, on the trainer's own models and optimizers."""
    cfg, G, D, B = trainer.cfg, trainer.nets.G, trainer.nets.D, trainer.cfg.batch_size
    kind = cfg.critic.name
    for _ in range(cfg.n_critic):
        real = trainer.data.sample(B, trainer.state.rng)
        z = torch.randn(B, cfg.model.noise_dim, device=trainer.device)
        fake = G(z).detach()
        loss = D(fake).mean() - D(real).mean()
        if kind in ("gp", "lp"):
            alpha = torch.rand((B,) + (1,) * (real.dim() - 1), device=trainer.device)
            xhat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            out = D(xhat)
            (grad,) = torch.autograd.grad(out, xhat, grad_outputs=torch.ones_like(out), create_graph=True)
            loss = loss + cfg.critic.weight * ((grad.view(B, -1).norm(2, dim=1) - 1) ** 2).mean()
        trainer.nets.opt_d.zero_grad()
        loss.backward()
        trainer.nets.opt_d.step()
        if kind == "clip":
            for p in D.parameters():
                p.data.clamp_(-cfg.critic.c, cfg.critic.c)
    for p in D.parameters():
        p.requires_grad = False
    z = torch.randn(cfg.batch_size_g or B, cfg.model.noise_dim, device=trainer.device)
    loss_g = -D(G(z)).mean()
    trainer.nets.opt_g.zero_grad()
    loss_g.backward()
    trainer.nets.opt_g.step()
    for p in D.parameters():
        p.requires_grad = True


def plain_activations(module: nn.Module) -> None:
    """Undo the penalty strategies' activation swap (critic/gp.py): nn.ReLU / nn.LeakyReLU again."""
    from wgan_cli.critic.gp import PiecewiseLinear

    for name, child in module.named_children():
        if isinstance(child, PiecewiseLinear):
            setattr(module, name, nn.LeakyReLU(child.negative_slope) if child.negative_slope else nn.ReLU())
        else:
            plain_activations(child)


def gemm_flops(device: torch.device, n: int = 2048, seconds: float = 1.0) -> float:
    """Float32 matrix-multiply throughput, FLOP/s (2 n^3 per product)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    sync(device)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
        sync(device)
    return 2 * n**3 * count / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(step, device: torch.device, seconds: float) -> float:  # noqa: ANN001
    """Steps per second over about ``seconds``; the host waits for the device after 1, 2, 4, ...
    64 steps (each loop keeps whatever synchronization it has inside a step)."""
    sync(device)
    count, chunk, start = 0, 1, time.perf_counter()
    while True:
        for _ in range(chunk):
            step()
        count += chunk
        sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed
        chunk = min(2 * chunk, 64)


def write_images(folder: Path, n: int = 512) -> None:
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for i in range(n):
        pixels = torch.randint(0, 256, (32, 32, 3), dtype=torch.uint8, generator=g).numpy()
        Image.fromarray(pixels).save(folder / f"{i:04d}.png")


def bench(name: str, overrides: list[str], device: str, rounds: int, seconds: float, images: Path, gemm: float) -> dict:
    extra = ["data=image_folder", f"data.path={images}"] if needs_images(overrides) else []
    common = [*overrides, *extra, f"device={device}", "eval.every=0", "fid.every=0", "checkpoint.every=0",
              "resume=never"]
    cfg = compose_config(common)
    with tempfile.TemporaryDirectory() as run_dir:
        ours = Trainer(cfg, Path(run_dir))
        ref = Trainer(compose_config([*common, "train.cuda_graph=false"]), Path(run_dir))  # same seed: same init
        plain_activations(ref.nets.D)  # the tutorial's critic has PyTorch's own activations
        dev = ours.device
        flops = count_flops(ours.train_step)  # an eager step (a CUDA graph's replay dispatches no ops)
        ref_flops = count_flops(lambda: reference_step(ref))
        for t in (ours, ref):  # warm-up: allocator, cuDNN autotuning, lazy init, ours's CUDA graph capture
            for _ in range(5):
                t.train_step() if t is ours else reference_step(t)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        rss0 = rss_mb()
        ratios, ours_rates, ref_rates = [], [], []
        for _ in range(rounds):
            r = rate(lambda: reference_step(ref), dev, seconds)
            o = rate(ours.train_step, dev, seconds)
            ratios.append(o / r)
            ours_rates.append(o)
            ref_rates.append(r)
        memory = (f"peak CUDA {torch.cuda.max_memory_allocated(dev) / 2**20:.0f} MiB" if dev.type == "cuda"
                  else f"RSS {rss_mb():.0f} MiB (+{rss_mb() - rss0:.0f} over the rounds)")
    o, r = statistics.median(ours_rates), statistics.median(ref_rates)
    return {"config": name, "ours": o, "reference": r, "ratio": statistics.median(ratios),
            "gflop_per_step": flops / 1e9, "flop_frac": flops * o / gemm, "ref_gflop_per_step": ref_flops / 1e9,
            "ref_flop_frac": ref_flops * r / gemm, "memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=",".join(DEFAULT),
                        help=f"comma-separated, of {', '.join(CONFIGS)}; or 'presets' (the CIFAR-10 presets)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for every configuration (e.g. train.amp=bf16)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="per round and loop")
    args = parser.parse_args()
    names = PRESETS if args.configs == "presets" else args.configs.split(",")
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown config {unknown[0]}; choose from {', '.join(CONFIGS)}")
    device = torch.device(args.device)
    gemm = gemm_flops(device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device: {where}, {torch.get_num_threads()} torch threads, torch {torch.__version__}; "
          f"float32 GEMM {gemm / 1e9:.1f} GFLOP/s")
    print("| config | ours steps/s | reference steps/s | ratio | GFLOP/step | of GEMM peak | "
          "reference GFLOP/step | reference of GEMM peak | memory |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp)
        if any(needs_images(CONFIGS[n]) for n in names):
            write_images(images)
        if args.set:
            print(f"with {' '.join(args.set)}")
        for name in names:
            r = bench(name, [*CONFIGS[name], *args.set], args.device, args.rounds, args.seconds, images, gemm)
            print(f"| {r['config']} | {r['ours']:.2f} | {r['reference']:.2f} | {r['ratio']:.2f}x | "
                  f"{r['gflop_per_step']:.3f} | {100 * r['flop_frac']:.0f}% | {r['ref_gflop_per_step']:.3f} | "
                  f"{100 * r['ref_flop_frac']:.0f}% | {r['memory']} |", flush=True)


if __name__ == "__main__":
    main()
