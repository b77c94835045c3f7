"""Your own digit: MNIST-style preprocessing of a drawn, uploaded or photographed image (NumPy + Pillow, pure
functions), and what the model says about it.

MNIST's recipe (LeCun et al.): white ink on black, the digit's bounding box scaled so its longer side is 20 px
(aspect kept, anti-aliased), then placed in 28x28 so that its centre of mass is the image centre.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
INK_THRESHOLD = 0.5  # of the (inverted) grey level: ink for the bounding box (the binarization's threshold)
BOX = 20  # MNIST's longer side
MAX_WORK_SIDE = 1024  # larger uploads are reduced to this longer side before preprocessing (memory)
MAX_IWAE_K = 10_000  # importance samples of one digit's IWAE estimate (k x pixels x 8 bytes: 63 MB for MNIST)


class ImageRejected(ValueError):
    """An upload that is not a usable image; its message is the one line the page shows."""


def decode_image(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Bytes of a PNG/JPEG (in memory) -> greyscale float32 in [0, 1], (H, W), upright as its EXIF orientation says
    (phone photos store their pixels sideways); ImageRejected if unusable or too large."""
    if len(data) > max_bytes:
        raise ImageRejected(f"the file is {len(data) / 1e6:.1f} MB; at most {max_bytes / 1e6:.0f} MB")
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format not in ("PNG", "JPEG"):
                raise ImageRejected(f"not a PNG or JPEG image (found {im.format or 'an unknown format'})")
            if im.width * im.height > max_pixels:  # checked before decoding the pixels (decompression bombs)
                raise ImageRejected(f"too large: the image is {im.width:,}x{im.height:,} pixels; at most "
                                    f"{max_pixels:,} pixels")
            if im.format == "JPEG":  # decoded at 1/2, 1/4 or 1/8 scale when that still leaves MAX_WORK_SIDE
                im.draft("L", (MAX_WORK_SIDE, MAX_WORK_SIDE))
            upright = ImageOps.exif_transpose(im)
            return to_grey(upright)
    except ImageRejected:
        raise
    except Image.DecompressionBombError:  # Pillow refuses it before reading its header's size to us
        raise ImageRejected(f"too large: more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels; at most "
                            f"{max_pixels:,} pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ImageRejected("not an image Pillow can read (PNG or JPEG expected)") from None


def to_grey(im: Image.Image) -> np.ndarray:
    """Greyscale in [0, 1]; transparent pixels become the background (white). Large images are first reduced
    (box average) to at most MAX_WORK_SIDE on their longer side, in 8-bit grey: a 4096x4096 palette PNG costs
    tens of MB, not hundreds (the digit ends up 20 px tall anyway)."""
    alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    im = im.convert("LA" if alpha else "L")
    side = max(im.size)
    if side > MAX_WORK_SIDE:
        im = im.reduce(math.ceil(side / MAX_WORK_SIDE))
    if not alpha:
        return np.asarray(im, np.float32) / 255.0
    la = np.asarray(im, np.float32) / 255.0
    return la[..., 0] * la[..., 1] + (1.0 - la[..., 1])  # over white


def ink_on_black(grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """Invert when the background is light (the border's median is above 0.5): MNIST is white ink on black."""
    g = np.asarray(grey, np.float32)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    inverted = bool(np.median(border) > 0.5)
    return (1.0 - g if inverted else g), inverted


def crop_to_ink(ink: np.ndarray, threshold: float = INK_THRESHOLD) -> np.ndarray | None:
    """The bounding box of the pixels above threshold; None when there is no ink."""
    rows = np.flatnonzero((ink > threshold).any(axis=1))
    cols = np.flatnonzero((ink > threshold).any(axis=0))
    if rows.size == 0:
        return None
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def scale_longer_side(crop: np.ndarray, size: int = BOX) -> np.ndarray:
    """Resize so the longer side is `size` px, keeping the aspect (Lanczos, anti-aliased as MNIST's)."""
    h, w = crop.shape
    f = size / max(h, w)
    nh, nw = max(1, round(h * f)), max(1, round(w * f))
    im = Image.fromarray(np.clip(crop * 255.0, 0, 255).astype(np.uint8))
    return np.asarray(im.resize((nw, nh), Image.Resampling.LANCZOS), np.float32) / 255.0


def centre_by_mass(small: np.ndarray, size: int = 28) -> np.ndarray:
    """Place `small` in a size x size black image so its centre of mass sits at the centre (integer shift)."""
    h, w = small.shape
    out = np.zeros((size, size), np.float32)
    total = small.sum()
    if total <= 0:
        cy, cx = (h - 1) / 2, (w - 1) / 2
    else:
        cy = float((small.sum(axis=1) * np.arange(h)).sum() / total)
        cx = float((small.sum(axis=0) * np.arange(w)).sum() / total)
    top = int(round((size - 1) / 2 - cy))
    left = int(round((size - 1) / 2 - cx))
    top, left = min(max(top, 0), size - h), min(max(left, 0), size - w)  # keep the whole digit inside
    out[top:top + h, left:left + w] = small
    return out


@dataclass(frozen=True)
class Steps:
    """Every stage of the preprocessing, for display; `binary` is what the model sees."""

    grey: np.ndarray
    ink: np.ndarray
    inverted: bool
    crop: np.ndarray
    scaled: np.ndarray
    centred: np.ndarray
    binary: np.ndarray


def preprocess(grey: np.ndarray) -> Steps:
    """Greyscale [0,1] (H, W) -> MNIST-style 28x28 and the model's binarization (pixel > 0.5, as training)."""
    g = np.asarray(grey, np.float32)
    if g.ndim != 2 or g.size == 0:
        raise ImageRejected("expected a 2-D greyscale image")
    ink, inverted = ink_on_black(g)
    crop = crop_to_ink(ink)
    if crop is None:
        raise ImageRejected("no ink found: draw or upload a digit")
    scaled = scale_longer_side(crop)
    centred = centre_by_mass(scaled)
    return Steps(g, ink, inverted, crop, scaled, centred, (centred > 0.5).astype(np.float32))


def pad_square(img: np.ndarray, value: float | None = None) -> np.ndarray:
    """img centred on a square canvas filled with `value` (default: its border's median), for display."""
    img = np.asarray(img, np.float32)
    h, w = img.shape
    if value is None:
        value = float(np.median(np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])))
    n = max(h, w)
    out = np.full((n, n), value, np.float32)
    out[(n - h) // 2:(n - h) // 2 + h, (n - w) // 2:(n - w) // 2 + w] = img
    return out


def nearest(codes: np.ndarray, query: np.ndarray, k: int = 5) -> np.ndarray:
    """Indices of the k codes nearest (Euclidean) to query, nearest first."""
    d2 = ((np.asarray(codes, np.float64) - np.asarray(query, np.float64)[None]) ** 2).sum(axis=1)
    k = min(k, len(d2))
    idx = np.argpartition(d2, k - 1)[:k] if k < len(d2) else np.arange(len(d2))
    return idx[np.argsort(d2[idx], kind="stable")]


def _one_image(batch: np.ndarray) -> np.ndarray:
    """The first image of a batch: (H, W) when grey, (H, W, 3) when colour."""
    return batch[0, :, :, 0] if batch.shape[-1] == 1 else batch[0]


def describe(model: Any, binary: np.ndarray, iwae_k: int = 100, seed: int = 0) -> dict[str, Any]:
    """mu, sigma, the single-sample ELBO and its split, the k-sample IWAE estimate, a reconstruction and a sample."""
    if not 1 <= iwae_k <= MAX_IWAE_K:
        raise ValueError(f"iwae_k: got {iwae_k}; allowed: 1 to {MAX_IWAE_K:,}")
    rng = np.random.default_rng(seed)
    x = np.asarray(binary, np.float32).reshape(1, *model.arch.image_shape)  # your own data: any size and colour
    terms = model.elbo_terms(x, rng=rng)
    mean, logvar = terms["mean"][0], terms["logvar"][0]
    recon = _one_image(model.decode(mean[None], apply_sigmoid=True))
    sample_probs = _one_image(model.decode(terms["z"], apply_sigmoid=True))
    return {"mu": [float(v) for v in mean], "sigma": [float(v) for v in np.exp(0.5 * logvar)],
            "elbo": float(terms["elbo"][0]), "logpx_z": float(terms["logpx_z"][0]), "kl": float(terms["kl"][0]),
            f"iwae_{iwae_k}": float(model.iwae(x, iwae_k, rng=rng)[0]),
            "reconstruction": recon, "sample": (rng.random(sample_probs.shape) < sample_probs).astype(np.float32)}
