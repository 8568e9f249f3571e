"""FID benchmark: our feature extractor against pytorch-fid's own pipeline, and our Frechet
step against pytorch-fid's ``calculate_frechet_distance`` (scipy ``sqrtm``), measured
interleaved in one run on one device; prints throughput ratios (goals: >= 1.2x and >= 3x).

    python scripts/bench_fid.py [--images 200] [--batch 50] [--rounds 3] [--device auto]

The reference pipeline is pytorch-fid's ``InceptionV3([3])`` as its ``fid_score`` builds it
(resize_input and normalize_input on: F.interpolate to 299, then 2x - 1), fed float images
in [0, 1] under ``torch.no_grad``, with the same weights. Ours: uint8 in, TF1 resize, batch
norms folded into the convolutions, channels_last on the CPU, ``inference_mode``. On CUDA
it also times pytorch-fid with TF32 off, as ours runs (PyTorch's default lets cuDNN use TF32).
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import time
import warnings
from types import SimpleNamespace

import numpy as np
import torch


def median_time(fn, rounds: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--size", type=int, default=32, help="side of the input images (CIFAR: 32)")
    p.add_argument("--device", default="auto")
    p.add_argument("--dim", type=int, default=2048, help="feature dimension for the Frechet step")
    args = p.parse_args()

    import pytorch_fid.fid_score as fid_score
    from pytorch_fid.fid_score import calculate_frechet_distance
    from scipy import linalg

    if "disp" not in inspect.signature(linalg.sqrtm).parameters:  # scipy >= 1.16 dropped it; pytorch-fid 0.3 passes it
        fid_score.linalg = SimpleNamespace(**{**vars(linalg), "sqrtm": lambda a, disp=False: (linalg.sqrtm(a), 0.0)})

    from wgan_cli.device import resolve_device
    from wgan_cli.metrics.fid import frechet_distance
    from wgan_cli.metrics.inception import FeatureExtractor, load_inception

    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}")

    ours = FeatureExtractor(device=device)
    reference, _ = load_inception(ours.path)
    reference.resize_input = reference.normalize_input = True  # pytorch-fid's defaults
    reference = reference.to(device)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 3, args.size, args.size), dtype=torch.uint8, generator=g)

    def run_ours() -> None:
        for i in range(0, args.images, args.batch):
            ours(images[i:i + args.batch].to(device))

    def run_reference() -> None:
        with torch.no_grad():
            for i in range(0, args.images, args.batch):
                reference(images[i:i + args.batch].to(device).float() / 255)[0].squeeze(3).squeeze(2).cpu()

    def run_reference_fp32() -> None:  # as ours runs: TF32 off (it moves FID features by ~1e-3)
        tf32 = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        try:
            run_reference()
        finally:
            torch.backends.cudnn.allow_tf32 = tf32

    loops = {"ours": run_ours, "pytorch-fid": run_reference}
    if device.type == "cuda":  # PyTorch's default lets cuDNN convolve in TF32 there
        loops["pytorch-fid, TF32 off"] = run_reference_fp32
    for fn in loops.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(args.rounds):  # interleaved, so drift in the machine's speed hits both
        for name, fn in loops.items():
            times[name].append(median_time(fn, 1))
    rates = {name: args.images / statistics.median(t) for name, t in times.items()}
    print(f"features: ours {rates['ours']:.1f} img/s, pytorch-fid {rates['pytorch-fid']:.1f} img/s, "
          f"ratio {rates['ours'] / rates['pytorch-fid']:.2f}x (goal >= 1.2x)")
    if "pytorch-fid, TF32 off" in rates:
        r = rates["pytorch-fid, TF32 off"]
        print(f"features, both in float32: pytorch-fid {r:.1f} img/s, ratio {rates['ours'] / r:.2f}x")

    # the Frechet step on well-conditioned covariances of dimension --dim
    rng = np.random.default_rng(0)
    feats = [rng.standard_normal((2 * args.dim, args.dim)) @ rng.standard_normal((args.dim, args.dim)) / args.dim**0.5
             for _ in range(2)]
    mus = [f.mean(0) for f in feats]
    sigmas = [np.cov(f, rowvar=False) for f in feats]
    value_ours = value_ref = 0.0

    def frechet_ours() -> None:
        nonlocal value_ours
        value_ours = frechet_distance(mus[0], sigmas[0], mus[1], sigmas[1], device=device)

    def frechet_ref() -> None:
        nonlocal value_ref
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value_ref = calculate_frechet_distance(mus[0], sigmas[0], mus[1], sigmas[1])

    t_f_ours, t_f_ref = [], []
    for _ in range(args.rounds):
        t_f_ours.append(median_time(frechet_ours, 1))
        t_f_ref.append(median_time(frechet_ref, 1))
    a, b = statistics.median(t_f_ours), statistics.median(t_f_ref)
    print(f"frechet (d={args.dim}): ours {a:.3f} s, pytorch-fid/scipy sqrtm {b:.3f} s, ratio {b / a:.2f}x "
          f"(goal >= 3x); values {value_ours:.6f} vs {value_ref:.6f} "
          f"(rel diff {abs(value_ours - value_ref) / abs(value_ref):.1e})")


if __name__ == "__main__":
    main()
