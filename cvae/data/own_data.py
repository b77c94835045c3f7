"""Your own images: a folder (class subfolders = labels) decoded once into uint8 arrays, cached by fingerprint.

No TensorFlow. The layout follows Keras' image_dataset_from_directory and torchvision's ImageFolder: each
subfolder is a class (sorted names = labels 0, 1, ...); a folder of files alone is unlabelled; `train/` and
`test/` side by side are the split, else a seeded 10 % hold-out per class. docs/own_data.md says the rules.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..store.errors import DataError, EmptyFolder, ImagesTooSmall, OwnDataError, TooFewClasses
from ..store.files import atomic_writer
from .datasets import OWN_DEFAULT_SIZE, OWN_MAX_SIZE
from .idx import check_counts, check_images
from ..store.npz import read_arrays as read_npz
from .own_images import IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS, MIN_SIDE, decode_into
from .sources import Dataset

MAX_SIZE = OWN_MAX_SIZE
MAX_CLASSES = 256  # labels are uint8
DEFAULT_SIZE = OWN_DEFAULT_SIZE
RESIZE_RULE = "centre-crop"
RESIZE_TEXT = "aspect ratio kept: the shorter side is scaled to S, then the centre S×S is cropped"
HOLDOUT = 0.1
FIRST_SKIPPED = 5  # how many skipped names a message shows
CACHE_VERSION = 1
CACHE_ENV = "CVAE_CACHE_DIR"


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is ambiguous
class OwnDataset(Dataset):
    """A Dataset of your own images: uint8 (N, S, S) or (N, S, S, 3), labels into `names` (() = unlabelled)."""

    names: tuple[str, ...] = ()
    fingerprint: str = ""
    size: int = 28
    channels: int = 1
    resize_rule: str = RESIZE_RULE
    split: str = ""  # how train and test were chosen, in words
    train_files: tuple[str, ...] = ()
    test_files: tuple[str, ...] = ()
    skipped: int = 0
    skipped_examples: tuple[str, ...] = ()  # the first few, "relative/path: reason"
    from_cache: bool = False

    def __post_init__(self) -> None:
        """Validate the arrays against this dataset's own size, channels and classes (not a registry entry)."""
        shape = (self.size, self.size) if self.channels == 1 else (self.size, self.size, self.channels)
        for split in ("train", "test"):
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            check_images(images, f"{self.source}: {split} images", shape)
            if not isinstance(labels, np.ndarray) or labels.dtype != np.uint8 or labels.ndim != 1:
                raise DataError(f"{self.source}: {split} labels must be uint8 (N,)", self.data_dir)
            check_counts(len(images), len(labels), f"{self.source}: {split} images", f"{self.source}: {split} labels")
            if labels.size and int(labels.max()) >= max(1, len(self.names)):
                raise DataError(f"{self.source}: {split} label {int(labels.max())} has no class name", self.data_dir)

    @property
    def class_names(self) -> tuple[str, ...]:
        """Your class folder names in label order; () when unlabelled."""
        return self.names

    @property
    def labelled(self) -> bool:
        """Whether the images carry classes."""
        return bool(self.names)

    def skipped_line(self) -> str:
        """One line for the CLI and the page: how many files were skipped and the first few with why."""
        if not self.skipped:
            return "no files skipped"
        more = f", and {self.skipped - len(self.skipped_examples)} more" if self.skipped > len(self.skipped_examples) else ""
        return f"{self.skipped} skipped: " + "; ".join(self.skipped_examples) + more


@dataclass(frozen=True)
class _File:
    rel: str  # path relative to the folder, with /
    real: str  # the file to open (a link inside the folder resolved)
    size: int
    mtime_ns: int
    split: str | None  # "train"/"test" from the folders, None: hold-out
    cls: str | None


