"""``wgan-cli fid A B``: FID (and KID, IS) between two image sources, with the protocol printed.

Each of A and B is an image folder, an ``.npz`` of statistics (mu, sigma; pytorch-fid's format),
a dataset spec ``name[:split]`` (``cifar10:train``, ``digits``), or a checkpoint (a ``.pt`` file
or a run dir), from which ``--num-samples`` images are generated. Dataset statistics are cached
per (dataset, split, size, N, extractor); ``--save-stats OUT.npz`` writes A's.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wgan_cli import threads
from wgan_cli.commands import run_command, seed
from wgan_cli.errors import UserError
from wgan_cli.rundir import RunDir
from wgan_cli.threads import add_option as add_threads_option

if TYPE_CHECKING:  # torch is imported by the work, not by --help or completion
    from torch import Tensor

DEFAULT_SAMPLES = 10_000


@dataclass
class Source:
    """Statistics of one side, what they are, and the split they stand for."""

    stats: "Statistics"  # noqa: F821 - imported lazily
    label: str
    split: str | None = None  # for a dataset
    generated: bool = False
    features: Tensor | None = None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wgan-cli fid",
        description="FID between two image sources: an image folder, an .npz of statistics, a dataset "
        "spec such as cifar10:train, or a checkpoint / run dir (generates --num-samples images).",
        epilog="example: wgan-cli fid outputs/2026-11-22/10-00-00 cifar10:train --num-samples 10000",
    )
    p.add_argument("a", metavar="A", help="folder | stats.npz | dataset[:split] | checkpoint.pt | run dir")
    p.add_argument("b", metavar="B", nargs="?", help="the same kinds; may be left out with --save-stats")
    p.add_argument("--num-samples", "-n", metavar="N", type=int, default=None,
                   help=f"images generated from a checkpoint, and the most taken from a folder or dataset "
                   f"(default {DEFAULT_SAMPLES} generated; every image of a folder or dataset)")
    p.add_argument("--save-stats", metavar="OUT.npz",
                   help="write A's statistics (mu, sigma, n) to this file, atomically; an existing one is kept unless --force")
    p.add_argument("--force", action="store_true", help="replace an existing --save-stats file")
    p.add_argument("--kid", action="store_true", help="also the Kernel Inception Distance (needs images on both sides)")
    p.add_argument("--prdc", action="store_true",
                   help="also precision, recall, density and coverage on the same features (needs images on both sides)")
    p.add_argument("--k", type=int, default=None,
                   help="--prdc: nearest neighbours (default 3 for precision and recall, 5 for density and coverage)")
    p.add_argument("--json", action="store_true", help="print one JSON object with every value and the protocol")
    p.add_argument("--batch", type=int, default=100, help="images per Inception batch (default 100)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    p.add_argument("--seed", type=seed, default=0, help="noise seed for generated images (default 0)")
    add_threads_option(p)
    p.add_argument("--weights", default="", help="Inception weights file (default: search the usual places)")
    p.add_argument("--download", action="store_true", help="download the Inception weights if none are found")
    p.add_argument("--data-root", default="", help="folder holding torchvision datasets (as data.root)")
    p.add_argument("--cache-dir", default="", help="reference statistics cache (default ~/.cache/wgan-cli/fid_stats)")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if args.k is not None and args.k < 1:
        p.error(f"--k {args.k}: the number of nearest neighbours must be >= 1")
    if args.k is not None and not args.prdc:
        p.error("--k goes with --prdc")
    if args.save_stats is not None and not args.save_stats.endswith(".npz") and not (
            args.save_stats.strip() and Path(args.save_stats).is_dir()):  # a folder: check_writable says so
        p.error(f"--save-stats {args.save_stats!r}: give a file name ending in .npz")
    if args.b is None and not args.save_stats:
        p.error("give two sources A B, or one with --save-stats OUT.npz")
    for name in ("num_samples", "batch"):
        value = getattr(args, name)
        if value is not None and value < 2 - (name == "batch"):
            p.error(f"--{name.replace('_', '-')} must be >= {2 - (name == 'batch')}, got {value}")
    return args


def _batches(total: int, batch: int, label: str):  # noqa: ANN202 - a tqdm iterator of (start, size)
    from tqdm import tqdm  # lazy: keeps tqdm out of start-up

    starts = range(0, total, batch)
    bar = tqdm(starts, desc=f"features: {label}", unit="batch", disable=None, leave=False, file=sys.stderr)
    return ((i, min(batch, total - i)) for i in bar)


def folder_features(path: Path, extractor, args: argparse.Namespace) -> tuple[Tensor, int]:  # noqa: ANN001
    """Every image under ``path`` (RGB, native size; up to --num-samples), in batches of one size."""
    import torch  # lazy: keeps torch out of start-up

    from wgan_cli.imageio import decode_rgb, list_images  # lazy: keeps torch out of start-up

    files = list_images(path)[: args.num_samples]
    if len(files) < 2:
        raise UserError(f"{path}: {len(files)} image file(s); FID needs at least 2")
    feats = []
    for i, size in _batches(len(files), args.batch, path.name):
        images = [torch.from_numpy(decode_rgb(file)).permute(2, 0, 1).contiguous() for file in files[i:i + size]]
        same_size = all(im.shape == images[0].shape for im in images)
        groups = [torch.stack(images)] if same_size else [im[None] for im in images]
        feats += [extractor(g) for g in groups]
    return torch.cat(feats), len(files)


def dataset_source(spec: str, extractor, args: argparse.Namespace) -> Source:  # noqa: ANN001
    import torch  # lazy: keeps torch out of start-up

    from wgan_cli.data import DATASETS  # lazy: keeps torch out of start-up
    from wgan_cli.metrics.fid import (  # lazy: keeps torch out of start-up
        cached_statistics, default_cache_dir, features_of)
    from wgan_cli.metrics.fid_monitor import reference_key  # lazy: keeps torch out of start-up
    from wgan_cli.schema import compose_config  # lazy: keeps torch out of start-up

    name, _, split = spec.partition(":")
    overrides = [f"data={name}", f"data.split={split or 'train'}"]
    if args.data_root:
        overrides.append(f"data.root={args.data_root}")
    cfg = compose_config(overrides)
    data = DATASETS.build(cfg.data, torch.device("cpu"))
    if not hasattr(data, "images"):
        raise UserError(f"{spec}: {name} is not an image dataset")
    images = data.images[: args.num_samples]
    stats, cached = cached_statistics(
        reference_key(cfg.data, len(images), images.shape[-1]),
        Path(args.cache_dir) if args.cache_dir else default_cache_dir(),
        lambda parts: features_of(extractor, images, args.batch, parts, f"{name} images"),
        keep_features=keeps_features(args),
    )
    how = "statistics loaded from cache" if cached else "statistics computed and cached"
    split = cfg.data.split
    label = f"{name} {split} split, {len(images)} images at {images.shape[-1]}px ({how})"
    features = None if stats.features is None else torch.from_numpy(stats.features)
    return Source(stats, label, split=split, features=features)


FEATURE_BYTES = 4 * 2048 * 4  # an image's pool3 features: float32, kept, concatenated, and as float64 statistics
COVARIANCE_BYTES = 2 * 2048 * 2048 * 8  # the covariance and its working copy


def checkpoint_source(spec: str, extractor, args: argparse.Namespace) -> Source:  # noqa: ANN001
    import torch  # lazy: keeps torch out of start-up

    from wgan_cli.checkpoint import (  # lazy: keeps torch out of start-up
        generator_from_checkpoint, load_checkpoint, resolve_checkpoint, sampler_name)
    from wgan_cli.metrics.fid import Statistics  # lazy: keeps torch out of start-up

    state = load_checkpoint(spec, extractor.device)
    if len(state["data_shape"]) != 3:
        raise UserError(f"{spec}: the run trained on {state['config']['data']['name']}, not images; FID needs images")
    generator, noise_dim = generator_from_checkpoint(state, extractor.device)
    n = args.num_samples or DEFAULT_SAMPLES
    from wgan_cli.memory import host_available, require_fits  # lazy: keeps torch out of start-up

    require_fits("--num-samples", n, lambda k: k * FEATURE_BYTES + COVARIANCE_BYTES, host_available(),
                 "keeping the Inception features of the generated images", "FID needs about 10,000 (50,000 at most)")
    g = torch.Generator(extractor.device).manual_seed(args.seed)
    with torch.inference_mode():
        feats = torch.cat([
            extractor(generator(torch.randn(size, noise_dim, device=extractor.device, generator=g)))
            for _, size in _batches(n, args.batch, "generated")
        ])
    label = f"{n} images from {resolve_checkpoint(spec)} ({sampler_name(state)}, step {state['step']}, seed {args.seed})"
    return Source(Statistics.of(feats), label, generated=True, features=feats)


def check_statistics(spec: str, mu, sigma) -> None:  # noqa: ANN001 - float64 arrays
    """A mean and a covariance, or one line: finite, and sigma symmetric positive semi-definite (to
    round-off: its most negative eigenvalue within 1e-6 of its largest)."""
    import numpy as np  # lazy: keeps numpy out of start-up

    for name, value in (("mu", mu), ("sigma", sigma)):
        if not np.isfinite(value).all():
            raise UserError(f"{spec}: {name} holds NaN or Inf values; not the statistics of any features")
    if not np.allclose(sigma, sigma.T, rtol=1e-6, atol=1e-9 * max(1.0, float(np.abs(sigma).max()))):
        raise UserError(f"{spec}: sigma is not symmetric, so not a covariance")
    eigenvalues = np.linalg.eigvalsh(sigma)
    if eigenvalues[0] < -1e-6 * max(eigenvalues[-1], 1e-12):
        raise UserError(f"{spec}: sigma is not a covariance (an eigenvalue of {eigenvalues[0]:.3g}; a covariance has "
                        f"none below 0)")


def load_source(spec: str, extractor, args: argparse.Namespace) -> Source:  # noqa: ANN001
    import torch  # lazy: keeps torch out of start-up

    from wgan_cli.metrics.fid import Statistics  # lazy: keeps torch out of start-up

    path = Path(spec).expanduser()
    if path.suffix == ".npz":
        if not path.is_file():
            raise UserError(f"{spec}: no such statistics file")
        try:
            stats = Statistics.load(path)
        except Exception as ex:  # noqa: BLE001
            raise UserError(f"{spec}: not a statistics file with mu and sigma ({type(ex).__name__}: {ex})") from ex
        if stats.mu.shape != (2048,) or stats.sigma.shape != (2048, 2048):
            raise UserError(f"{spec}: mu/sigma have shapes {stats.mu.shape}/{stats.sigma.shape}, expected pool3 (2048)")
        check_statistics(spec, stats.mu, stats.sigma)
        features = None if stats.features is None else torch.from_numpy(stats.features)
        return Source(stats, f"statistics file {path} (n={stats.n})", features=features)
    if path.suffix in (".pt", ".pth") or RunDir(path).last.is_file():
        return checkpoint_source(spec, extractor, args)
    if path.is_dir():
        feats, n = folder_features(path, extractor, args)
        return Source(Statistics.of(feats), f"image folder {path}, {n} images", features=feats)
    specs = dataset_specs()
    if spec.partition(":")[0] in specs and not path.exists():
        return dataset_source(spec, extractor, args)
    raise UserError(
        f"{spec}: not an image folder, a statistics .npz, a checkpoint (.pt or run dir) or a dataset spec "
        f"name[:split] with name one of {', '.join(specs)}"
    )


def dataset_specs() -> list[str]:
    """The registered image datasets that need no path (image_folder is given as a folder)."""
    from wgan_cli.data import DATASETS  # lazy: keeps torch out of start-up
    from wgan_cli.data.images import ImageSource  # lazy: keeps torch out of start-up

    return [n for n in DATASETS.names() if issubclass(DATASETS.get(n), ImageSource) and n != "image_folder"]


def run(args: argparse.Namespace) -> None:
    from wgan_cli.paths import check_new, check_not_input, check_writable  # lazy: keeps torch out of start-up

    if args.save_stats:  # before the Inception work
        check_writable(Path(args.save_stats), "--save-stats")
        sources = [Path(s) for s in (args.a, args.b) if s]
        check_not_input(Path(args.save_stats), "--save-stats", [*sources, *(RunDir(s).last for s in sources)])
        check_new(Path(args.save_stats), "--save-stats", args.force)
    refuse_what_statistics_cannot_give(args)
    from wgan_cli.device import resolve_device  # lazy: keeps torch out of start-up
    from wgan_cli.metrics.fid import (  # lazy: keeps torch out of start-up
        Statistics, fid, inception_score, kid, protocol_tag)
    from wgan_cli.metrics.inception import EXTRACTOR, FeatureExtractor  # lazy: keeps torch out of start-up

    threads.apply(args.threads, threads.LARGE, key="--threads")  # Inception: 11 GFLOP an image
    extractor = FeatureExtractor(args.weights, args.download, resolve_device(args.device))
    a = load_source(args.a, extractor, args)
    result: dict = {"a": a.label}
    say = (lambda line: None) if args.json else print  # --json: one object at the end, nothing else
    if args.save_stats:
        out = Path(args.save_stats).expanduser()
        keep = a.features.float().cpu().numpy() if keeps_features(args) and a.features is not None else None
        Statistics(a.stats.mu, a.stats.sigma, a.stats.n, keep).save(out)
        result["saved_stats"] = str(out)
        say(f"saved statistics of A to {out}")
    lines = [f"A: {a.label}"]
    if args.b is not None:
        b = load_source(args.b, extractor, args)
        value = fid(a.stats, b.stats)
        generated = next((s for s in (a, b) if s.generated), None)
        split = next((s.split for s in (a, b) if s.split), None)
        protocol = protocol_tag(generated.stats.n, split).split("/")[1] if generated and split else "custom"
        result.update(b=b.label, fid=value, protocol=protocol)
        say(f"fid: {value:.4f}")
        if args.kid:
            if a.features is None or b.features is None:
                raise UserError("--kid needs features on both sides; a statistics .npz has only mu and sigma")
            mean, std = kid(a.features, b.features)
            result["kid"] = {"mean": mean, "std": std}
            say(f"kid: {mean:.6f} +- {std:.6f}")
        if args.prdc:
            result["prdc"] = fidelity_and_diversity(a, b, args)
            say("  ".join(f"{k}: {v:.4f}" for k, v in result["prdc"].items() if k not in ("real", "k")) +
                f"  (k {result['prdc']['k']}; the real side: {result['prdc']['real']})")
        lines += [f"B: {b.label}", f"protocol: {protocol}"]
    if extractor.head is not None and a.generated:
        mean, std = inception_score(extractor.class_logits(a.features))
        result["is"] = {"mean": mean, "std": std}
        say(f"is (A): {mean:.3f} +- {std:.3f}")
    elif extractor.head is None:
        lines.append("is: not computed (these weights have no classifier head)")
    lines.append(f"features: {EXTRACTOR}; weights: {extractor.source}")
    result.update(features=EXTRACTOR, weights=extractor.source)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("\n".join(lines))


def refuse_what_statistics_cannot_give(args: argparse.Namespace) -> None:
    """--kid and --prdc need features; a statistics .npz without them is refused before Inception loads."""
    import numpy as np  # lazy: keeps numpy out of start-up

    if not keeps_features(args):
        return
    for spec in (args.a, args.b):
        path = Path(spec).expanduser() if spec else None
        if path is None or path.suffix != ".npz" or not path.is_file():
            continue
        try:
            with np.load(path, allow_pickle=False) as stored:
                has_features = "features" in stored.files
        except Exception:  # noqa: BLE001 - an unreadable file is reported where it is loaded
            continue
        if not has_features:
            wanted = " and ".join(f for f, on in (("--kid", args.kid), ("--prdc", args.prdc)) if on)
            raise UserError(f"{wanted} needs features on both sides; {spec} holds only mu and sigma "
                            "(--save-stats with --kid or --prdc keeps them)")


def keeps_features(args: argparse.Namespace) -> bool:
    """KID and PRDC need the features themselves, not only their statistics."""
    return args.kid or args.prdc


def fidelity_and_diversity(a: Source, b: Source, args: argparse.Namespace) -> dict:
    """Precision, recall, density and coverage on the Inception features; the real side is the one
    not generated from a checkpoint (B when both or neither are)."""
    from wgan_cli.metrics.prdc import K_DC, K_PR, prdc  # lazy: keeps torch out of start-up

    if a.features is None or b.features is None:
        raise UserError("--prdc needs features on both sides; a statistics .npz has only mu and sigma "
                        "(--save-stats with --prdc keeps them)")
    real, fake, side = (a, b, "A") if b.generated and not a.generated else (b, a, "B")
    k_pr, k_dc = (args.k, args.k) if args.k else (K_PR, K_DC)
    for source in (real, fake):
        if len(source.features) <= max(k_pr, k_dc):
            raise UserError(f"--prdc: {source.label} has {len(source.features)} images; k = {max(k_pr, k_dc)} "
                            f"nearest neighbours need at least {max(k_pr, k_dc) + 1}")
    values = prdc(real.features, fake.features, k_pr=k_pr, k_dc=k_dc)
    return {**vars(values), "k": f"{k_pr} (precision, recall), {k_dc} (density, coverage)", "real": side}


def main() -> None:
    args = parse_args(sys.argv[1:])
    run_command(lambda: run(args))
