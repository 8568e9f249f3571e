"""What precision, recall, density and coverage add to a FID evaluation: the time of the four
metrics on N generated against N reference features (2048-d, as Inception's pool3), against the
time of extracting the N generated images' features, measured on a batch and scaled to N, on
one device in one run.

    python scripts/bench_prdc.py [--n 1000,10000] [--device auto] [--batch 100]

Goal: at most 10% of a FID evaluation on CUDA at 10k samples; on the CPU the cost is stated.
"""

from __future__ import annotations

import argparse
import time

import torch

from wgan_cli.device import resolve_device
from wgan_cli.metrics.inception import FeatureExtractor
from wgan_cli.metrics.prdc import peak_bytes, prdc


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", default="1000,10000", help="comma-separated samples per side")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch", type=int, default=100, help="images per Inception batch")
    args = p.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    extractor = FeatureExtractor(device=device)
    images = torch.rand(args.batch, 3, 32, 32, device=device) * 2 - 1
    extractor(images)  # warm-up
    sync(device)
    start = time.perf_counter()
    for _ in range(3):
        extractor(images)
    sync(device)
    per_image = (time.perf_counter() - start) / (3 * args.batch)
    print(f"# {name}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}; Inception features "
          f"{1 / per_image:.1f} images/s")
    print("| N per side | features of N generated images, s | precision, recall, density, coverage, s | share |"
          " peak extra memory |")
    print("|---|---|---|---|---|")
    g = torch.Generator(device).manual_seed(0)
    for n in (int(v) for v in args.n.split(",")):
        real = torch.randn(n, 2048, generator=g, device=device)
        fake = torch.randn(n, 2048, generator=g, device=device) + 0.1
        sync(device)
        start = time.perf_counter()
        prdc(real, fake)
        sync(device)
        seconds = time.perf_counter() - start
        features = per_image * n
        print(f"| {n} | {features:.1f} | {seconds:.2f} | {seconds / features:.1%} | "
              f"{peak_bytes(n, n) / 2**20:.0f} MiB |", flush=True)


if __name__ == "__main__":
    main()
