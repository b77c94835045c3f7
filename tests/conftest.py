"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Directory with the real MNIST IDX files: $CVAE_TEST_DATA_DIR, else ../shared/data/mnist."""
    path = Path(os.environ.get("CVAE_TEST_DATA_DIR") or REPO_ROOT.parent / "shared" / "data" / "mnist").resolve()
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    missing = [n for n in names if not (path / n).exists() and not (path / f"{n}.gz").exists()]
    if missing:
        # Fail, not skip: a silently skipped real-data test would hide a broken CI setup.
        pytest.fail(
            f"real MNIST not found in {path} (missing {', '.join(missing)}); "
            "set CVAE_TEST_DATA_DIR to a directory holding the four IDX files (plain or .gz)",
            pytrace=False,
        )
    return path


@pytest.fixture
def isolated_data_env(tmp_path, monkeypatch) -> Iterator[Path]:
    """A world with no dataset anywhere: empty HOME/KERAS_HOME, no $CVAE_DATA_DIR, no system dirs."""
    from cvae import data

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(data, "SYSTEM_DIRS", {name: () for name in data.DATASETS})
    data.clear_cache()
    yield home
    data.clear_cache()


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """An empty runs root for app tests; no dataset configured, so the test set is the bundled 1000-digit sample."""
    import streamlit as st

    from cvae import appstate, data, runs

    r = tmp_path / "runs"
    r.mkdir()
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(r))
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setattr(data, "SYSTEM_DIRS", {name: () for name in data.DATASETS})
    monkeypatch.delenv(appstate.MAX_TRAINING_ENV, raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield r
    st.cache_data.clear()
    st.cache_resource.clear()
