"""Latent interpolation for the Interpolate page: endpoints, the two paths, their decoded frames, a strip and a GIF.

NumPy and Pillow only (the app never imports TensorFlow); the paths are cvae.explorer.maths.latent.lerp and cvae.explorer.maths.latent.slerp.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from ...store.images import gif_bytes, grid_image
from ..i18n import N_
from .colour import squeeze_grey
from .latent import lerp, slerp

PATHS = {"lerp": lerp, "slerp": slerp}
PATH_LABELS = {"lerp": N_("straight line (lerp)"), "slerp": N_("spherical path (slerp)")}
MAX_FRAMES = 60


def path_codes(z0: np.ndarray, z1: np.ndarray, frames: int, kind: str) -> np.ndarray:
    """(frames, d) codes from z0 to z1 (both included) on the straight line or the spherical path."""
    if kind not in PATHS:
        raise ValueError(f"path: got {kind!r}; allowed: {' or '.join(PATHS)}")
    if not (isinstance(frames, (int, np.integer)) and 2 <= frames <= MAX_FRAMES):
        raise ValueError(f"frames: got {frames!r}; allowed: an integer from 2 to {MAX_FRAMES}")
    z0, z1 = np.asarray(z0, np.float32).ravel(), np.asarray(z1, np.float32).ravel()
    if z0.shape != z1.shape:
        raise ValueError(f"endpoints: shapes {z0.shape} and {z1.shape} differ")
    return PATHS[kind](z0, z1, int(frames))


def decode_paths(model, z0: np.ndarray, z1: np.ndarray, frames: int,
                 kinds: Sequence[str] = ("lerp", "slerp")) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """kind -> (codes (frames, d), decoded images (frames, H, W[, 3])); all paths in one decoder call."""
    codes = {k: path_codes(z0, z1, frames, k) for k in kinds}
    probs = squeeze_grey(model.decode(np.concatenate(list(codes.values())), apply_sigmoid=True))
    return {k: (codes[k], probs[i * frames:(i + 1) * frames]) for i, k in enumerate(kinds)}


def endpoints_by_class(labels: np.ndarray, class_a: int, class_b: int, nth: int = 0) -> tuple[int, int]:
    """Test indices of the nth digit of class_a and of class_b (nth wraps around each class); ValueError if a
    class has no digit."""
    out = []
    for c in (class_a, class_b):
        pool = np.flatnonzero(np.asarray(labels) == c)
        if not len(pool):
            raise ValueError(f"class {c}: no test digit of this class")
        out.append(int(pool[nth % len(pool)]))
    return out[0], out[1]


def strip_image(frames: np.ndarray, scale: int = 2) -> Image.Image:
    """The frames side by side, left to right, as one image (greyscale, or RGB for colour frames)."""
    return grid_image(frames, ncols=len(frames), scale=scale)


def gif_of(frames: np.ndarray, scale: int = 4, duration_ms: int = 120, bounce: bool = True) -> bytes:
    """An animated, looping GIF of the frames; bounce plays them forwards then backwards (a seamless loop)."""
    frames = np.asarray(frames)
    order = list(range(len(frames))) + (list(range(len(frames) - 2, 0, -1)) if bounce else [])
    images = [grid_image(frames[i:i + 1], ncols=1, scale=scale) for i in order]
    return gif_bytes(images, duration_ms)


def angle_degrees(z0: np.ndarray, z1: np.ndarray) -> float:
    """The angle between the two codes seen from the origin (slerp's arc), in degrees."""
    z0, z1 = np.asarray(z0, np.float64).ravel(), np.asarray(z1, np.float64).ravel()
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    if n0 < 1e-8 or n1 < 1e-8:
        return 0.0
    return float(np.degrees(np.arccos(np.clip(np.dot(z0, z1) / (n0 * n1), -1.0, 1.0))))


def endpoints_caption(z0: np.ndarray, z1: np.ndarray, shown: int = 6) -> str:
    """'z_A = (...)  z_B = (...)  |z_A|, |z_B|, angle' as Markdown lines for the page."""
    def fmt(z: np.ndarray) -> str:
        z = np.asarray(z, np.float64).ravel()
        return "(" + ", ".join(f"{v:+.2f}" for v in z[:shown]) + (", …" if len(z) > shown else "") + ")"

    return (f"z_A = {fmt(z0)}  \nz_B = {fmt(z1)}  \n|z_A| = {np.linalg.norm(z0):.2f}, "
            f"|z_B| = {np.linalg.norm(z1):.2f}, ∠ {angle_degrees(z0, z1):.0f}°")
