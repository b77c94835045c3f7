"""The Train page's "your images" (#22): a folder on the server previewed (what the model sees, class counts, the
skipped files) and trained from the page for 2 epochs; an uploaded .zip extracted only into the runs root, a `../`
entry and a zip bomb each refused with one line and nothing written."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from test_own_run import CLASSES, PER_CLASS, REPO, make_shapes, shape_png


def tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


@pytest.fixture
def root(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("CVAE_RUNS_DIR", str(runs))
    monkeypatch.setenv("CVAE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the launched trainer runs this checkout
    return runs


def train_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
    return at.switch_page("app_pages/1_Train.py").run()


def test_the_train_page_previews_a_folder_and_trains_on_it(root, tmp_path):
    from cvae.explorer.jobs import launcher, launches
    from cvae.store import access

    shapes = make_shapes(tmp_path / "shapes")
    at = train_page()
    at.toggle(key="tr_own_on").set_value(True).run()
    at.text_input(key="tr_own_path").set_value(str(shapes)).run()
    at.number_input(key="tr_own_size").set_value(16).run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    summary = next(str(m.value) for m in at.markdown if "training and" in str(m.value))
    assert "16×16" in summary and "2 skipped" in summary and "circle/broken.png" in summary
    counts = at.dataframe[0].value
    assert list(counts["class"]) == list(CLASSES) and counts["training images"].sum() + \
        counts["test images"].sum() == 3 * PER_CLASS
    assert any("What the model will see" in str(e.proto) for k in ("imgs", "image") for e in at.get(k))  # the grid
    assert at.session_state["tr_dataset"] == "folder" and at.session_state["tr_data_dir"] == str(shapes.resolve())
    at.text_input(key="tr_name").input("from-page")
    for key, value in (("tr_epochs", 2), ("tr_batch_size", 16), ("tr_filters1", 4), ("tr_filters2", 8)):
        at.number_input(key=key).set_value(value)
    at.text_input(key="tr_learning_rate").input("0.01")
    at.button(key="tr_start").click().run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    launch = next(r for r in launches.read_launches(root) if r.name == "from-page")
    assert launcher.wait(launch, timeout=300) == 0, access.log_tail(access.log_path("from-page", root))
    run = root / "from-page"
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"] == "folder" and config["image_size"] == 16 and config["class_names"] == list(CLASSES)
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
              if '"kind": "epoch"' in line]
    assert [e["epoch"] for e in epochs] == [1, 2] and epochs[1]["test_elbo"] > epochs[0]["test_elbo"]


def _zip(entries: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    buf.seek(0)
    return buf


def test_an_uploaded_zip_is_extracted_into_the_runs_root_only(root, tmp_path):
    from cvae.explorer.ui.own_data_ui import UPLOADS_DIR, extract_upload
    from cvae.data.loading import load_data

    z = _zip({f"shapes/{c}/{i}.png": shape_png(c, 24, i) for c in CLASSES for i in range(3)})
    folder = extract_upload(z)
    assert folder.parent.parent == root / UPLOADS_DIR and folder.name == "shapes"
    assert extract_upload(z) == folder  # the same zip again: the same folder, not a second copy
    assert load_data("folder", str(folder)).class_names == CLASSES


def test_a_zip_with_a_dotdot_entry_or_a_bomb_is_refused_with_one_line(root, tmp_path):
    from cvae.explorer.ui.own_data_ui import extract_upload
    from cvae.store.errors import ZipRefused

    before = tree(tmp_path)
    with pytest.raises(ZipRefused, match="'..' path") as e:
        extract_upload(_zip({"good/a.png": shape_png("circle", 24, 0), "../evil.png": b"x"}))
    assert "\n" not in str(e.value)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("zeros.png", "w", force_zip64=True) as w:
            for _ in range(1100):  # 1.1 GB of zeros, over the 1 GiB cap, in about 1 MB of zip
                w.write(b"\0" * (1 << 20))
    with pytest.raises(ZipRefused, match="zip bomb") as e:
        extract_upload(bomb)
    assert "\n" not in str(e.value)
    # Nothing outside the runs root, and inside it only the (empty) uploads folder.
    assert {p for p in tree(tmp_path) - before if not p.startswith("runs/.uploads")} == set()
    assert not any((root / ".uploads").iterdir())
    assert not (tmp_path / "evil.png").exists() and not (root / "evil.png").exists()
    assert os.listdir(root) == [".uploads"]


def test_the_resize_rule_shown_is_the_loaders():
    from cvae.data import own_data
    from cvae.explorer.ui import own_data_ui

    assert own_data_ui.RESIZE_TEXT == own_data.RESIZE_TEXT
