"""Every reader decodes an image file to the 8-bit RGB a viewer shows (16-bit, palette, CMYK, alpha)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wgan_cli.imageio import decode_rgb


def png16(path: Path, values: np.ndarray) -> Path:
    """A 16-bit PNG (grayscale [H, W] or RGB [H, W, 3]) written byte by byte: Pillow cannot save 48-bit RGB."""
    h, w = values.shape[:2]
    raw = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, 2 if values.ndim == 3 else 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def rgb8() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)


def test_16bit_grayscale_is_scaled_not_clipped(tmp_path, rgb8):
    gray8 = rgb8[..., 0]
    decoded = decode_rgb(png16(tmp_path / "g16.png", gray8.astype(np.uint16) * 257))
    assert decoded.shape == (6, 7, 3) and decoded.dtype == np.uint8
    assert np.array_equal(decoded[..., 0], gray8) and np.array_equal(decoded[..., 2], gray8)
    Image.fromarray(gray8, mode="L").save(tmp_path / "g8.png")
    assert np.array_equal(decoded, decode_rgb(tmp_path / "g8.png"))


def test_16bit_rgb_matches_its_8bit_copy(tmp_path, rgb8):
    decoded = decode_rgb(png16(tmp_path / "c16.png", rgb8.astype(np.uint16) * 257))
    assert np.array_equal(decoded, rgb8)


def test_palette_cmyk_and_bilevel_decode_to_the_colours_shown(tmp_path, rgb8):
    rgb = Image.fromarray(rgb8)
    rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(tmp_path / "p.png")
    palette = decode_rgb(tmp_path / "p.png")
    assert palette.shape == rgb8.shape and np.abs(palette.astype(int) - rgb8).mean() < 12
    rgb.convert("CMYK").save(tmp_path / "c.jpg", quality=100)
    cmyk = decode_rgb(tmp_path / "c.jpg")
    assert cmyk.shape == rgb8.shape and np.abs(cmyk.astype(int) - rgb8).mean() < 12
    Image.fromarray(np.array([[0, 255]], dtype=np.uint8)).convert("1").save(tmp_path / "b.png")
    assert decode_rgb(tmp_path / "b.png").tolist() == [[[0, 0, 0], [255, 255, 255]]]


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((1, 3, 4), dtype=np.uint8)
    rgba[0, 0] = (200, 0, 0, 255)  # opaque red
    rgba[0, 1] = (0, 0, 0, 0)  # fully transparent black: shown as the white page
    rgba[0, 2] = (0, 0, 0, 128)  # half-transparent black: grey
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    decoded = decode_rgb(tmp_path / "a.png")
    assert decoded[0, 0].tolist() == [200, 0, 0] and decoded[0, 1].tolist() == [255, 255, 255]
    assert 120 <= decoded[0, 2, 0] <= 135
    palette = Image.fromarray(rgba[..., :3]).convert("P")
    palette.info["transparency"] = palette.getpixel((1, 0))
    palette.save(tmp_path / "pt.png", transparency=palette.getpixel((1, 0)))
    assert decode_rgb(tmp_path / "pt.png")[0, 1].tolist() == [255, 255, 255]


def test_exif_rotation_is_applied(tmp_path, rgb8):
    image = Image.fromarray(rgb8)
    exif = image.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    image.save(tmp_path / "r.jpg", exif=exif, quality=100)
    assert decode_rgb(tmp_path / "r.jpg").shape == (7, 6, 3)


def test_w1_between_16bit_and_8bit_copies_is_zero(tmp_path, rgb8):
    from helpers import run_cli

    for i in range(3):
        (tmp_path / "a").mkdir(exist_ok=True)
        (tmp_path / "b").mkdir(exist_ok=True)
        shifted = np.roll(rgb8, i, axis=1)
        png16(tmp_path / "a" / f"{i}.png", shifted.astype(np.uint16) * 257)
        Image.fromarray(shifted).save(tmp_path / "b" / f"{i}.png")
    result = run_cli("w1", str(tmp_path / "a"), str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    value = float(result.stdout.split("exact")[1].split()[0].strip(":="))
    assert value < 1e-9, result.stdout
