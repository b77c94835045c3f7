"""Shared pytest fixtures.

What the suite sets that a user would not, and the tests that run each entry point without it:

| set by the suite | where | a user's default, tested without it in |
| --- | --- | --- |
| `CVAE_RUNS_DIR` (a temporary runs root) | the `root` fixture, browser_support.start_server, many tests | tests/test_newcomer.py (checkout and package install), tests/test_first_run.py |
| `CVAE_DATA_DIR` / `--data-dir` (real MNIST) | tests that train or evaluate; browser servers | tests/test_newcomer.py (`cvae data`, the Train page's no-data panel in tests/test_first_run.py) |
| `CVAE_TEST_DATA_DIR` | .ci/run, read only by find_mnist() below | (test-only) |
| `HOME`, `KERAS_HOME`, `SYSTEM_DIRS` (no dataset anywhere) | `isolated_data_env`, `root` | tests/test_newcomer.py uses an empty HOME too |
| `CVAE_FAILPOINTS`, `CVAE_TRAINER_FAILPOINTS` | fault tests (tests/test_faults.py) | every other test runs without them |
| `CVAE_HEARTBEAT_TIMEOUT` | frozen-trainer tests | every other test uses the default |
| `CVAE_MAX_TRAINING`, `CVAE_TRAIN_NICE` | launcher tests | the `root` fixture removes CVAE_MAX_TRAINING; the default is tested in tests/test_app.py |
| `CVAE_UPDATE_SCREENSHOTS=1` | by hand, to refresh the README's screenshots | (not a product setting) |
| `CVAE_TEST_NO_MOUNT` | tests that need no tmpfs mount | (test-only) |
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
HOW_TO = ("Provide real MNIST in one of these ways, then run the tests again:\n"
          "  1. CVAE_TEST_DATA_DIR=DIR (or CVAE_DATA_DIR=DIR), where DIR holds the four IDX files "
          "(plain or .gz) or mnist.npz\n"
          "  2. put mnist.npz in ~/.keras/datasets/ (or $KERAS_HOME/datasets/)\n"
          "  3. be online: Keras downloads it into that cache")


def _has_mnist(path: Path) -> bool:
    return path.is_dir() and ((path / "mnist.npz").is_file() or all(
        (path / n).is_file() or (path / f"{n}.gz").is_file() for n in IDX_NAMES))


def find_mnist() -> tuple[Path | None, list[str]]:
    """Where the tests find real MNIST, the way the product does: the test variable, $CVAE_DATA_DIR,
    ../shared/data/mnist, the Keras cache, the Keras download; with the places looked in."""
    looked = []
    for var in ("CVAE_TEST_DATA_DIR", "CVAE_DATA_DIR"):
        raw = os.environ.get(var)
        if raw:
            path = Path(raw).expanduser().resolve()
            if _has_mnist(path):
                return path, looked
            looked.append(f"${var}={raw}: no IDX files or mnist.npz there")
    for path in (REPO_ROOT.parent / "shared" / "data" / "mnist",
                 Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "datasets"):
        if _has_mnist(path):
            return path.resolve(), looked
        looked.append(f"{path}: not found")
    # The Keras download, in a child process (it imports TensorFlow), bounded in time.
    code = "import keras; keras.datasets.mnist.load_data()"
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        cache = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "datasets"
        if r.returncode == 0 and _has_mnist(cache):
            return cache.resolve(), looked
        looked.append("the Keras download: failed (" + (r.stderr.strip().splitlines() or ["no output"])[-1] + ")")
    except subprocess.TimeoutExpired:
        looked.append("the Keras download: timed out")
    return None, looked


_MNIST: list = []


def pytest_collection_modifyitems(session, config, items) -> None:
    """Before any test runs: if a collected test needs real MNIST and none is found, stop with one message."""
    if not any("mnist_dir" in getattr(item, "fixturenames", ()) for item in items):
        return
    path, looked = find_mnist()
    if path is None:
        pytest.exit("real MNIST not found for the tests. Looked in:\n" + "\n".join(f"  - {x}" for x in looked)
                    + "\n" + HOW_TO, returncode=4)
    _MNIST.append(path)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """A directory with the real MNIST (IDX files or mnist.npz), found as find_mnist() says."""
    return _MNIST[0] if _MNIST else find_mnist()[0]


@pytest.fixture
def isolated_data_env(tmp_path, monkeypatch) -> Iterator[Path]:
    """A world with no dataset anywhere: empty HOME/KERAS_HOME, no $CVAE_DATA_DIR, no system dirs."""
    from cvae.explorer.jobs import launcher
    from cvae.store import runs
    from cvae.data import sources

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv(sources.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {name: () for name in sources.DATASETS})
    sources.clear_cache()
    yield home
    sources.clear_cache()


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """An empty runs root for app tests; no dataset configured, so the test set is the bundled 1000-digit sample."""
    import streamlit as st

    from cvae.explorer.jobs import launcher
    from cvae.store import runs
    from cvae.data import sources

    r = tmp_path / "runs"
    r.mkdir()
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(r))
    monkeypatch.delenv(sources.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {name: () for name in sources.DATASETS})
    monkeypatch.delenv(launcher.MAX_TRAINING_ENV, raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield r
    st.cache_data.clear()
    st.cache_resource.clear()
