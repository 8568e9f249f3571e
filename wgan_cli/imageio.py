"""Image files: listing a folder and decoding one file, for every reader (training data, ``fid``,
``w1``), so that all of them see the same pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wgan_cli.errors import DataError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # torchvision's


def list_images(path: Path) -> list[Path]:
    """Every image file below ``path``, recursively, in sorted order."""
    return sorted(p for p in Path(path).rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)


def decode_rgb(file: Path) -> np.ndarray:
    """One file as uint8 [H, W, 3]; a file Pillow cannot decode is a one-line ``DataError``."""
    from PIL import Image

    try:
        with Image.open(file) as opened:
            return np.array(opened.convert("RGB"), dtype=np.uint8)
    except Exception as ex:  # noqa: BLE001 - any undecodable file is the same error to the user
        raise DataError(f"cannot decode {file}: {type(ex).__name__}: {ex}") from ex
