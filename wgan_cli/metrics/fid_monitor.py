"""FID during training: reference statistics of the training images (cached per dataset, split,
size, N and extractor), and the generated images' every ``fid.every`` steps, logged as
``fid/fid<N>_<split>`` (with ``fid/kid...``, ``fid/is...`` and, with ``fid.prdc``,
``fid/precision...``, ``fid/recall...``, ``fid/density...``, ``fid/coverage...`` when asked for and
possible)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Callable

import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

from wgan_cli.errors import ConfigError
from wgan_cli.metrics.fid import (
    Statistics, cached_statistics, default_cache_dir, features_of, fid, inception_score, kid, protocol_tag)
from wgan_cli.metrics.inception import EXTRACTOR, EXTRACTOR_ID, FeatureExtractor
from wgan_cli.metrics.prdc import K_DC, K_PR, prdc
from wgan_cli.progress import Progress

log = logging.getLogger("wgan_cli")


def reference_key(data_cfg, n: int, size: int) -> str:  # noqa: ANN001 - a data config node
    """Cache key: dataset, split, image size, N, extractor, and a hash of the whole data config."""
    data_id = hashlib.sha1(OmegaConf.to_yaml(data_cfg).encode()).hexdigest()[:8]
    split = data_cfg.get("split", "train")
    return f"{data_cfg.name}-{split}-{size}px-n{n}-{EXTRACTOR_ID}-{data_id}"


class FidMonitor:
    def __init__(self, cfg, data, device: torch.device) -> None:  # noqa: ANN001
        if not hasattr(data, "reference_images"):
            raise ConfigError(f"fid.every={cfg.fid.every}: FID needs image data (data={cfg.data.name}); set fid.every=0")
        self.cfg, self.seed = cfg.fid, cfg.seed
        self.n = cfg.fid.num_samples or (10_000 if device.type == "cuda" else 1_000)
        if device.type != "cuda" and not cfg.fid.num_samples:
            log.warning("FID on CPU: %d generated samples by default (fid.num_samples); slow, and biased upward", self.n)
        self.tag = protocol_tag(self.n, cfg.data.get("split", "train"))
        self.extractor = FeatureExtractor(cfg.fid.weights, cfg.fid.download, device)
        log.info("FID features: %s; weights from %s", self.extractor.describe()["extractor"], self.extractor.source)
        if self.extractor.head is None:
            log.info("IS not logged: these Inception weights have no classifier head")
        images = data.reference_images(cfg.fid.reference_n)
        if cfg.fid.prdc and min(len(images), self.n) <= K_DC:
            raise ConfigError(f"fid.prdc=true: {len(images)} reference and {self.n} generated images; density and "
                              f"coverage need more than {K_DC} on each side (fid.reference_n, fid.num_samples)")
        self.reference, cached = cached_statistics(
            reference_key(cfg.data, len(images), images.shape[-1]),
            Path(cfg.fid.cache_dir or default_cache_dir()),
            lambda parts: features_of(self.extractor, images, self.cfg.batch, parts),
            keep_features=cfg.fid.kid or cfg.fid.prdc,
        )
        log.info("FID reference statistics (%d images) %s", len(images), "loaded from cache" if cached else "computed")
        split = cfg.data.get("split", "train")
        self.protocol = (
            f"{self.tag}: {self.n} generated images vs {self.reference.n} {cfg.data.name} {split}-split images "
            f"at {images.shape[-1]}px; features: {EXTRACTOR}; weights: {self.extractor.source}"
            + (f"; precision and recall with k = {K_PR}, density and coverage with k = {K_DC} nearest "
               "neighbours, on the same features" if cfg.fid.prdc else "")
        )

    def rng(self, step: int) -> torch.Generator:
        return torch.Generator(self.extractor.device).manual_seed(self.seed * 7_919 + step)

    @torch.inference_mode()
    def evaluate(self, generator: nn.Module, noise: Callable[[int], Tensor]) -> dict[str, float]:
        """FID (and KID, IS) of ``fid.num_samples`` images from ``generator``, in eval mode."""
        was_training = generator.training
        generator.eval()
        progress = Progress(f"FID features of {self.n} generated images", self.n, bar=False)  # the run's bar shows "FID"
        try:
            feats = []
            for i in range(0, self.n, self.cfg.batch):
                feats.append(self.extractor(generator(noise(min(self.cfg.batch, self.n - i)))))
                progress.advance(len(feats[-1]))
            feats = torch.cat(feats)
        finally:
            generator.train(was_training)
            progress.close()
        scores = {self.tag: fid(Statistics.of(feats), self.reference)}
        if self.cfg.kid:
            scores[self.tag.replace("fid/fid", "fid/kid", 1)] = kid(feats, self.reference.features)[0]
        if self.cfg.prdc:
            scores.update(prdc(self.reference.features, feats).as_dict("fid/", self.tag.removeprefix("fid/fid")))
        if self.extractor.head is not None:
            scores[self.tag.replace("fid/fid", "fid/is", 1)] = inception_score(self.extractor.class_logits(feats))[0]
        return scores
