"""The image datasets through torchvision's real loaders on tiny files in their own formats (digits,
MNIST, Fashion-MNIST, CIFAR-10), and a run on digits."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from wgan_cli.errors import DataError

from helpers import build_data, event_accumulator, run_cli


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


def test_digits_are_the_bundled_1797_images_in_unit_range():
    source = build_data("digits", size=16)
    assert source.images.shape == (1797, 1, 16, 16) and source.images.dtype == torch.uint8
    x = source.sample(500, torch.Generator().manual_seed(0))
    assert x.shape == (500, 1, 16, 16)
    assert x.min() >= -1 and x.max() <= 1 and x.min() == -1  # the digits' background is 0 -> -1


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_family_reads_idx_files_through_torchvision(tmp_path, name, folder):
    images = write_mnist(tmp_path, folder)
    native = build_data(name, root=str(tmp_path), size=28)
    assert native.images.shape == (10, 1, 28, 28)
    assert torch.equal(native.images[:, 0], torch.from_numpy(images))
    resized = build_data(name, root=str(tmp_path), size=32)
    assert resized.shape == (1, 32, 32)


def test_cifar10_reads_the_pickled_batches_through_torchvision(cifar_root):
    source = build_data("cifar10", root=str(cifar_root))
    assert source.images.shape == (20, 3, 32, 32)
    batch = pickle.loads((cifar_root / "cifar-10-batches-py" / "data_batch_1").read_bytes())
    first = torch.from_numpy(batch["data"].reshape(-1, 3, 32, 32))
    assert torch.equal(source.images[:4], first)
    x = source.sample(8, torch.Generator().manual_seed(0))
    assert torch.equal(x, x.clamp(-1, 1)) and x.dtype == torch.float32


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_missing_dataset_files_name_the_folder_and_the_override(tmp_path, name):
    with pytest.raises(DataError) as err:
        build_data(name, root=str(tmp_path / "nowhere"))
    message = str(err.value)
    assert str(tmp_path / "nowhere") in message and "data.download=true" in message and "data.root=" in message


def test_a_corrupt_mnist_file_is_a_data_error(tmp_path):
    write_mnist(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DataError, match="could not read"):
        build_data("mnist", root=str(tmp_path))


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
