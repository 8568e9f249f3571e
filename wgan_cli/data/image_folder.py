"""``data=image_folder``: every image under ``data.path`` (recursively), RGB, center-cropped and
resized to ``data.size``.

A folder that fits in ``data.max_memory_mb`` is decoded once and lives on the training device
(as the other image datasets, ``data/images.py``). A larger one streams through a DataLoader with
workers and pinned memory, in shuffled epochs; under data parallelism each process decodes only
its rows of each global batch.
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import os
import signal
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from wgan_cli.data.base import DATASETS, DataSource
from wgan_cli.data.images import ImageSource, resize_uint8, to_unit_range
from wgan_cli.errors import DataError
from wgan_cli.imageio import decode_rgb, list_images
from wgan_cli.schema.data import FolderConfig

if TYPE_CHECKING:
    from wgan_cli.distributed import Shard


def read_image(file: Path, size: int) -> Tensor:
    """One file -> uint8 [3, size, size]: decode, center-crop to a square, resize."""
    from torchvision.transforms.v2.functional import center_crop  # lazy: torchvision loads only where it is used

    try:
        image = torch.from_numpy(decode_rgb(file)).permute(2, 0, 1).contiguous()
    except DataError as ex:
        raise DataError(f"data.path: {ex}") from ex
    side = min(image.shape[-2:])
    return resize_uint8(center_crop(image, [side, side]).unsqueeze(0), size)[0]


@DATASETS.register("image_folder", FolderConfig)
class ImageFolder(ImageSource):
    """Every image under ``data.path`` (recursively), RGB. Streams when larger than ``max_memory_mb``."""

    def __init__(self, cfg: FolderConfig, device: torch.device) -> None:
        path = Path(cfg.path).expanduser()
        if path.is_file():
            raise DataError(f"data.path={cfg.path}: is a file; give the folder that holds the images")
        if not path.is_dir():
            raise DataError(f"data.path={cfg.path}: no such folder")
        if not os.access(path, os.R_OK | os.X_OK):
            raise DataError(f"data.path={cfg.path}: folder is not readable")
        self.files = list_images(path)
        if not self.files:
            raise DataError(f"data.path={cfg.path}: no image files in this folder")
        self.streaming = len(self.files) * 3 * cfg.size**2 > cfg.max_memory_mb * 2**20
        self.on_device = not self.streaming
        if not self.streaming:
            super().__init__(cfg, device)
            return
        DataSource.__init__(self, cfg, device)
        self.shape = (3, cfg.size, cfg.size)
        self._batches: Iterator[Tensor] | None = None

    def load(self) -> Tensor:
        """Every file, decoded; the files that cannot be are named together (a few, and a count)."""
        images, bad = [], []
        for file in self.files:
            try:
                images.append(read_image(file, self.cfg.size))
            except DataError as ex:
                bad.append((file, str(ex).split(f"{file}: ", 1)[-1].split(":")[0]))
        if bad:
            named = "; ".join(f"{file} ({why})" for file, why in bad[:3])
            more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            raise DataError(f"data.path={self.cfg.path}: {len(bad)} of {len(self.files)} files cannot be decoded: "
                            f"{named}{more}; remove or replace them")
        return torch.stack(images)

    def reference_images(self, n: int) -> Tensor:
        if not self.streaming:
            return super().reference_images(n)
        return torch.stack([read_image(f, self.cfg.size) for f in self.files[:n]])

    def count(self) -> int:
        return len(self.files)

    def take(self, idx: Tensor) -> Tensor:
        """Streaming: the files at ``idx``, read here."""
        if not self.streaming:
            return super().take(idx)
        return to_unit_range(torch.stack([read_image(self.files[i], self.cfg.size) for i in idx.tolist()]).to(self.device))

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` images drawn with ``generator``. Streaming (evaluation's draws): ``n`` files read
        here, apart from the training stream, which they leave as it was."""
        if not self.streaming:
            return super().sample(n, generator)
        return self.take(torch.randint(len(self.files), (n,), device=generator.device, generator=generator))

    def batch_rows(self, n: int, generator: torch.Generator, shard: Shard) -> Tensor:
        if not self.streaming:
            return super().batch_rows(n, generator, shard)
        if self._batches is None:
            self._batches = stream_batches(self.files, self.cfg.size, self.cfg.workers, self.device, generator, n, shard)
            STREAMING.add(self)
        return to_unit_range(next(self._batches).to(self.device, non_blocking=True))

    def close(self) -> None:
        """Shut the DataLoader's workers down (through its iterator's own shutdown)."""
        if self._batches is not None:
            self._batches.close()
            self._batches = None


