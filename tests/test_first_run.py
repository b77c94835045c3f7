"""The first run on a new machine: where runs live (checkout or installed package), the shipped run's first-use
copy, and a way forward with no data (the verified MNIST download, the Train page's panel)."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from cvae.data import download as dl
from cvae.store import locations, runs

REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------------ the runs root

def test_a_checkout_keeps_its_runs_in_checkpoints(monkeypatch):
    monkeypatch.delenv(runs.RUNS_DIR_ENV, raising=False)
    assert locations.source_checkout() == REPO
    assert locations.default_runs_root() == REPO / "checkpoints"
    assert locations.code_root() == REPO  # a launched trainer imports this checkout's cvae
    assert locations.app_dir() == REPO and locations.shipped_runs_dir() == REPO / "checkpoints"


@pytest.fixture
def installed_layout(tmp_path, monkeypatch) -> Path:
    """A package laid out as `pip install .` lays it out (no pyproject.toml above it), with a shipped run."""
    pkg = tmp_path / "site-packages" / "cvae"
    shipped = pkg / "shipped_runs" / "tutorial"
    (shipped / "images").mkdir(parents=True)
    for name in ("config.json", "status.json", "metrics.jsonl", "weights.npz"):
        (shipped / name).write_bytes((REPO / "checkpoints" / "tutorial" / name).read_bytes())
    (shipped / "images" / "epoch_0001.png").write_bytes(b"png")
    monkeypatch.setattr(locations, "PACKAGE_DIR", pkg)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv(runs.RUNS_DIR_ENV, raising=False)
    return tmp_path


def test_an_installed_package_seeds_the_users_runs_root_once(installed_layout):
    assert locations.source_checkout() is None
    root = installed_layout / "home" / ".local" / "share" / "cvae-explorer" / "runs"
    assert not root.exists()
    assert runs.runs_root() == root
    assert (root / "tutorial" / "weights.npz").read_bytes() == (REPO / "checkpoints/tutorial/weights.npz").read_bytes()
    assert (root / "tutorial" / "images" / "epoch_0001.png").is_file()
    assert [i.name for i in runs.list_runs()] == ["tutorial"]
    # Seeded once: a run the user removed stays removed, and their own runs are never touched.
    import shutil

    shutil.rmtree(root / "tutorial")
    (root / "mine").mkdir()
    assert runs.runs_root() == root and not (root / "tutorial").exists() and (root / "mine").is_dir()
    assert not list(root.parent.glob(".runs-*"))  # no staging folder left behind


def test_xdg_data_home_and_the_variable_win(installed_layout, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(installed_layout / "xdg"))
    assert runs.runs_root() == installed_layout / "xdg" / "cvae-explorer" / "runs"
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(installed_layout / "mine"))
    assert runs.runs_root() == installed_layout / "mine"
    assert runs.runs_root(installed_layout / "flag") == installed_layout / "flag"


def test_a_checkout_of_another_project_is_not_mistaken_for_ours(tmp_path, monkeypatch):
    other = tmp_path / "other"
    (other / "cvae").mkdir(parents=True)
    (other / "app.py").write_text("")
    (other / "pyproject.toml").write_text('[project]\nname = "something-else"\n')
    monkeypatch.setattr(locations, "PACKAGE_DIR", other / "cvae")
    assert locations.source_checkout() is None


# -------------------------------------------------------------------------------------------- the download

class _Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802 - http.server's name
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def file_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Files.files
    finally:
        server.shutdown()
        _Files.files.clear()


def test_download_verifies_and_places_the_file_atomically(file_server, tmp_path):
    base, files = file_server
    body = bytes(range(256)) * 3000  # 768 kB: several chunks
    files["/mnist.npz"] = body
    item = dl.Download(url=base + "/mnist.npz", sha256=hashlib.sha256(body).hexdigest(), size=len(body))
    seen = []
    path = dl.download(item, progress=lambda done, total: seen.append((done, total)), cache_dir=tmp_path / "c")
    assert path == tmp_path / "c" / "mnist.npz" and path.read_bytes() == body
    assert seen[-1] == (len(body), len(body)) and len(seen) >= 3
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["mnist.npz"]  # no partial file left


def test_a_wrong_checksum_writes_nothing(file_server, tmp_path):
    base, files = file_server
    files["/mnist.npz"] = b"not mnist at all"
    with pytest.raises(dl.DownloadError) as info:
        dl.download(dl.Download(url=base + "/mnist.npz"), cache_dir=tmp_path / "c")
    assert info.value.reason == "checksum" and "discarded" in str(info.value)
    assert list((tmp_path / "c").iterdir()) == []


def test_offline_and_http_errors_are_one_line(file_server, tmp_path):
    base, _ = file_server
    with pytest.raises(dl.DownloadError) as info:
        dl.download(dl.Download(url=base + "/missing.npz"), cache_dir=tmp_path / "c")
    assert info.value.reason == "http" and "404" in str(info.value)
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(dl.DownloadError) as info:
        dl.download(dl.Download(url=f"http://127.0.0.1:{port}/mnist.npz"), cache_dir=tmp_path / "c", timeout=5)
    assert info.value.reason == "offline" and "\n" not in str(info.value)
    assert list((tmp_path / "c").iterdir()) == []


def test_the_pinned_file_is_the_one_keras_pins():
    import inspect

    keras_mnist = pytest.importorskip("keras.src.datasets.mnist")
    source = inspect.getsource(keras_mnist)
    assert dl.MNIST_SHA256 in source and dl.MNIST_URL.rsplit("/", 1)[0] in source


# -------------------------------------------------------------------------------------- the Train page, no data

def _train_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    return at.switch_page("app_pages/1_Train.py").run()


def test_the_train_page_says_where_it_looked_and_offers_the_download(root, monkeypatch):
    at = _train_page()
    assert not at.exception, [e.value for e in at.exception]
    text = "\n".join(m.value for m in at.markdown)
    assert "No mnist data on this server yet" in text and "Download MNIST (11 MB)" in text
    assert "dataset-fashion-mnist" in text and "python -m cvae data --download" in text
    looked = "\n".join(c.value for c in at.code)
    assert ".keras/datasets/mnist.npz: not found" in looked
    assert at.button(key="tr_download")

    def offline(*args, **kwargs):
        raise dl.DownloadError("http://x/mnist.npz: can't connect (refused); this machine looks offline",
                               reason="offline", url="http://x/mnist.npz")

    monkeypatch.setattr(dl, "download", offline)
    at.button(key="tr_download").click().run()
    assert any("The download failed" in e.value and "offline" in e.value for e in at.error)


def test_after_the_download_the_panel_goes(root, monkeypatch, mnist_dir, tmp_path):
    import numpy as np

    from cvae.data import sources

    at = _train_page()
    assert at.button(key="tr_download")
    ds = sources.load_dataset("mnist", str(mnist_dir), allow_download=False)

    def fake_download(item, progress=None, **kwargs):
        """What a real download leaves: a valid mnist.npz in the Keras cache."""
        target = dl.keras_cache_dir() / "mnist.npz"
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez(target, x_train=ds.train_images, y_train=ds.train_labels, x_test=ds.test_images,
                 y_test=ds.test_labels)
        if progress:
            progress(1, 1)
        return target

    monkeypatch.setattr(dl, "download", fake_download)
    at.button(key="tr_download").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any("No mnist data" in m.value for m in at.markdown)
    assert any("MNIST downloaded and verified" in s.value for s in at.success)
