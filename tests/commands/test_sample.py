"""wgan-cli sample: grids, arrays and folders from a run's generator; bad input in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import FAST, run_cli


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("digits")
    result = run_cli("train", "experiment=digits", "steps=3", "eval.n=32", "ema.decay=0.5", f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr
    return run


@pytest.mark.slow
def test_sample_writes_a_grid_an_array_and_a_folder_from_the_ema_generator(image_run, tmp_path):
    from PIL import Image

    from wgan_cli.checkpoint import generator_from_checkpoint, load_checkpoint

    grid = run_cli("sample", str(image_run), "--num-samples", "16", "--out", str(tmp_path / "grid.png"))
    assert grid.returncode == 0 and "EMA generator, step 3" in grid.stdout, grid.stderr
    side = 4 * 16 + 5 * 2  # 4 x 4 images of 16 px, padding 2: 74 px, upscaled 7x to at least 512
    assert Image.open(tmp_path / "grid.png").size == (7 * side, 7 * side)
    pixels = np.asarray(Image.open(tmp_path / "grid.png").convert("L")).astype(int)
    assert (pixels[::7, ::7].repeat(7, 0).repeat(7, 1) == pixels).all()  # nearest neighbour: sharp squares
    assert run_cli("sample", str(image_run), "--num-samples", "5", "--out", str(tmp_path / "s.npy")).returncode == 0
    array = np.load(tmp_path / "s.npy")
    assert array.shape == (5, 1, 16, 16) and array.dtype == np.uint8
    state = load_checkpoint(image_run)
    generator, noise_dim = generator_from_checkpoint(state)
    ema = {k[len("module."):]: v for k, v in state["ema"].items() if k.startswith("module.")}
    loaded = generator.state_dict()
    assert all(torch.equal(loaded[k], ema[k]) for k in loaded)  # the EMA weights, not the raw ones
    assert any(not torch.equal(state["generator"][k], ema[k]) for k in loaded if ema[k].is_floating_point())
    with torch.no_grad():
        expected = generator(torch.randn(5, noise_dim, generator=torch.Generator().manual_seed(0)))
    assert np.array_equal(array, ((expected + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy())
    assert run_cli("sample", str(image_run), "--num-samples", "3", "--out", str(tmp_path / "pngs")).returncode == 0
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == ["000000.png", "000001.png", "000002.png"]


@pytest.mark.slow
def test_sample_writes_points_for_2d_data(tmp_path):
    assert run_cli("train", "steps=5", *FAST, f"hydra.run.dir={tmp_path / 'run'}").returncode == 0
    result = run_cli("sample", str(tmp_path / "run" / "checkpoints" / "last.pt"), "--num-samples", "7",
                     "--out", str(tmp_path / "p.csv"))
    assert result.returncode == 0, result.stderr
    points = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)
    assert points.shape == (7, 2) and np.isfinite(points).all()
    assert run_cli("sample", str(tmp_path / "run"), "--out", str(tmp_path / "p.png")).returncode == 0
    assert (tmp_path / "p.png").stat().st_size > 1000


@pytest.mark.parametrize("args, message", [
    (["nowhere", "--out", "x.png"], "no such checkpoint"),
    (["STATEFUL_RUN", "--out", "x.csv"], "for images write .png/.jpg, .npy or a folder"),
    (["STATEFUL_RUN", "--out", "missing/x.png"], "does not exist"),
])
@pytest.mark.slow
def test_sample_bad_input_is_one_line(image_run, tmp_path, args, message):
    args = [str(image_run) if a == "STATEFUL_RUN" else a for a in args]
    result = run_cli("sample", *args, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
