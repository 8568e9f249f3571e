"""Image files: listing a folder and decoding one file, for every reader (training data, ``fid``,
``w1``), so that all of them see the same pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from wgan_cli.errors import DataError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # torchvision's


def list_images(path: Path) -> list[Path]:
    """Every image file below ``path``, recursively, in sorted order."""
    return sorted(p for p in Path(path).rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)


def decode_rgb(file: Path) -> np.ndarray:
    """One file as uint8 [H, W, 3], the pixels an image viewer shows: EXIF rotation applied;
    16-bit and 32-bit grayscale scaled to 8 bits (v / 257 for 16-bit, not clipped at 255); palette,
    CMYK, bilevel and grayscale converted to RGB; transparency composited on white, as a page shows
    it. A file Pillow cannot decode is a one-line ``DataError``."""
    try:
        with Image.open(file) as opened:
            return np.array(_viewed_rgb(ImageOps.exif_transpose(opened)), dtype=np.uint8)
    except Exception as ex:  # noqa: BLE001 - any undecodable file is the same error to the user
        raise DataError(f"cannot decode {file}: {type(ex).__name__}: {ex}") from ex


def _viewed_rgb(image):  # noqa: ANN001, ANN202 - PIL.Image -> PIL.Image in mode RGB
    if image.mode.startswith("I") or image.mode == "F":  # I;16, I;16B, I (16- or 32-bit), F
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        if values.max(initial=0) > 65535:  # 32-bit data: its own range
            top = float(values.max())
        gray = np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")
