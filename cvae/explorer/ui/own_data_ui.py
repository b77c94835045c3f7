"""The Train page's "your images" (#22): a folder on this server or an uploaded .zip (extracted only into the runs
root, through cvae/data/safe_zip.py), and, before training starts, a preview of what the model will see and the
class counts."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import streamlit as st

from ...data.datasets import DATASETS
from ...data.loading import load_data
from ...data.own import KINDS
from ...data.own_data import OwnDataset
from ...data.safe_zip import data_root, extract_zip
from ...data.sources import model_input
from ...store import runs
from ...store.errors import DataError
from ..figures.maps import tile_images
from ..i18n import N_, _
from .text import md

UPLOAD_MB = 200  # the largest .zip the page accepts (stated on the page); its contents are capped by safe_zip
UPLOAD_MAX_BYTES = 1 << 30  # what a zip may hold uncompressed (a zip bomb is refused before extraction)
UPLOADS_DIR = ".uploads"  # under the runs root; hidden names are never listed as runs
PREVIEW = 32  # images in the preview grid
SOURCES = (N_("A folder on this server"), N_("Upload a .zip"))
# cvae/data/own_data.py's RESIZE_TEXT, marked for translation (tests/test_own_train_page.py checks they agree).
RESIZE_TEXT = N_("aspect ratio kept: the shorter side is scaled to S, then the centre S×S is cropped")


def own_dataset(path: Path) -> str:
    """The registry's own-data entry for a path: the folder one for a folder, else the .npz one."""
    kind = KINDS[0] if path.is_dir() else KINDS[1]
    return next(name for name, spec in DATASETS.items() if spec.own == kind)


def extract_upload(upload: BinaryIO, runs_dir: str | os.PathLike | None = None) -> Path:
    """Extract an uploaded zip into <runs root>/.uploads/zip-<sha256 prefix> (reused when the same zip comes again);
    returns the folder of images (its single top folder stepped into). ZipRefused: one line, nothing written."""
    root = runs.runs_root(runs_dir)
    h = hashlib.sha256()
    upload.seek(0)
    while block := upload.read(1 << 20):
        h.update(block)
    upload.seek(0)
    parent = root / UPLOADS_DIR
    parent.mkdir(parents=True, exist_ok=True)
    target = parent / f"zip-{h.hexdigest()[:16]}"
    if not target.is_dir():
        target = extract_zip(upload, parent, target.name, within=root, max_bytes=UPLOAD_MAX_BYTES)
    return data_root(target)


def class_counts(ds: OwnDataset) -> list[dict[str, Any]]:
    """Rows of (class, training images, test images); one row "all images" when unlabelled."""
    names = ds.class_names or (_("all images"),)
    train = np.bincount(ds.train_labels, minlength=len(names))
    test = np.bincount(ds.test_labels, minlength=len(names))
    return [{_("class"): n, _("training images"): int(a), _("test images"): int(b)}
            for n, a, b in zip(names, train, test)]


def preview_grid(ds: OwnDataset, likelihood: str, n: int = PREVIEW) -> np.ndarray:
    """The first n training images as the model sees them (binarized, or the 8-bit values), in one grid."""
    x = model_input(ds.train_images[:n], likelihood)
    return tile_images(x, min(8, len(x)))


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def your_images_ui(prefix: str) -> None:
    """The toggle, the source (folder or .zip), and the preview with class counts; fills the form's dataset,
    data directory, image size and channels (session state under `prefix`, before the form is drawn)."""
    ss = st.session_state
    if not st.toggle(_("Train on your own images"), key="tr_own_on",
                     help=_("A folder of PNG, JPEG, GIF, BMP or WebP images (one subfolder per class), or an .npz "
                            "of arrays.")):
        return
    with st.container(border=True, key="tr_own"):
        how = st.radio(_("Your images"), SOURCES, key="tr_own_how", horizontal=True, format_func=_)
        c1, c2 = st.columns(2)
        channels = c1.radio(_("Channels"), (1, 3), key="tr_own_channels", horizontal=True,
                            format_func=lambda c: _("grey") if c == 1 else _("colour"))
        size = c2.number_input(_("Image size"), min_value=4, max_value=64, step=4, value=None, key="tr_own_size",
                               placeholder=_("28 grey, 32 colour"))
        folder: Path | None = None
        if how == SOURCES[1]:
            st.caption(_("A .zip of at most {mb} MB. Entries with absolute paths or '..', links and zip bombs (over "
                         "{gb} GB or {files} files uncompressed) are refused before anything is written; it is "
                         "extracted into the runs folder only.", mb=UPLOAD_MB, gb=UPLOAD_MAX_BYTES >> 30,
                         files="150,000"))
            up = st.file_uploader(_("A .zip of your images"), type=["zip"], key="tr_own_zip",
                                  max_upload_size=UPLOAD_MB)
            if up is not None:
                try:
                    folder = extract_upload(up)
                except (DataError, OSError) as e:
                    st.error(_("This zip can't be used: {reason}", reason=md(str(e).splitlines()[0])),
                             icon=":material/block:")
                    return
        else:
            text = st.text_input(_("Folder (or .npz file) on this server"), key="tr_own_path",
                                 placeholder="/home/me/shapes")
            folder = Path(text).expanduser() if text.strip() else None
        if folder is None:
            st.caption(_("Class subfolders become the labels; train/ and test/ subfolders are the split, else a "
                         "seeded 10 % hold-out. Images are resized: {rule}.", rule=_(RESIZE_TEXT)))
            return
        show_preview_ui(prefix, folder, _int_or_none(size), int(channels))


def show_preview_ui(prefix: str, folder: Path, size: int | None, channels: int) -> None:
    """Load the images as training will (decoded once, cached), fill the form's fields, show the preview."""
    ss = st.session_state
    dataset = own_dataset(folder)
    try:
        with st.spinner(_("Reading your images…")):
            ds = load_data(dataset, str(folder), False, size, channels, _int_or_none(ss.get(prefix + "seed")) or 0)
    except (DataError, OSError, ValueError) as e:
        st.error(_("These images can't be used: {reason}", reason=md(str(e).splitlines()[0])), icon=":material/block:")
        return
    ss[prefix + "dataset"], ss[prefix + "data_dir"] = dataset, str(Path(ds.data_dir))
    ss[prefix + "image_size"], ss[prefix + "channels"] = size, channels
    likelihood = ss.get(prefix + "likelihood") or DATASETS[dataset].default_likelihood
    st.markdown(_("**{n} training and {m} test images**, {s}×{s}, split by {split}; {skipped}.",
                  n=f"{len(ds.train_images):,}", m=f"{len(ds.test_images):,}", s=ds.size, split=md(ds.split),
                  skipped=md(ds.skipped_line())))
    left, right = st.columns([2, 1])
    left.image(preview_grid(ds, likelihood), clamp=True, width="stretch",
               caption=_("What the model will see ({rule}; {likelihood})", rule=_(RESIZE_TEXT), likelihood=likelihood))
    right.dataframe(class_counts(ds), hide_index=True, key="tr_own_counts")
    st.caption(_("The form below now trains on these images (dataset {dataset}, Data directory filled in).",
                 dataset=dataset))
