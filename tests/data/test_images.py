"""Image data through the real loaders on tiny files in the datasets' own formats, the image
models, the losses, and the presets."""

from __future__ import annotations

import logging
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from wgan_cli.critic import STRATEGIES
from wgan_cli.critic.gp import GPConfig
from wgan_cli.critic.sn import SNConfig
from wgan_cli.data import DATASETS
from wgan_cli.data import images as images_module
from wgan_cli.distributed import WHOLE, Shard
from wgan_cli.errors import ConfigError, DataError
from wgan_cli.loss import LOSSES
from wgan_cli.model import MODELS
from wgan_cli.training import Trainer

from helpers import ROOT, compose_config, event_accumulator, run_cli

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def stop_streams():
    """Shut down the DataLoader workers a test's streamed folders started, at the test's end (left to
    the garbage collector, their shutdown lands in a later test and costs it up to 20 s)."""
    yield
    images_module.close_streams()


def build(name: str, **kwargs):
    return DATASETS.build(DATASETS.config(name, **kwargs), CPU)


# -- writers of the datasets' own formats ------------------------------------------------------
def write_png(image: torch.Tensor, path: str) -> None:
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(path)


def write_idx(path: Path, array: np.ndarray) -> None:
    """The IDX format of MNIST: magic (0, 0, 0x08 = uint8, ndim), big-endian int32 dims, bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str, n: int = 10) -> np.ndarray:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    for split, count in (("train", n), ("t10k", 3)):
        write_idx(root / folder / "raw" / f"{split}-images-idx3-ubyte", images[:count])
        write_idx(root / folder / "raw" / f"{split}-labels-idx1-ubyte", np.arange(count) % 10)
    return images


# -- data ----------------------------------------------------------------------------------------
def test_digits_are_the_bundled_1797_images_in_unit_range():
    source = build("digits", size=16)
    assert source.images.shape == (1797, 1, 16, 16) and source.images.dtype == torch.uint8
    x = source.sample(500, torch.Generator().manual_seed(0))
    assert x.shape == (500, 1, 16, 16)
    assert x.min() >= -1 and x.max() <= 1 and x.min() == -1  # the digits' background is 0 -> -1


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_family_reads_idx_files_through_torchvision(tmp_path, name, folder):
    images = write_mnist(tmp_path, folder)
    native = build(name, root=str(tmp_path), size=28)
    assert native.images.shape == (10, 1, 28, 28)
    assert torch.equal(native.images[:, 0], torch.from_numpy(images))
    resized = build(name, root=str(tmp_path), size=32)
    assert resized.shape == (1, 32, 32)


def test_cifar10_reads_the_pickled_batches_through_torchvision(cifar_root):
    source = build("cifar10", root=str(cifar_root))
    assert source.images.shape == (20, 3, 32, 32)
    batch = pickle.loads((cifar_root / "cifar-10-batches-py" / "data_batch_1").read_bytes())
    first = torch.from_numpy(batch["data"].reshape(-1, 3, 32, 32))
    assert torch.equal(source.images[:4], first)
    x = source.sample(8, torch.Generator().manual_seed(0))
    assert torch.equal(x, x.clamp(-1, 1)) and x.dtype == torch.float32


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_missing_dataset_files_name_the_folder_and_the_override(tmp_path, name):
    with pytest.raises(DataError) as err:
        build(name, root=str(tmp_path / "nowhere"))
    message = str(err.value)
    assert str(tmp_path / "nowhere") in message and "data.download=true" in message and "data.root=" in message


def test_a_corrupt_mnist_file_is_a_data_error(tmp_path):
    write_mnist(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DataError, match="could not read"):
        build("mnist", root=str(tmp_path))


def test_image_folder_center_crops_and_resizes(tmp_path):
    wide = torch.zeros(3, 40, 80, dtype=torch.uint8)
    wide[:, :, 20:60] = 255  # a white centre square between black side bands
    write_png(wide, str(tmp_path / "wide.png"))
    (tmp_path / "sub").mkdir()
    write_png(torch.full((3, 50, 50), 100, dtype=torch.uint8), str(tmp_path / "sub" / "grey.png"))
    source = build("image_folder", path=str(tmp_path), size=16)
    assert source.images.shape == (2, 3, 16, 16)
    assert source.images[1].float().mean() > 250  # wide.png: the crop keeps only the white centre
    assert (source.images[0] == 100).all()


def test_image_folder_streams_when_larger_than_the_memory_budget(tmp_path):
    for i in range(5):
        write_png(torch.full((3, 20, 20), 50 * i, dtype=torch.uint8), str(tmp_path / f"{i}.png"))
    source = build("image_folder", path=str(tmp_path), size=8, max_memory_mb=0, workers=0)
    assert source.streaming and not hasattr(source, "images") and not source.on_device
    g = torch.Generator().manual_seed(0)
    x = torch.cat([source.batch_rows(4, g, WHOLE) for _ in range(3)])  # 12 rows: two whole epochs and more
    assert x.shape == (12, 3, 8, 8)
    first, second = sorted(x[:5, 0, 0, 0].tolist()), sorted(x[5:10, 0, 0, 0].tolist())
    assert first == second == pytest.approx([50 * i / 127.5 - 1 for i in range(5)])  # each epoch every image once


def stream_folder(tmp_path: Path, workers: int = 1, n: int = 23):
    for i in range(n):
        write_png(torch.full((3, 8, 8), 10 * i, dtype=torch.uint8), str(tmp_path / f"{i:02d}.png"))
    return build("image_folder", path=str(tmp_path), size=8, max_memory_mb=0, workers=workers)


def test_each_process_decodes_only_its_rows_of_a_streamed_batch(tmp_path, monkeypatch):
    """Under data parallelism a streamed batch is cut as the trainer cuts noise (Shard.rows): rank r
    gets rows r*b .. (r+1)*b - 1 of what one process gets, across epoch boundaries, and reads only
    those files."""
    g = torch.Generator().manual_seed(1)
    whole = stream_folder(tmp_path)
    whole_batches = [whole.batch_rows(8, g, WHOLE) for _ in range(7)]  # 56 rows: past two epochs of 23
    read: list[Path] = []
    real_read = images_module.read_image

    def counted_read(path: Path, size: int) -> torch.Tensor:
        read.append(path)
        return real_read(path, size)

    monkeypatch.setattr(images_module, "read_image", counted_read)
    for rank in (0, 1):
        read.clear()
        source, g = stream_folder(tmp_path, workers=0), torch.Generator().manual_seed(1)  # decoded here: counted
        for k in range(7):
            assert torch.equal(source.batch_rows(8, g, Shard(rank=rank, world=2)), whole_batches[k][rank * 4:(rank + 1) * 4])
        assert len(read) == 7 * 4


def test_dropping_a_streamed_folder_stops_its_workers_at_once(tmp_path):
    """The stream holds no reference to its folder, so dropping the folder finalizes the stream by
    reference counting, whose shutdown the workers obey; left to the cycle collector, the workers'
    queues could be closed first and each worker took 10 s to time out (and lingered)."""
    import multiprocessing

    source = stream_folder(tmp_path, workers=1)
    source.batch_rows(8, torch.Generator().manual_seed(0), WHOLE)
    assert any(child.daemon for child in multiprocessing.active_children())
    del source  # no gc.collect(): reference counting alone must finish the stream
    assert not multiprocessing.active_children()


def test_evaluation_draws_from_a_streamed_folder_leave_the_training_stream_alone(tmp_path):
    plain, evaluated = stream_folder(tmp_path), stream_folder(tmp_path)
    g1, g2 = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    a = [plain.batch_rows(8, g1, WHOLE) for _ in range(2)]
    b = [evaluated.batch_rows(8, g2, WHOLE)]
    drawn = evaluated.sample(50, torch.Generator().manual_seed(9))  # evaluation's own generator
    b.append(evaluated.batch_rows(8, g2, WHOLE))
    assert drawn.shape == (50, 3, 8, 8) and drawn.min() >= -1 and drawn.max() <= 1
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.slow
def test_a_run_on_a_streamed_folder_trains_and_evaluates(tmp_path):
    (tmp_path / "images").mkdir()
    stream_folder(tmp_path / "images")
    cfg = compose_config("data=image_folder", f"data.path={tmp_path / 'images'}", "data.size=8", "data.max_memory_mb=0",
                         "data.workers=1", "fid.every=0", "critic=gp", "model=mlp", "model.width=32", "batch_size=8", "steps=4", "eval.every=4",
                         "eval.n=16", "checkpoint.every=0")
    trainer = Trainer(cfg, tmp_path / "run")
    assert trainer.data.streaming and trainer.graph_off in ("not on CUDA", "the data streams from the host")
    before = [p.clone() for p in trainer.nets.D.parameters()]
    metrics = trainer.fit()
    assert trainer.state.step == 4 and all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert metrics["w1/exact"] > 0 and any(not torch.equal(a, b) for a, b in zip(before, trainer.nets.D.parameters()))


def test_image_folder_errors(tmp_path):
    with pytest.raises(ConfigError, match="data.path"):
        build("image_folder", path="")
    with pytest.raises(DataError, match="no such folder"):
        build("image_folder", path=str(tmp_path / "missing"))
    with pytest.raises(DataError, match="no image files"):
        build("image_folder", path=str(tmp_path))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="1 of 1 files cannot be decoded: .*broken.png"):
        build("image_folder", path=str(tmp_path))


def test_every_undecodable_file_is_named_at_once(tmp_path):
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(tmp_path / f"ok{i}.png")
    for i in range(5):
        (tmp_path / f"bad{i}.png").write_bytes(b"not a png")
    with pytest.raises(DataError) as caught:
        build("image_folder", path=str(tmp_path))
    message = str(caught.value)
    assert "5 of 9 files cannot be decoded" in message and "and 2 more" in message
    assert all(f"bad{i}.png (UnidentifiedImageError)" in message for i in range(3)) and "\n" not in message


@pytest.mark.slow
def test_a_corrupt_file_in_a_streamed_folder_is_one_line_naming_it(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(np.full((8, 8, 3), 20 * i, dtype=np.uint8)).save(folder / f"{i:02d}.png")
    (folder / "07.png").write_bytes(b"truncated")
    result = run_cli("train", "data=image_folder", f"data.path={folder}", "data.size=8", "data.max_memory_mb=0",
                     "data.workers=2", "model=mlp", "model.noise_dim=8", "fid.every=0", "steps=20", "batch_size=4",
                     "eval.n=8", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert "cannot decode" in result.stderr and "07.png" in result.stderr and len(result.stderr) < 400, result.stderr


# -- models --------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["cnn32", "resnet32"])
@pytest.mark.parametrize("shape", [(1, 16, 16), (3, 32, 32), (1, 32, 32)])
@pytest.mark.slow
def test_image_models_output_shapes(model, shape):
    cfg = compose_config(f"model={model}").model
    G, D = MODELS.get(model)(cfg, shape)
    x = G(torch.randn(4, cfg.noise_dim))
    assert x.shape == (4, *shape) and x.abs().max() <= 1
    assert D(x).shape == (4,)


@pytest.mark.parametrize("model", ["cnn32", "resnet32"])
def test_image_models_refuse_what_they_cannot_serve(model):
    cfg = compose_config(f"model={model}").model
    with pytest.raises(ConfigError, match="data.size=28.*multiple of 8"):
        MODELS.get(model)(cfg, (1, 28, 28))
    with pytest.raises(ConfigError, match="needs image data"):
        MODELS.get(model)(cfg, (2,))


@pytest.mark.parametrize("model", ["cnn32", "resnet32"])
def test_sn_gives_every_conv_critic_layer_unit_spectral_norm(model):
    torch.manual_seed(0)
    cfg = compose_config(f"model={model}").model
    _, D = MODELS.get(model)(cfg, (3, 32, 32))
    D = STRATEGIES.build(SNConfig(power_iterations=1)).prepare(D)
    D.train()
    with torch.no_grad():
        for _ in range(30):  # let the power iteration converge
            D(torch.randn(2, 3, 32, 32))
    layers = [m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) >= 5
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.02)


def test_gp_on_a_conv_critic_penalizes_the_per_sample_gradient_norm():
    torch.manual_seed(0)
    cfg = compose_config("model=cnn32", "model.channels=8").model
    _, D = MODELS.get("cnn32")(cfg, (3, 16, 16))
    real, fake = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)
    value = STRATEGIES.build(GPConfig(weight=10.0)).penalty(D, real, fake, torch.Generator().manual_seed(7))
    # the same interpolates, one sample at a time
    eps = torch.rand(4, 1, 1, 1, generator=torch.Generator().manual_seed(7))
    norms = []
    for i in range(4):
        x = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).unsqueeze(0).requires_grad_(True)
        (grad,) = torch.autograd.grad(D(x).sum(), x)
        norms.append(grad.flatten().norm())
    expected = 10.0 * ((torch.stack(norms) - 1) ** 2).mean()
    assert value.item() == pytest.approx(expected.item(), rel=1e-4)


# -- losses --------------------------------------------------------------------------------------
def test_hinge_and_nonsaturating_losses_follow_their_formulas():
    f_real, f_fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.5])
    hinge = LOSSES.build(compose_config("loss=hinge").loss)
    assert hinge.critic(f_real, f_fake).item() == pytest.approx((0 + 0.5 + 2) / 3 + (0 + 1 + 2.5) / 3)
    assert hinge.generator(f_fake).item() == pytest.approx(-(-2.0 + 0.0 + 1.5) / 3)
    ns = LOSSES.build(compose_config("loss=nonsaturating").loss)
    bce = F.binary_cross_entropy_with_logits
    assert ns.critic(f_real, f_fake).item() == pytest.approx(
        (bce(f_real, torch.ones(3)) + bce(f_fake, torch.zeros(3))).item(), rel=1e-6
    )
    assert ns.generator(f_fake).item() == pytest.approx(bce(f_fake, torch.ones(3)).item(), rel=1e-6)
    assert not hinge.is_wasserstein and not ns.is_wasserstein


# -- presets -------------------------------------------------------------------------------------
PRESETS = ["wgan_clip_cifar10_cnn", "wgan_gp_cifar10_cnn", "sngan_cifar10_cnn",
           "wgan_gp_cifar10_resnet", "sngan_cifar10_resnet", "toy_wgan_gp", "digits"]


def test_every_preset_file_is_tested():
    folder = ROOT / "configs" / "experiment"
    assert sorted(p.stem for p in folder.glob("*.yaml")) == sorted(PRESETS)


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_composes_and_runs_two_steps(preset, cifar_root, tmp_path):
    data = [f"data.root={cifar_root}"] if "cifar10" in preset else []
    cfg = compose_config(
        f"experiment={preset}", *data, "batch_size=4", "batch_size_g=4",
        "steps=2", "eval.n=8", "eval.every=0", "device=cpu",
        "fid.num_samples=4", "fid.reference_n=4", f"fid.cache_dir={tmp_path / 'fid'}",
        "probe.updates=2", "probe.batch=4", "probe.n=8",  # the image probe, on by default, read once: kept short
    )
    assert cfg.steps == 2 and cfg.batch_size == 4
    metrics = Trainer(cfg, tmp_path / "run").fit()
    assert metrics["w1/exact"] > 0 and np.isfinite(metrics.get("w1/critic", metrics.get("gap/critic")))
    if cfg.probe.every:  # on by default for image data: the conv probe on every image preset's shape
        assert 0 < metrics["lipschitz/probe"] <= 1 + 1e-3
    if "cifar10" in preset:  # the CIFAR presets log FID (every 5000 steps and at the end)
        assert cfg.fid.every == 5000 and metrics["fid/fid4_train"] > 0


def test_presets_carry_their_published_recipes():
    gp = compose_config("experiment=wgan_gp_cifar10_resnet")
    assert (gp.critic.name, gp.model.name, gp.n_critic, gp.batch_size, gp.batch_size_g) == ("gp", "resnet32", 5, 64, 128)
    assert (gp.optim.lr_g, list(gp.optim.betas), str(gp.optim.decay.value)) == (2e-4, [0.0, 0.9], "linear")
    sn = compose_config("experiment=sngan_cifar10_cnn")
    assert (sn.critic.name, sn.loss.name, sn.n_critic, sn.optim.lr_d) == ("sn", "hinge", 1, 2e-4)
    assert compose_config("experiment=sngan_cifar10_resnet").model.g_channels == 256
    toy = compose_config("experiment=toy_wgan_gp")
    assert (toy.model.width, toy.critic.weight, toy.batch_size, toy.n_critic) == (512, 0.1, 256, 5)


# -- end to end ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_digits_run_logs_a_fixed_sample_grid_and_labels_a_non_wasserstein_gap(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "train", "experiment=digits", "loss=hinge", "steps=2", "eval.every=1", "eval.n=32",
        "batch_size=8", "model.channels=8", f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr
    acc = event_accumulator(run_dir)
    grids = acc.Images("samples/fixed")
    assert [g.step for g in grids] == [1, 2]
    side = 8 * (16 + 2) + 2  # 8 x 8 images of 16 x 16 with make_grid's 2-pixel padding: 146 px,
    assert (grids[0].width, grids[0].height) == (4 * side, 4 * side)  # upscaled 4x to be readable
    tags = acc.Tags()["scalars"]
    assert "gap/critic" in tags and "w1/critic" not in tags  # under the hinge loss the gap is no W1 estimate
    from tensorboard.plugins.custom_scalar import layout_pb2

    raw = acc.PluginTagToContent("custom_scalars")
    layout = layout_pb2.Layout.FromString(acc.Tensors(next(iter(raw)))[0].tensor_proto.string_val[0])
    assert "not a W1 estimate" in layout.category[0].chart[0].title
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=False)
    assert state["fixed_noise"].shape == (64, 128)


@pytest.mark.slow
def test_missing_cifar_files_through_the_cli_is_one_line(tmp_path):
    result = run_cli("train", "data=cifar10", "model=cnn32", f"data.root={tmp_path}", "steps=1", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "data.download=true" in result.stderr and str(tmp_path) in result.stderr
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").iterdir())  # no empty run dir left
    # a dir that held something before keeps it: only Hydra's record of the refused command goes
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    again = run_cli("train", "data=cifar10", "model=cnn32", f"data.root={tmp_path}", "steps=1", f"hydra.run.dir={kept}")
    assert again.returncode != 0 and (kept / "notes.txt").read_text() == "mine" and (kept / ".hydra").is_dir()


def test_a_process_holding_a_streamed_folder_exits_promptly(tmp_path):
    """DataLoader workers ignore SIGTERM (a group signal is the main process's to handle), so they
    must be shut down before multiprocessing's exit handler would terminate them and wait."""
    import subprocess
    import sys

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(12):
        write_png(torch.zeros(3, 8, 8, dtype=torch.uint8), str(folder / f"{i}.png"))
    script = (
        "import torch\n"
        "from wgan_cli.data import DATASETS\n"
        "from wgan_cli.distributed import WHOLE\n"
        f"src = DATASETS.build(DATASETS.config('image_folder', path={str(folder)!r}, size=8, max_memory_mb=0,"
        " workers=2), torch.device('cpu'))\n"
        "print(tuple(src.batch_rows(4, torch.Generator().manual_seed(0), WHOLE).shape))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "(4, 3, 8, 8)", done.stderr


def test_a_dataset_of_a_few_images_is_accepted_with_a_warning(tmp_path, caplog):
    from PIL import Image

    from wgan_cli.data import DATASETS

    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "only.png")
    caplog.set_level(logging.WARNING)
    cfg = compose_config("data=image_folder", f"data.path={tmp_path}", "data.size=8").data
    source = DATASETS.build(cfg, torch.device("cpu"))
    assert len(source.images) == 1 and "only 1 image(s)" in caplog.text and "memorization" in caplog.text
