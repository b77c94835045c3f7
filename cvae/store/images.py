"""Image grids, PNG and GIF files with Pillow (no TensorFlow, no plotting)."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .files import atomic_write_bytes


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8: grey (N, H, W) from (N, H, W[, 1]), colour (N, H, W, 3) kept."""
    arr = np.asarray(images, np.float32)
    arr = arr.reshape(arr.shape[0], arr.shape[1], arr.shape[2]) if arr.ndim == 4 and arr.shape[-1] == 1 else arr
    return np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)


def tile(images: np.ndarray, ncols: int | None = None, pad: int = 0) -> np.ndarray:
    """Tile N images (N,H,W[,1]) row-major into one 2-D array ((N,H,W,3): one RGB array); missing cells stay 0."""
    arr = np.asarray(images)
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    n, h, w = arr.shape[:3]
    ncols = ncols or math.isqrt(n - 1) + 1 if n else 1
    nrows = math.ceil(n / ncols) if n else 0
    out = np.zeros((nrows * (h + pad) - pad if nrows else 0, ncols * (w + pad) - pad, *arr.shape[3:]), arr.dtype)
    for i in range(n):
        r, c = divmod(i, ncols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = arr[i]
    return out


def grid_image(probs: np.ndarray, ncols: int | None = None, scale: int = 2) -> Image.Image:
    """A PIL image of N decoded images in a grid: greyscale (white = p(pixel)=1, as the tutorial's gray cmap), or RGB
    for colour images (N, H, W, 3)."""
    tiled = tile(to_uint8(probs), ncols)
    img = Image.fromarray(tiled, mode="RGB" if tiled.ndim == 3 else "L")
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale != 1 else img


def png_bytes(image: Image.Image) -> bytes:
    """Encode a PIL image as PNG."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def save_png(image: Image.Image, path: str | os.PathLike) -> None:
    """Write a PNG atomically."""
    atomic_write_bytes(path, png_bytes(image))


def gif_bytes(frames: Sequence[Image.Image], duration_ms: int = 400) -> bytes:
    """An animated, looping GIF of the frames; the last frame lingers."""
    if not frames:
        raise ValueError("gif: no frames")
    buf = io.BytesIO()
    durations = [duration_ms] * (len(frames) - 1) + [duration_ms * 4]
    frames[0].save(buf, format="GIF", save_all=True, append_images=list(frames[1:]), duration=durations, loop=0)
    return buf.getvalue()


def save_gif(frame_paths: Sequence[Path], path: str | os.PathLike, duration_ms: int = 400) -> None:
    """Assemble PNG files into a GIF, written atomically."""
    frames = []
    for p in frame_paths:
        with Image.open(p) as im:
            frames.append(im.convert("RGB" if im.mode == "RGB" else "L"))
    atomic_write_bytes(path, gif_bytes(frames, duration_ms))