def default_cache_dir() -> Path:
    """$CVAE_CACHE_DIR, else $XDG_CACHE_HOME/cvae-explorer/own_data (~/.cache/...)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cvae-explorer" / "own_data"


def check_size(size: int | None, channels: int) -> int:
    """The image side S: the default for `channels`, else a multiple of 4 from 4 to 64 (OwnDataError otherwise)."""
    if channels not in (1, 3):
        raise OwnDataError(f"channels: got {channels!r}; allowed: 1 (grey) or 3 (colour)")
    if size is None:
        return DEFAULT_SIZE[channels]
    if isinstance(size, bool) or not isinstance(size, int) or size % 4 or not 4 <= size <= MAX_SIZE:
        raise OwnDataError(f"image size: got {size!r}; allowed: a multiple of 4 from 4 to {MAX_SIZE}")
    return size


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _scan(root: Path) -> tuple[list[tuple[str, str, os.stat_result]], list[str]]:
    """Every image-named file under root as (relative path, real path, stat), and the skipped ones with why.

    Hidden names (".x") are ignored; folder links are never followed; a file link is read only when it stays
    inside the folder."""
    root_s = str(root)
    found: list[tuple[str, str, os.stat_result]] = []
    skipped: list[str] = []
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            with os.scandir(os.path.join(root_s, rel_dir) if rel_dir else root_s) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            skipped.append(f"{rel_dir or '.'}/: cannot list ({exc.strerror or exc})")
            continue
        for e in entries:
            if e.name.startswith(".") or e.name == "__MACOSX":
                continue
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            try:
                if e.is_symlink():
                    real = os.path.realpath(e.path)
                    if not _inside(real, root_s):
                        skipped.append(f"{rel}: a link leading outside the folder (not followed)")
                        continue
                    st = os.stat(real)
                    if stat.S_ISDIR(st.st_mode):
                        skipped.append(f"{rel}: a linked folder (not followed)")
                        continue
                elif e.is_dir(follow_symlinks=False):
                    stack.append(rel)
                    continue
                else:
                    real, st = e.path, e.stat(follow_symlinks=False)
            except OSError as exc:
                skipped.append(f"{rel}: cannot read ({exc.strerror or exc})")
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped.append(f"{rel}: not a regular file")
            elif os.path.splitext(e.name)[1].lower() not in IMAGE_EXTENSIONS:
                skipped.append(f"{rel}: not an image file type (PNG, JPEG, GIF, BMP, WebP)")
            else:
                found.append((rel, real, st))
    found.sort(key=lambda f: f[0])
    return found, skipped


def _layout(root: Path, found, skipped: list[str], labels: bool | None) -> tuple[list[_File], tuple[str, ...]]:
    """Give every file its split (train/ and test/ folders, else None) and class (its first folder)."""
    top_dirs = {rel.split("/")[0] for rel, _, _ in found if "/" in rel}
    by_split = {"train", "test"} <= top_dirs
    files: list[_File] = []
    for rel, real, st in found:
        parts = rel.split("/")
        split = None
        if by_split:
            if parts[0] not in ("train", "test"):
                skipped.append(f"{rel}: outside train/ and test/")
                continue
            split, parts = parts[0], parts[1:]
        cls = parts[0] if len(parts) > 1 else None
        files.append(_File(rel, real, st.st_size, st.st_mtime_ns, split, cls))
    classes = sorted({f.cls for f in files if f.cls is not None})
    labelled = len(classes) >= 2 if labels is None else labels
    if labels and len(classes) < 2:
        raise TooFewClasses(f"{root}: labels need at least two class folders, found "
                            f"{len(classes)}{': ' + classes[0] if classes else ''} "
                            "(put each class's images in its own subfolder)", str(root), classes)
    if len(classes) > MAX_CLASSES and labelled:
        raise OwnDataError(f"{root}: {len(classes)} class folders, more than {MAX_CLASSES}", str(root))
    if labelled:
        for f in [f for f in files if f.cls is None]:
            skipped.append(f"{f.rel}: not inside a class folder")
        files = [f for f in files if f.cls is not None]
    return files, tuple(classes) if labelled else ()


def fingerprint(files: list[_File], names: tuple[str, ...]) -> str:
    """SHA-256 of the file list with sizes and modification times (and the classes): changes when the folder does."""
    h = hashlib.sha256(f"own-data v{CACHE_VERSION}\n{json.dumps(names)}\n".encode())
    for f in files:
        h.update(f"{f.rel}\0{f.size}\0{f.mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _hold_out_key(seed: int, rel: str) -> bytes:
    return hashlib.sha256(f"{seed}\0{rel}".encode("utf-8", "surrogateescape")).digest()[:8]


def _cache_key(fp: str, size: int, channels: int, seed: int, labelled: bool) -> str:
    text = f"v{CACHE_VERSION} {fp} {size} {channels} {seed} {labelled} {RESIZE_RULE} {HOLDOUT}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


_CACHE_KINDS = {"train_images": "u", "train_labels": "u", "test_images": "u", "test_labels": "u",
                "class_names": "U", "train_files": "U", "test_files": "U", "skipped": "U", "meta": "U"}


def _read_cache(path: Path, root: Path, fp: str, size: int, channels: int) -> OwnDataset | None:
    """The cached dataset, or None when there is none or it does not check out (it is then rebuilt)."""
    try:
        a = read_npz(path, _CACHE_KINDS, tuple(_CACHE_KINDS))
        meta = json.loads(str(a["meta"].reshape(-1)[0]))
        if meta.get("fingerprint") != fp:
            return None
        names = tuple(str(n) for n in a["class_names"])
        return OwnDataset(
            name="folder", train_images=a["train_images"], train_labels=a["train_labels"],
            test_images=a["test_images"], test_labels=a["test_labels"], source=f"images in {root}",
            data_dir=str(root), names=names, fingerprint=fp, size=size, channels=channels, split=meta["split"],
            train_files=tuple(str(n) for n in a["train_files"]), test_files=tuple(str(n) for n in a["test_files"]),
            skipped=int(meta["skipped"]), skipped_examples=tuple(str(n) for n in a["skipped"]), from_cache=True)
    except (DataError, ValueError, KeyError, TypeError):
        return None


def _write_cache(path: Path, ds: OwnDataset) -> None:
    """Store the decoded arrays uncompressed (no pickle), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"fingerprint": ds.fingerprint, "split": ds.split, "skipped": ds.skipped, "size": ds.size,
            "channels": ds.channels, "resize_rule": ds.resize_rule, "version": CACHE_VERSION}
    arrays = {"train_images": ds.train_images, "train_labels": ds.train_labels, "test_images": ds.test_images,
              "test_labels": ds.test_labels, "class_names": np.array(ds.names, dtype=str).reshape(-1),
              "train_files": np.array(ds.train_files, dtype=str).reshape(-1),
              "test_files": np.array(ds.test_files, dtype=str).reshape(-1),
              "skipped": np.array(ds.skipped_examples, dtype=str).reshape(-1), "meta": np.array(json.dumps(meta))}
    with atomic_writer(path) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
        for key, a in arrays.items():
            a = a if a.flags.c_contiguous else a.copy()
            with zf.open(f"{key}.npy", "w", force_zip64=True) as w:
                np.lib.format.write_array_header_1_0(w, np.lib.format.header_data_from_array_1_0(a))
                flat = a.reshape(-1)  # in slices: np.savez writes a contiguous array via one tobytes() copy
                step = max(1, (1 << 20) // max(1, a.itemsize))
                for i in range(0, flat.size, step):
                    w.write(flat[i:i + step].tobytes())


def load_folder(folder: str | os.PathLike, size: int | None = None, channels: int = 1, labels: bool | None = None,
                seed: int = 0, cache_dir: str | os.PathLike | None = None, use_cache: bool = True) -> OwnDataset:
    """Load a folder of images as an OwnDataset (see the module docstring); decoded once, then from the cache.

    labels: None = classes when there are two or more class folders; True = required; False = ignored.
    """
    size = check_size(size, channels)
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise OwnDataError(f"{root}: {'is not a folder' if root.exists() else 'no such folder'}", str(root))
    root = root.resolve()
    found, skipped = _scan(root)
    files, names = _layout(root, found, skipped, labels)
    fp = fingerprint(files, names)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cache_path = cache / f"{_cache_key(fp, size, channels, seed, bool(names))}.npz"
    if use_cache and cache_path.is_file():
        cached = _read_cache(cache_path, root, fp, size, channels)
        if cached is not None:
            return cached
    by_split = any(f.split for f in files)
    cls_index = {c: i for i, c in enumerate(names)}
    # Order: (split, class, hold-out key), so each split is one contiguous block and each class's hold-out
    # candidates come first within it.
    files.sort(key=lambda f: (f.split == "test" if by_split else 0, cls_index.get(f.cls, 0),
                              _hold_out_key(seed, f.rel) if not by_split else f.rel))
    shape = (size, size) if channels == 1 else (size, size, channels)
    images = np.empty((len(files), *shape), np.uint8)  # the only large allocation: decoded in place
    labels_all = np.empty(len(files), np.uint8)
    kept: list[_File] = []
    too_small = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        for f in files:
            why = decode_into(f.real, images[len(kept)], size, channels)
            if why is None:
                labels_all[len(kept)] = cls_index.get(f.cls, 0)
                kept.append(f)
            else:
                skipped.append(f"{f.rel}: {why}")
                too_small += why.startswith("too small")
    n = len(kept)
    examples = tuple(skipped[:FIRST_SKIPPED])
    if n == 0:
        if too_small and too_small == len(files):
            raise ImagesTooSmall(f"{root}: every image is smaller than {MIN_SIDE} pixels a side "
                                 f"({too_small} images)", str(root), MIN_SIDE, too_small)
        what = f"; {len(skipped)} files skipped, e.g. {examples[0]}" if skipped else ""
        raise EmptyFolder(f"{root}: no readable PNG, JPEG, GIF, BMP or WebP images{what}", str(root),
                          len(skipped), examples)
    if by_split:
        n_test = sum(f.split == "test" for f in kept)
        if n_test == 0 or n_test == n:
            empty = "test/" if n_test == 0 else "train/"
            raise EmptyFolder(f"{root}: {empty} has no readable images", str(root), len(skipped), examples)
        order = None
        split = "the train/ and test/ folders"
    else:
        if n < 2:
            raise EmptyFolder(f"{root}: only one readable image; at least two are needed (train and test)",
                              str(root), len(skipped), examples)
        order, n_test = _hold_out(kept, cls_index)
        split = f"a {HOLDOUT:.0%} hold-out per class, seed {seed}"
    if order is not None:  # move the hold-out to the end, the training images forward, in place (no 2nd copy)
        test_rows = [i for i in range(n) if order[i]]
        test_images, test_labels = images[test_rows], labels_all[test_rows]
        train_rows = [i for i in range(n) if not order[i]]
        for dst, src in enumerate(train_rows):
            if dst != src:
                images[dst] = images[src]
                labels_all[dst] = labels_all[src]
        n_train = len(train_rows)
        train_files = tuple(kept[i].rel for i in train_rows)
        test_files = tuple(kept[i].rel for i in test_rows)
        train_images, train_labels = images[:n_train], labels_all[:n_train]
    else:
        n_train = n - n_test
        train_images, train_labels = images[:n_train], labels_all[:n_train]
        test_images, test_labels = images[n_train:n], labels_all[n_train:n]
        train_files = tuple(f.rel for f in kept[:n_train])
        test_files = tuple(f.rel for f in kept[n_train:])
    ds = OwnDataset(
        name="folder", train_images=train_images, train_labels=train_labels, test_images=test_images,
        test_labels=test_labels, source=f"images in {root}", data_dir=str(root), names=names, fingerprint=fp,
        size=size, channels=channels, split=split, train_files=train_files, test_files=test_files,
        skipped=len(skipped), skipped_examples=examples)
    if use_cache:
        try:
            _write_cache(cache_path, ds)
        except OSError:
            pass  # a read-only cache only costs the next load its decoding time
    return ds


def _hold_out(kept: list[_File], cls_index: dict[str, int]) -> tuple[list[bool], int]:
    """Which kept images are test: per class, the first max(1, round(10 %)) in hold-out-key order (≥ 2 images)."""
    per_class: dict[int, int] = {}
    for f in kept:
        c = cls_index.get(f.cls, 0)
        per_class[c] = per_class.get(c, 0) + 1
    quota = {c: (max(1, round(HOLDOUT * k)) if k >= 2 else 0) for c, k in per_class.items()}
    order, seen = [], {}
    for f in kept:  # kept is in (class, key) order
        c = cls_index.get(f.cls, 0)
        seen[c] = seen.get(c, 0) + 1
        order.append(seen[c] <= quota[c])
    return order, sum(order)
