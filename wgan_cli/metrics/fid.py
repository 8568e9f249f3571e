"""Frechet Inception Distance and Kernel Inception Distance on pool3 features.

    FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(sqrt(S1) S2 sqrt(S1))

in float64: sqrt(S1) from a symmetric eigendecomposition (negative eigenvalues of a singular
covariance clipped to 0), then the eigenvalues of the symmetric PSD matrix sqrt(S1) S2 sqrt(S1),
whose square roots sum to tr sqrt(S1 S2). No ``scipy.linalg.sqrtm``.

KID (Binkowski et al. 2018): the unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, averaged over
random subsets.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from wgan_cli.paths import cache_dir, written_atomically
from wgan_cli.progress import Progress

log = logging.getLogger("wgan_cli")


@dataclass
class Statistics:
    """Mean and covariance (float64) of N feature vectors; optionally the features (float32, for KID)."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    features: np.ndarray | None = None

    @classmethod
    def of(cls, features: Tensor | np.ndarray, keep_features: bool = False) -> "Statistics":
        f = torch.as_tensor(features, dtype=torch.float64)
        if len(f) < 2:
            raise ValueError("FID statistics need at least 2 samples")
        mu = f.mean(0)
        centred = f - mu
        sigma = centred.T @ centred / (len(f) - 1)
        kept = f.float().cpu().numpy() if keep_features else None
        return cls(mu.cpu().numpy(), sigma.cpu().numpy(), len(f), kept)

    def save(self, path: Path) -> None:
        """``.npz`` with mu, sigma, n (pytorch-fid reads mu and sigma), written atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        extra = {} if self.features is None else {"features": self.features}
        with written_atomically(path) as tmp:  # keeps the .npz suffix: np.savez adds none
            np.savez(tmp, mu=self.mu, sigma=self.sigma, n=self.n, **extra)

    @classmethod
    def load(cls, path: Path) -> "Statistics":
        with np.load(path) as f:
            n = int(f["n"]) if "n" in f else -1
            features = np.asarray(f["features"]) if "features" in f else None
            return cls(np.asarray(f["mu"], np.float64), np.asarray(f["sigma"], np.float64), n, features)


def frechet_distance(mu1, sigma1, mu2, sigma2, device: torch.device | str | None = None) -> float:  # noqa: ANN001
    """FID between N(mu1, sigma1) and N(mu2, sigma2) via two symmetric eigendecompositions."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64, device=device)  # noqa: E731
    mu1, mu2, s1, s2 = t(mu1), t(mu2), t(sigma1), t(sigma2)
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    vals, vecs = torch.linalg.eigh(s1)
    sqrt_s1 = (vecs * vals.clamp(min=0).sqrt()) @ vecs.T
    inner = sqrt_s1 @ s2 @ sqrt_s1
    tr_covmean = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
    diff = mu1 - mu2
    value = diff @ diff + s1.trace() + s2.trace() - 2 * tr_covmean
    return max(float(value), 0.0)


def fid(a: Statistics, b: Statistics) -> float:
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)


def kid(x: Tensor | np.ndarray, y: Tensor | np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Mean and std over subsets of the unbiased MMD^2 with the cubic polynomial kernel."""
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError("KID needs at least 2 samples per side")
    d = x.shape[1]
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        a = x[torch.randperm(len(x), generator=g)[:m]]
        b = y[torch.randperm(len(y), generator=g)[:m]]
        kxx, kyy, kxy = ((a @ a.T) / d + 1) ** 3, ((b @ b.T) / d + 1) ** 3, ((a @ b.T) / d + 1) ** 3
        off = lambda k: (k.sum() - k.diagonal().sum()) / (m * (m - 1))  # noqa: E731
        values.append(float(off(kxx) + off(kyy) - 2 * kxy.mean()))
    return float(np.mean(values)), float(np.std(values))


def inception_score(logits: Tensor, splits: int = 10) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))), mean and std over ``splits`` consecutive chunks."""
    p = torch.softmax(torch.as_tensor(logits, dtype=torch.float64), dim=1)
    scores = []
    for chunk in p.chunk(splits):
        kl = (chunk * (torch.log(chunk + 1e-30) - torch.log(chunk.mean(0, keepdim=True) + 1e-30))).sum(1)
        scores.append(float(kl.mean().exp()))
    return float(np.mean(scores)), float(np.std(scores))


def protocol_tag(n: int, split: str) -> str:
    """``fid/fid10k_train`` style tag: the number of generated samples and the reference split."""
    label = f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)
    return f"fid/fid{label}_{split}"


def default_cache_dir() -> Path:
    return cache_dir("fid_stats")


PART_IMAGES = 500  # images whose features are kept together, as they finish, while statistics are computed


def features_of(extractor, images: Tensor, batch: int, parts: Path | None = None,  # noqa: ANN001 - FeatureExtractor
                label: str = "reference images") -> Tensor:
    """Features of a uint8 or [-1, 1] image tensor, in batches, with progress (a count, a rate and
    the time left: a bar on a terminal, a log line at least every ``Progress.every`` seconds). With
    ``parts`` (a folder), each ``PART_IMAGES`` finished images' features are saved there as
    ``NNNNNNNN.npy`` (the first image's index) and found again by a later call, so that work a kill
    interrupted continues where it stopped."""
    done = load_parts(parts, len(images)) if parts is not None else []
    start = sum(len(d) for d in done)
    progress = Progress(f"FID features of {len(images)} {label}", len(images), start)
    for first in range(start, len(images), PART_IMAGES):
        chunk = images[first:first + PART_IMAGES]
        features = []
        for i in range(0, len(chunk), batch):
            features.append(extractor(chunk[i:i + batch]))
            progress.advance(len(features[-1]))
        done.append(torch.cat(features).float().cpu())
        if parts is not None:
            parts.mkdir(parents=True, exist_ok=True)
            with written_atomically(parts / f"{first:08d}.npy") as tmp:
                np.save(tmp, done[-1].numpy())
    progress.close()
    return torch.cat(done) if done else torch.zeros(0, 2048)


def load_parts(parts: Path, total: int) -> list[Tensor]:
    """The features an interrupted computation saved in ``parts``, in order, up to the first part
    that is missing or unreadable."""
    found = []
    while sum(len(f) for f in found) < total:
        path = parts / f"{sum(len(f) for f in found):08d}.npy"
        try:
            found.append(torch.from_numpy(np.load(path, allow_pickle=False)))
        except (OSError, ValueError):
            break
    if found:
        log.info("FID features: %d of %d images found in %s (an earlier computation); continuing",
                 sum(len(f) for f in found), total, parts)
    return found


def cached_statistics(key: str, cache_dir: Path, features: Callable[[Path], Tensor],
                      keep_features: bool = False) -> tuple[Statistics, bool]:
    """Load ``<cache_dir>/<key>.npz``, or compute the features (``features(parts)``, keeping what
    is done in the folder ``<cache_dir>/<key>.parts`` until the statistics are saved), save their
    statistics atomically and return them; ``keep_features`` (for KID) also stores the features.
    Returns (stats, was_cached)."""
    path = Path(cache_dir) / f"{key}.npz"
    if path.is_file():
        try:
            stats = Statistics.load(path)
        except Exception:  # noqa: BLE001 - a damaged cache entry is recomputed, not fatal
            stats = None
        if stats is not None and (stats.features is not None or not keep_features):
            return stats, True
    parts = Path(cache_dir) / f"{key}.parts"
    stats = Statistics.of(features(parts), keep_features)
    stats.save(path)
    shutil.rmtree(parts, ignore_errors=True)
    return stats, False
