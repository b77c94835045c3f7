"""Download MNIST into the Keras cache as Keras does (same file, same checksum), without TensorFlow, with progress.

The app process never imports TensorFlow, so it cannot call keras.datasets.mnist.load_data(); this fetches the
very file Keras fetches (mnist.npz, 11 MB), verifies its SHA-256 (the hash Keras pins), checks its arrays, and
renames it into ~/.keras/datasets/ ($KERAS_HOME/datasets/) atomically: afterwards Keras and this project find it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..store.errors import DataError

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"  # keras.datasets.mnist's
MNIST_BYTES = 11_490_434
MAX_BYTES = 64 * 1024 * 1024  # a response larger than this is not mnist.npz: stop reading
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Download:
    """One file to fetch: where from, its pinned SHA-256, its expected size (for progress), its cache name."""

    url: str = MNIST_URL
    sha256: str = MNIST_SHA256
    size: int = MNIST_BYTES
    filename: str = "mnist.npz"


MNIST = Download()


class DownloadError(DataError):
    """The download failed (`reason`: offline, http, checksum, size, invalid); nothing was written to the cache."""

    def __init__(self, message: str, reason: str, url: str):
        self.reason, self.url = reason, url
        super().__init__(message)


def keras_cache_dir() -> Path:
    """Keras's download cache: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    keras_home = os.environ.get("KERAS_HOME")
    return (Path(keras_home).expanduser() if keras_home else Path.home() / ".keras") / "datasets"


def download(item: Download = MNIST, progress: Callable[[int, int], None] | None = None,
             timeout: float = 20.0, cache_dir: Path | None = None) -> Path:
    """Fetch `item` into the Keras cache (verified, atomic) and return its path; `progress(done, total)` per chunk."""
    target_dir = cache_dir or keras_cache_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{item.filename}.", suffix=".part", dir=target_dir)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    done = 0
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(item.url, timeout=timeout) as response:
                total = int(response.headers.get("Content-Length") or item.size)
                while chunk := response.read(CHUNK):
                    done += len(chunk)
                    if done > MAX_BYTES:
                        raise DownloadError(f"{item.url}: more than {MAX_BYTES // 2**20} MB; not {item.filename}",
                                            reason="size", url=item.url)
                    digest.update(chunk)
                    out.write(chunk)
                    if progress:
                        progress(done, max(total, done))
                out.flush()
                os.fsync(out.fileno())
        except urllib.error.HTTPError as e:
            raise DownloadError(f"{item.url}: HTTP {e.code} {e.reason}", reason="http", url=item.url) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            if isinstance(e, DownloadError):
                raise
            why = getattr(e, "reason", None) or e
            raise DownloadError(f"{item.url}: can't connect ({why}); this machine looks offline",
                                reason="offline", url=item.url) from None
        if digest.hexdigest() != item.sha256:
            raise DownloadError(f"{item.url}: SHA-256 {digest.hexdigest()[:16]}… is not the expected "
                                f"{item.sha256[:16]}…; the file was discarded", reason="checksum", url=item.url)
        target = target_dir / item.filename
        os.replace(tmp, target)
        return target
    finally:
        tmp.unlink(missing_ok=True)
