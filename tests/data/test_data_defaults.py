"""The data chooses defaults for what the user did not choose: ``critic=gp data=cifar10`` is the
paper's CNN run with FID, toy data keeps the MLP demo, and explicit choices always win."""

from __future__ import annotations

import io

import numpy as np
import pytest
from omegaconf import OmegaConf

from helpers import compose_config, event_accumulator, run_cli
from helpers import write_cifar10

CRITICS = ["clip", "gp", "lp", "sn", "sn_ttur"]
IMAGE_DATA = ["digits", "mnist", "fashion_mnist", "cifar10", "image_folder"]


def recipe(cfg) -> tuple:  # noqa: ANN001 - a composed config
    return OmegaConf.to_yaml(cfg.optim), cfg.n_critic


@pytest.mark.parametrize("data", IMAGE_DATA)
@pytest.mark.parametrize("critic", CRITICS)
@pytest.mark.slow
def test_image_data_chooses_an_image_model_fid_and_keeps_the_critics_recipe(critic, data):
    cfg = compose_config(f"critic={critic}", f"data={data}")
    assert (cfg.model.name, cfg.model.noise_dim, cfg.batch_size) == ("cnn32", 128, 64)
    assert cfg.fid.every > 0 and cfg.fid.every <= cfg.steps  # FID during the run or at its end
    assert cfg.eval.n == 500
    assert recipe(cfg) == recipe(compose_config(f"critic={critic}"))


@pytest.mark.parametrize("critic, preset", [("gp", "wgan_gp_cifar10_cnn"), ("sn", "sngan_cifar10_cnn"),
                                            ("clip", "wgan_clip_cifar10_cnn")])
def test_the_cards_command_is_the_matching_cnn_preset_but_for_the_loss(critic, preset):
    plain, paper = compose_config(f"critic={critic}", "data=cifar10"), compose_config(f"experiment={preset}")
    for key in ("model", "critic", "data", "optim", "fid", "eval"):
        assert plain[key] == paper[key], key
    for key in ("n_critic", "batch_size", "batch_size_g", "steps"):
        assert plain[key] == paper[key], key


def test_explicit_choices_win_over_the_datas_defaults():
    cfg = compose_config("critic=gp", "data=cifar10", "model=mlp", "fid.every=0", "steps=500", "batch_size=32")
    assert (cfg.model.name, cfg.fid.every, cfg.steps, cfg.batch_size) == ("mlp", 0, 500, 32)
    assert compose_config("data=cifar10", "model=resnet32").model.name == "resnet32"
    assert compose_config("data=mnist", "optim=wgan_gp").n_critic == 5


def test_the_bundled_digits_are_sized_for_a_cpu_and_the_papers_data_keep_the_papers_width():
    digits = compose_config("data=digits")
    assert (digits.data.size, digits.model.name, digits.model.channels) == (16, "cnn32", 16)
    for data in ("cifar10", "mnist", "fashion_mnist"):
        assert compose_config(f"data={data}").model.channels == 64
    assert compose_config("data=digits", "model.channels=32").model.channels == 32  # the command line wins
    assert compose_config("data=digits", "model=resnet32").model.d_channels == 128  # another model: untouched
    assert compose_config("experiment=digits").model.channels == 16


def test_toy_data_keeps_the_mlp_demo():
    demo, toy = compose_config(), compose_config("data=gaussians25")
    for cfg in (demo, toy):
        assert (cfg.model.name, cfg.model.noise_dim, cfg.model.width) == ("mlp", 2, 256)
        assert (cfg.steps, cfg.batch_size, cfg.fid.every, cfg.eval.every, cfg.eval.n) == (3000, 128, 0, 250, 1000)
    assert demo.critic.name == "sn" and demo.optim.lr_d == 1.2e-3


@pytest.mark.parametrize("override, key", [("data.path=x", "path"), ("data.root=x", "root")])
@pytest.mark.slow
def test_a_key_of_another_dataset_family_is_a_one_line_error(override, key):
    data = "digits" if key == "path" else "image_folder"
    result = run_cli("train", f"data={data}", override, "--cfg", "job")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and f"data.{key}: no such key; the keys here are " in result.stderr
    listed = result.stderr.split("keys here are ")[1].strip().split(", ")
    assert "size" in listed and key not in listed  # the chosen family's keys only


@pytest.mark.slow
def test_the_cards_command_logs_w1_and_fid_on_cifar10_files(tmp_path):
    """``wgan-cli train critic=gp data=cifar10`` with only the schedule shortened, through the real
    CLI on CIFAR-10 files in their real pickle format (torchvision's md5 check is patched in the
    child process through sitecustomize: tiny files cannot match it)."""
    write_cifar10(tmp_path / "data")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import torchvision.datasets.cifar as cifar\n"
        "cifar.CIFAR10._check_integrity = lambda self: True\n"
        "cifar.check_integrity = lambda *args, **kwargs: True\n"
    )
    run_dir = tmp_path / "run"
    result = run_cli("train", "critic=gp", "data=cifar10", f"data.root={tmp_path / 'data'}", "steps=2",
                     f"hydra.run.dir={run_dir}",
                     env={"PYTHONPATH": str(hooks), "XDG_CACHE_HOME": str(tmp_path / "cache")}, timeout=900)
    assert result.returncode == 0, result.stderr
    acc = event_accumulator(run_dir)
    tags = acc.Tags()["scalars"]
    assert {"w1/critic", "w1/exact", "w1/probe"} <= set(tags)  # the held-out probe is on for images
    fid_tags = [t for t in tags if t.startswith("fid/fid")]
    assert fid_tags and acc.Scalars(fid_tags[0])[-1].value > 0
    from PIL import Image

    grid = acc.Images("samples/fixed")[-1]
    side = 8 * (32 + 2) + 2  # 8 x 8 images of 32 x 32 with make_grid's 2-pixel padding
    assert (grid.width, grid.height) == (2 * side, 2 * side)  # 274 px, upscaled 2x to at least 512
    pixels = np.asarray(Image.open(io.BytesIO(grid.encoded_image_string)).convert("RGB")).astype(int)
    assert np.abs(pixels[..., 0] - pixels[..., 1]).max() > 0  # colour images, not a grey plane repeated
    config = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert (config.model.name, config.batch_size, config.fid.every) == ("cnn32", 64, 5000)
