"""The CLI's first-run commands: `data` (where a dataset is found; the verified MNIST download) and `app` (start the
explorer from a checkout or an installed package)."""

from __future__ import annotations

import os
import sys

from .data.datasets import dataset_spec
from .store.config import DATASETS
from .store.errors import ConfigError, RunError


def add_parsers(sub) -> None:
    """The `data` and `app` subcommands."""
    d = sub.add_parser("data", help="say where a dataset is found; --download fetches MNIST into the Keras cache")
    d.add_argument("--dataset", choices=list(DATASETS), default="mnist")
    d.add_argument("--data-dir", help="directory with the four IDX files (or $CVAE_DATA_DIR)")
    d.add_argument("--download", action="store_true",
                   help="fetch mnist.npz (11 MB) as Keras does, verify its SHA-256, and put it in ~/.keras/datasets/")

    ap = sub.add_parser("app", help="start the explorer (streamlit run app.py); other arguments go to streamlit")
    ap.epilog = "Every other argument goes to `streamlit run`, e.g. --server.address 0.0.0.0 --server.port 8502."


def cmd_data(a) -> int:
    from .data.download import MNIST, download
    from .data.sources import load_dataset

    if a.download:
        if not dataset_spec(a.dataset).verified_download:
            raise ConfigError("--dataset", a.dataset, "mnist with --download (others: see `python -m cvae data`)")
        last, step = [-100], 1 if sys.stderr.isatty() else 25  # a log file gets four lines, a terminal a bar

        def progress(done: int, total: int) -> None:
            pct = 100 * done // max(total, 1)
            if pct - last[0] >= step or (pct == 100 and last[0] != 100):
                end = "" if sys.stderr.isatty() else "\n"
                print(f"\rdownloading mnist.npz: {pct:3d}% of {total / 2**20:.1f} MB", end=end, file=sys.stderr)
                last[0] = pct

        path = download(MNIST, progress=progress)
        print(file=sys.stderr)
        print(f"mnist: downloaded to {path} (SHA-256 verified)")
        return 0
    ds = load_dataset(a.dataset, a.data_dir, allow_download=False)
    print(f"{a.dataset}: {len(ds.train_images):,} training and {len(ds.test_images):,} test images from {ds.source}")
    return 0


def cmd_app(a) -> int:
    from .store.locations import app_dir

    where = app_dir()
    if where is None:
        raise RunError("the app's files (app.py, app_pages/) are not in this installation; reinstall the package")
    argv = [sys.executable, "-m", "streamlit", "run", str(where / "app.py"), *a.streamlit_args]
    # Streamlit reads .streamlit/config.toml from the working directory: start it where app.py is.
    os.chdir(where)
    os.execv(sys.executable, argv)
    return 0  # not reached
