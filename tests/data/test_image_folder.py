"""data=image_folder (data/image_folder.py): crops and resizes, streams a folder larger than the memory
budget (each process its own rows, workers that stop with the source), names every bad file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wgan_cli.data import image_folder
from wgan_cli.distributed import WHOLE, Shard
from wgan_cli.errors import ConfigError, DataError
from wgan_cli.training import Trainer

from helpers import build_data, compose_config, run_cli, write_png


@pytest.fixture(autouse=True)
def stop_streams():
    """Shut down the DataLoader workers a test's streamed folders started, at the test's end (left to
    the garbage collector, their shutdown lands in a later test and costs it up to 20 s)."""
    yield
    image_folder.close_streams()


def test_image_folder_center_crops_and_resizes(tmp_path):
    wide = torch.zeros(3, 40, 80, dtype=torch.uint8)
    wide[:, :, 20:60] = 255  # a white centre square between black side bands
    write_png(wide, str(tmp_path / "wide.png"))
    (tmp_path / "sub").mkdir()
    write_png(torch.full((3, 50, 50), 100, dtype=torch.uint8), str(tmp_path / "sub" / "grey.png"))
    source = build_data("image_folder", path=str(tmp_path), size=16)
    assert source.images.shape == (2, 3, 16, 16)
    assert source.images[1].float().mean() > 250  # wide.png: the crop keeps only the white centre
    assert (source.images[0] == 100).all()


def test_image_folder_streams_when_larger_than_the_memory_budget(tmp_path):
    for i in range(5):
        write_png(torch.full((3, 20, 20), 50 * i, dtype=torch.uint8), str(tmp_path / f"{i}.png"))
    source = build_data("image_folder", path=str(tmp_path), size=8, max_memory_mb=0, workers=0)
    assert source.streaming and not hasattr(source, "images") and not source.on_device
    g = torch.Generator().manual_seed(0)
    x = torch.cat([source.batch_rows(4, g, WHOLE) for _ in range(3)])  # 12 rows: two whole epochs and more
    assert x.shape == (12, 3, 8, 8)
    first, second = sorted(x[:5, 0, 0, 0].tolist()), sorted(x[5:10, 0, 0, 0].tolist())
    assert first == second == pytest.approx([50 * i / 127.5 - 1 for i in range(5)])  # each epoch every image once


def stream_folder(tmp_path: Path, workers: int = 1, n: int = 23):
    for i in range(n):
        write_png(torch.full((3, 8, 8), 10 * i, dtype=torch.uint8), str(tmp_path / f"{i:02d}.png"))
    return build_data("image_folder", path=str(tmp_path), size=8, max_memory_mb=0, workers=workers)


def test_each_process_decodes_only_its_rows_of_a_streamed_batch(tmp_path, monkeypatch):
    """Under data parallelism a streamed batch is cut as the trainer cuts noise (Shard.rows): rank r
    gets rows r*b .. (r+1)*b - 1 of what one process gets, across epoch boundaries, and reads only
    those files."""
    g = torch.Generator().manual_seed(1)
    whole = stream_folder(tmp_path)
    whole_batches = [whole.batch_rows(8, g, WHOLE) for _ in range(7)]  # 56 rows: past two epochs of 23
    read: list[Path] = []
    real_read = image_folder.read_image

    def counted_read(path: Path, size: int) -> torch.Tensor:
        read.append(path)
        return real_read(path, size)

    monkeypatch.setattr(image_folder, "read_image", counted_read)
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
        build_data("image_folder", path="")
    with pytest.raises(DataError, match="no such folder"):
        build_data("image_folder", path=str(tmp_path / "missing"))
    with pytest.raises(DataError, match="no image files"):
        build_data("image_folder", path=str(tmp_path))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="1 of 1 files cannot be decoded: .*broken.png"):
        build_data("image_folder", path=str(tmp_path))


def test_every_undecodable_file_is_named_at_once(tmp_path):
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(tmp_path / f"ok{i}.png")
    for i in range(5):
        (tmp_path / f"bad{i}.png").write_bytes(b"not a png")
    with pytest.raises(DataError) as caught:
        build_data("image_folder", path=str(tmp_path))
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