def stream_batches(files: list[Path], size: int, workers: int, device: torch.device, generator: torch.Generator,
                   n: int, shard: Shard) -> Iterator[Tensor]:
    """This process's rows of each global batch of ``n``, decoded by DataLoader workers; the
    shuffle is seeded from the run's generator. A function, not a method: holding no reference to
    its source, it is finalized (its workers shut down) as soon as the source is dropped, rather
    than by the cycle collector, which may close the workers' queues first and leave each to time
    out (10 s)."""
    seed = int(torch.randint(2**62, (1,), device=generator.device, generator=generator))
    batches = iter(DataLoader(
        _Files(files, size), batch_sampler=_RowsOfBatches(len(files), seed, n, shard),
        num_workers=workers, pin_memory=device.type == "cuda", worker_init_fn=init_worker,
    ))
    if workers and not _exit_handler:  # now that multiprocessing registered its own
        _exit_handler.append(atexit.register(close_streams))
    try:
        yield from batches
    except DataError as ex:  # a worker's: its message holds the worker's traceback; keep the last line
        raise DataError(worker_error_line(str(ex))) from None
    finally:  # closed: stop the workers now, not whenever the iterator is collected
        shutdown = getattr(batches, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


def worker_error_line(message: str) -> str:
    """The error a DataLoader worker raised, from torch's re-raised message ("Caught DataError in
    DataLoader worker process 0. Original Traceback ... wgan_cli.errors.DataError: LINE")."""
    last = [line for line in message.strip().splitlines() if line.strip()][-1]
    return last.split("DataError: ", 1)[-1]


STREAMING: weakref.WeakSet = weakref.WeakSet()  # folders whose DataLoader workers are running
_exit_handler: list = []


def close_streams() -> None:
    """At exit, shut the workers down before multiprocessing's exit handler would terminate them
    with SIGTERM, which they ignore (below), and wait for them forever. Registered when a stream
    starts: atexit runs the last registered first."""
    for source in list(STREAMING):
        source.close()
    for child in multiprocessing.active_children():  # any left: multiprocessing would SIGTERM them and wait
        if child.daemon:
            child.kill()


def init_worker(worker_id: int) -> None:
    """In each DataLoader worker: one intra-op thread (the workers decode while the main process
    computes; more threads would only compete for its cores), and SIGTERM, SIGINT and SIGHUP
    ignored: ``scancel``, ``docker stop`` and Ctrl-C signal the whole process group; the main
    process then saves ``last.pt`` at the end of the step and shuts the workers down itself,
    instead of dying of a killed worker."""
    torch.set_num_threads(1)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


class _RowsOfBatches:
    """Endless epochs, each a permutation of the files seeded ``seed``, ``seed + 1``, ... (what
    ``shuffle=True`` with that generator draws), cut into global batches of ``n``: yields this
    process's indices of each batch."""

    def __init__(self, count: int, seed: int, n: int, shard: Shard) -> None:
        self.count, self.seed, self.n, self.shard = count, seed, n, shard

    def __iter__(self) -> Iterator[list[int]]:
        def epochs() -> Iterator[int]:
            for seed in itertools.count(self.seed):
                yield from torch.randperm(self.count, generator=torch.Generator().manual_seed(seed)).tolist()

        indices = epochs()
        while True:
            yield self.shard.rows(list(itertools.islice(indices, self.n)))


class _Files(torch.utils.data.Dataset):
    def __init__(self, files: list[Path], size: int) -> None:
        self.files, self.size = files, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Tensor:
        return read_image(self.files[i], self.size)
