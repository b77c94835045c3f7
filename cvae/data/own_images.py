"""Decoding one image file into an S×S uint8 slot: modes, transparency, 16-bit, the bomb limit, centre-crop."""

from __future__ import annotations

import errno
import io
import os
import stat

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"})
FORMATS = frozenset({"PNG", "JPEG", "MPO", "GIF", "BMP", "DIB", "WEBP"})  # what Pillow may decode here
OPEN_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")  # the plugins Image.open may try (JPEG also opens MPO)
# Pillow's decompression-bomb limit, set explicitly (its default is 89.5 Mpixels, warning only below twice that):
# a larger image is refused from its header, before any pixel is decoded.
MAX_IMAGE_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
MAX_FILE_BYTES = 64 << 20
MIN_SIDE = 8  # smaller images are skipped as too small


def to_mode(im: Image.Image, channels: int) -> Image.Image:
    """`im` as "L" or "RGB": palettes expanded, transparency over white, 16-bit scaled to 8, CMYK converted."""
    want = "L" if channels == 1 else "RGB"
    if im.mode == want:
        return im
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode == "PA":
        im = im.convert("RGBA")
    if im.mode.startswith("I"):  # 16-bit greyscale PNG ("I;16", or "I" holding 0..65535)
        a = np.asarray(im).astype(np.uint32)
        im = Image.fromarray(((np.minimum(a, 65535) * 255 + 32767) // 65535).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "La", "RGBa"):
        over = Image.new("RGBA", im.size, (255, 255, 255, 255))
        over.alpha_composite(im.convert("RGBA"))
        im = over
    return im if im.mode == want else im.convert(want)


def decode_into(real: str, out: np.ndarray, size: int, channels: int) -> str | None:
    """Decode one file into `out` (S×S uint8); None on success, else why it was skipped (nothing written)."""
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        return "a link (not followed)" if exc.errno == errno.ELOOP else f"cannot open ({exc.strerror or exc})"
    try:
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                return "not a regular file"
            if st.st_size > MAX_FILE_BYTES:
                return f"{st.st_size:,} bytes, over the {MAX_FILE_BYTES:,} limit"
            return decode_stream(fh, out, size, channels)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"


def decode_bytes(data: bytes, size: int, channels: int) -> tuple[np.ndarray | None, str | None]:
    """An uploaded file's bytes as an S×S uint8 image (grey (S, S), colour (S, S, 3)), else (None, why)."""
    if len(data) > MAX_FILE_BYTES:
        return None, f"{len(data):,} bytes, over the {MAX_FILE_BYTES:,} limit"
    out = np.zeros((size, size) if channels == 1 else (size, size, channels), np.uint8)
    why = decode_stream(io.BytesIO(data), out, size, channels)
    return (None, why) if why else (out, None)


def decode_stream(fh, out: np.ndarray, size: int, channels: int) -> str | None:
    """Decode an open binary file into `out` (centre-crop to S×S, the mode for `channels`); None, or why not."""
    try:
        # Only these plugins are tried: a renamed EPS, for one, never reaches Ghostscript.
        with Image.open(fh, formats=OPEN_FORMATS) as im:
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS:
                return f"{w}x{h} pixels, over the {MAX_IMAGE_PIXELS:,} limit (decompression bomb): refused"
            if im.format not in FORMATS:
                return f"a {im.format} image, not PNG, JPEG, GIF, BMP or WebP"
            if min(w, h) < MIN_SIDE:
                return f"too small ({w}x{h}; at least {MIN_SIDE} pixels a side)"
            if im.format in ("JPEG", "MPO"):
                im.draft("L" if channels == 1 else "RGB", (size, size))  # DCT scaling: decode near S, fast
            if im.getexif().get(0x0112, 1) not in (None, 1):
                im = ImageOps.exif_transpose(im)
            im = to_mode(im, channels)
            w, h = im.size
            side = min(w, h)
            if side != size or w != h:
                left, top = (w - side) // 2, (h - side) // 2
                im = im.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side),
                               reducing_gap=3.0)
            out[...] = np.asarray(im)
            return None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"over the {Image.MAX_IMAGE_PIXELS:,}-pixel limit (decompression bomb): refused"
    except UnidentifiedImageError:
        return "not a PNG, JPEG, GIF, BMP or WebP image"
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError) as exc:
        return f"unreadable or truncated ({str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__})"
