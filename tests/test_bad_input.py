"""Bad input: corrupt weights and checkpoints, broken config.json/status.json, bad Train-form values and CLI
flags, broken data directories. Each gives a clear message in the app and one error line from the CLI, and the
other runs keep working. (test_numpy_model.py covers the weights loader on its own, test_data.py the IDX parser,
test_cli.py the CLI's basic usage errors and a truncated weights file.)
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from cvae.explorer.jobs import launcher, launches
from cvae.store import runs
from cvae.explorer.ui import nav
from cvae.store.config import TrainConfig
from cvae.store.weights import expected_shapes
from cvae.store.weights import save_weights_npz
from test_app import app_test, charts, drawn, make_run, no_exceptions, texts

# Every page that shows a model (Latent plane first), so a new one is covered too.
# The pages that show the sidebar's run (the live classroom's pages show the run of a class, chosen when it starts).
MODEL_PAGES = tuple(path for key, (path, _, _) in nav.PAGES.items()
                    if key not in ("home", "train", "runs", "classroom", "join"))


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """`python -m cvae ARGV` in this process (cvae.cli.main, exactly what the command runs): (exit code, stderr)."""
    from cvae.cli import main

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = main(argv)
    except SystemExit as e:  # argparse usage errors
        code = e.code
    finally:
        for s, h in handlers.items():  # the trainer installs its own SIGINT/SIGTERM handlers
            signal.signal(s, h)
    captured = capsys.readouterr()
    return code, captured.err


def one_error_line(code: int, err: str, *words: str) -> str:
    assert code not in (0, None), err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.splitlines()[-1] == errors[0], err
    for w in words:
        assert w in errors[0], (w, errors[0])
    return errors[0]


# ---------------------------------------------------------------------------------------------- corrupt weights


def _arrays(latent_dim: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(0, 0.05, s).astype(np.float32) for k, s in expected_shapes(latent_dim).items()}


def _npz(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def corrupt_weights(good: bytes) -> dict[str, tuple[bytes, str]]:
    """kind -> (bytes of weights.npz, a phrase the error must contain)."""
    obj = np.empty(2, dtype=object)
    obj[:] = ["not", "numbers"]
    nan = _arrays()
    nan["dec_logits/kernel"][0, 0, 0, 0] = np.nan
    missing = _arrays()
    del missing["dec_logits/bias"]
    return {
        "truncated": (good[: len(good) // 2], "not a readable weights file"),
        "zero-length": (b"", "not a readable weights file"),
        "random-bytes": (np.random.default_rng(1).bytes(4096), "not a readable weights file"),
        "other-latent-dim": (_npz(_arrays(latent_dim=3)), "for latent_dim 2"),
        "extra-array": (_npz({**_arrays(), "dec_extra/kernel": np.zeros((3, 3), np.float32)}), "unexpected arrays"),
        "missing-array": (_npz(missing), "missing array 'dec_logits/bias'"),
        "object-array": (_npz({**_arrays(), "dec_logits/bias": obj}), "not a readable weights file"),
        "nan": (_npz(nan), "NaN or infinity"),
    }


@pytest.fixture
def corrupt_root(root) -> tuple[Path, dict[str, str]]:
    make_run(root, "good", created=100.0)
    good = (root / "good" / runs.WEIGHTS_FILE).read_bytes()
    expect = {}
    for i, (kind, (data, phrase)) in enumerate(corrupt_weights(good).items()):
        run = make_run(root, kind, created=float(i))
        (run / runs.WEIGHTS_FILE).write_bytes(data)
        expect[kind] = phrase
    return root, expect


def test_corrupt_weights_in_the_app(corrupt_root):
    """Each corrupt weights.npz, selected on every model page, is one st.error naming the problem (no traceback);
    the Runs page lists the problem and shows it for the selected run; the good run still works afterwards."""
    root, expect = corrupt_root
    at = app_test()
    at.session_state["cvae_selected_run"] = "good"
    at.run()
    for kind, phrase in expect.items():
        at.selectbox(key="run_picker").set_value(kind).run()
        for page in MODEL_PAGES:
            at.switch_page(page).run()
            no_exceptions(at)
            assert len(at.error) == 1, (kind, page, [e.value for e in at.error])
            assert phrase in at.error[0].value and kind in at.error[0].value, (kind, page, at.error[0].value)
            assert not drawn(at), (kind, page)  # nothing drawn from a broken model
        at.switch_page("app_pages/5_Runs.py").run()
        no_exceptions(at)
        assert any(phrase in e.value for e in at.error), (kind, [e.value for e in at.error])
        assert at.selectbox(key="rn_target").value == kind
    table = at.dataframe[0].value
    for kind, phrase in expect.items():
        assert phrase in table[table["run"] == kind].iloc[0]["problem"], kind
    assert table[table["run"] == "good"].iloc[0]["problem"] == "–"  # an empty cell, not "None"
    at.selectbox(key="run_picker").set_value("good").run()
    for page in MODEL_PAGES:
        at.switch_page(page).run()
        no_exceptions(at)
        assert not at.error and drawn(at), page


def test_corrupt_weights_on_the_cli(corrupt_root, tmp_path, capsys):
    root, expect = corrupt_root
    out = tmp_path / "out.png"
    for kind, phrase in expect.items():
        for cmd in (["eval", kind], ["sample", kind, "--out", str(out)], ["manifold", kind, "--out", str(out)]):
            code, err = run_cli([*cmd, "--runs-dir", str(root)], capsys)
            line = one_error_line(code, err, phrase, f"{kind}/weights.npz")
            assert code == 1, line
            assert not out.exists()
    code, err = run_cli(["sample", "good", "--runs-dir", str(root), "--out", str(out)], capsys)
    assert code == 0 and out.is_file(), err


# ---------------------------------------------------------------------------------------------- corrupt checkpoints


@pytest.fixture(scope="module")
def checkpointed_run(tmp_path_factory, mnist_dir):
    """A tiny finished run with three checkpoints (128 images, 3 epochs), trained once for the module."""
    from cvae.data.sources import binarize, load_dataset
    from cvae.engine.trainer import TrainData
    from cvae.engine.train import train_run

    root = tmp_path_factory.mktemp("ckpt-runs")
    ds = load_dataset("mnist", mnist_dir)
    data = TrainData(train=binarize(ds.train_images[:128]), test=binarize(ds.test_images[:32]), source="subset")
    cfg = TrainConfig(max_train_examples=128, max_test_examples=32, epochs=3, log_every_steps=4,
                      num_examples_to_generate=4, data_dir=str(mnist_dir))
    assert train_run("src", cfg, runs_dir=root, data=data) == "done"
    return root / "src"


def _ckpt_variants(ckpt: bytes) -> dict[str, bytes]:
    with np.load(io.BytesIO(ckpt)) as f:
        arrays = {k: f[k] for k in f.files}
    other_dim = dict(arrays)
    other_dim["model/enc_dense/kernel"] = np.zeros((2304, 6), np.float32)
    other_dim["model/enc_dense/bias"] = np.zeros((6,), np.float32)
    missing = {k: v for k, v in arrays.items() if k != "model/dec_logits/bias"}
    obj = np.empty(1, dtype=object)
    obj[0] = {"evil": True}
    return {
        "truncated": ckpt[: len(ckpt) // 3],
        "zero-length": b"",
        "random-bytes": np.random.default_rng(2).bytes(8192),
        "other-latent-dim": _npz(other_dim),
        "missing-array": _npz(missing),
        "object-array": _npz({**arrays, "rng_state": obj}),
    }


@pytest.mark.parametrize("kinds", [("truncated", "zero-length", "random-bytes"),
                                   ("other-latent-dim", "missing-array", "object-array")], ids=lambda k: "+".join(k))
def test_corrupt_checkpoints_refuse_resume_with_one_line(checkpointed_run, tmp_path, capsys, kinds):
    """All three checkpoints of a stopped run corrupt (one way each): `train --resume` is one error line naming
    each checkpoint and why, and restarts nothing: weights.npz and metrics.jsonl are untouched."""
    from cvae.engine.checkpoints import checkpoint_paths

    run = tmp_path / "r"
    shutil.copytree(checkpointed_run, run, ignore=shutil.ignore_patterns(".lock"))
    runs.write_status(run, state="stopped")
    ckpts = checkpoint_paths(run)
    assert len(ckpts) == 3
    for path, kind in zip(ckpts, kinds):
        path.write_bytes(_ckpt_variants(path.read_bytes())[kind])
    keep = {f: (run / f).read_bytes() for f in (runs.WEIGHTS_FILE, runs.METRICS_FILE)}
    code, err = run_cli(["train", "--name", "r", "--runs-dir", str(tmp_path), "--resume", "--epochs", "4"], capsys)
    line = one_error_line(code, err, "run 'r': no usable checkpoint", "move ckpt/ out of the run directory")
    for path in ckpts:
        assert f"skipped {path.name}" in line, line
    assert code == 1
    assert {f: (run / f).read_bytes() for f in keep} == keep
    info = runs.run_info(run)
    assert info.state == "failed" and "no usable checkpoint" in info.status["message"] and info.epochs_done == 3


# ---------------------------------------------------------------------------------------------- config / status


BROKEN = {  # name -> (config.json text or None to delete it, status.json text or None to keep it)
    "cfg-missing": (None, None),
    "cfg-not-json": ("{not json", None),
    "cfg-a-list": ("[1, 2, 3]", None),
    "cfg-wrong-types": (json.dumps({**TrainConfig().to_dict(), "latent_dim": "two", "epochs": 2.5}), None),
    "cfg-unknown-field": (json.dumps({**TrainConfig().to_dict(), "rm_rf": "/"}), None),
    "cfg-out-of-range": (json.dumps({**TrainConfig().to_dict(), "latent_dim": 1000}), None),
    "status-garbage": ("", "\x00 garbage"),
    "status-wrong-types": ("", json.dumps({"state": 7, "epoch": "x", "created": [], "pid": "me"})),
}


@pytest.fixture
def broken_root(root) -> Path:
    make_run(root, "good", created=100.0)
    for i, (name, (cfg, status)) in enumerate(BROKEN.items()):
        run = make_run(root, name, created=float(i))
        if cfg is None:
            (run / runs.CONFIG_FILE).unlink()
        elif cfg:
            (run / runs.CONFIG_FILE).write_text(cfg)
        if status is not None:
            (run / runs.STATUS_FILE).write_text(status)
    return root


def test_broken_config_and_status_are_listed_and_no_page_crashes(broken_root, capsys):
    root = broken_root
    at = app_test()
    at.session_state["cvae_selected_run"] = "good"
    at.run()
    at.switch_page("app_pages/5_Runs.py").run()
    no_exceptions(at)
    table = at.dataframe[0].value
    assert set(table["run"]) == {"good", *BROKEN}
    for name in BROKEN:
        row = table[table["run"] == name].iloc[0]
        if name.startswith("cfg-"):
            assert "broken" in row["state"] and "config.json" in row["problem"], (name, row.to_dict())
        else:
            assert "unknown" in row["state"] and "status.json" in row["problem"], (name, row.to_dict())
    for n, name in enumerate(BROKEN):
        at.selectbox(key="run_picker").set_value(name).run()
        # Every page for the first broken config; the model pages share run_data.require_model, so the other kinds
        # visit one of them (a status-only problem leaves the model usable: its full page render is the check).
        model_pages = MODEL_PAGES if n == 0 else MODEL_PAGES[:1]
        for page in ("home.py", "app_pages/1_Train.py", *model_pages, *(["app_pages/5_Runs.py"] if n == 0 else [])):
            at.switch_page(page).run()
            no_exceptions(at)
            if name.startswith("cfg-") and page in MODEL_PAGES:
                assert at.error and name in at.error[0].value and "config.json" in at.error[0].value, \
                    (name, page, [e.value for e in at.error])
            if name.startswith("status-") and page in MODEL_PAGES:
                assert not at.error and drawn(at), (name, page)  # the model itself is fine
    at.selectbox(key="run_picker").set_value("good").run()
    at.switch_page("app_pages/2_Latent_plane.py").run()
    assert not at.error and drawn(at)

    for name in BROKEN:
        if name.startswith("cfg-"):
            code, err = run_cli(["sample", name, "--runs-dir", str(root), "--out", str(root / "x.png")], capsys)
            one_error_line(code, err, name, "config.json")


def test_cli_list_shows_broken_runs(broken_root, capsys):
    from cvae.cli import main

    assert main(["list", "--runs-dir", str(broken_root)]) == 0
    out = capsys.readouterr().out
    states = {line.split()[0]: line.split()[1] for line in out.splitlines()}
    assert states["good"] == "done"
    for name in BROKEN:
        assert states[name] == ("broken" if name.startswith("cfg-") else "unknown"), (name, out)


# ---------------------------------------------------------------------------------------------- the Train form


@pytest.fixture
def no_launch(monkeypatch) -> list:
    calls = []
    monkeypatch.setattr(launcher, "launch_training", lambda *a, **kw: calls.append((a, kw)))
    return calls


FORM_CASES = [  # (widget key without 'tr_', kind, value, words of the error)
    ("epochs", "number", 0, ["epochs", "1 to 10000"]),
    ("epochs", "number", -3, ["epochs", "1 to 10000"]),
    ("batch_size", "number", 0, ["batch_size", "1 to 60000"]),
    ("batch_size", "number", 70_000, ["batch_size", "1 to 60000"]),
    ("batch_size", "number", 128, ["batch_size", "max_train_examples (64)"]),  # with 64 training images
    ("learning_rate", "text", "0", ["learning_rate", "> 0"]),
    ("learning_rate", "text", "-1e-3", ["learning_rate", "> 0"]),
    ("learning_rate", "text", "abc", ["learning_rate", "'abc'"]),
    ("learning_rate", "text", "nan", ["learning_rate"]),
    ("learning_rate", "text", "inf", ["learning_rate"]),
    ("latent_dim", "number", 0, ["latent_dim", "1 to 64"]),
    ("latent_dim", "number", 65, ["latent_dim", "1 to 64"]),
    ("name", "text", "a/b", ["run name", "'a/b'"]),
    ("name", "text", "..", ["run name"]),
    ("name", "text", "../escape", ["run name"]),
    ("name", "text", "has space", ["run name"]),
    ("name", "text", "", ["run name", "must not be empty"]),
    ("name", "text", "   ", ["run name", "must not be empty"]),
    ("name", "text", ".hidden", ["run name"]),
]


def test_train_form_refuses_every_bad_value_and_launches_nothing(root, no_launch, mnist_dir, monkeypatch):
    monkeypatch.setenv("CVAE_DATA_DIR", str(mnist_dir))  # data is there: the form's other checks are under test
    at = app_test().run()
    at.switch_page("app_pages/1_Train.py").run()
    no_exceptions(at)
    defaults = {"name": "ok-name", "epochs": 10, "batch_size": 32, "learning_rate": "0.0001", "latent_dim": 2}
    for key, kind, value, words in FORM_CASES:
        for k, v in defaults.items():  # start every case from a valid form
            (at.text_input if isinstance(v, str) else at.number_input)(key=f"tr_{k}").set_value(v)
        at.number_input(key="tr_max_train_examples").set_value(64 if key == "batch_size" and value == 128 else None)
        widget = at.text_input(key=f"tr_{key}") if kind == "text" else at.number_input(key=f"tr_{key}")
        widget.set_value(value)
        at.button(key="tr_start").click().run()
        no_exceptions(at)
        errors = " | ".join(e.value for e in at.error)
        for w in words:
            assert w in errors, (key, value, errors)
        assert no_launch == [], (key, value)
    assert not list(root.iterdir()) or [p.name for p in root.iterdir()] == [launches.LAUNCH_DIR]
    # 300 characters can't even be entered: the field holds at most 100 (max_chars: the browser stops typing and
    # Streamlit truncates on the server too), and 100 characters is the longest valid name. (The CLI refuses 300: test_cli_train_refuses_bad_values.)
    at.text_input(key="tr_name").set_value("x" * 300)
    at.button(key="tr_start").click().run()
    assert [a[0] for a, _ in no_launch] == ["x" * 100]


CLI_CASES = [  # (extra argv, exit code, words of the error line)
    (["--epochs", "-1"], 2, ["--epochs", "integer >= 0"]),
    (["--batch-size", "0"], 2, ["batch_size", "1 to 60000"]),
    (["--batch-size", "70000"], 2, ["batch_size", "1 to 60000"]),
    (["--learning-rate", "0"], 2, ["learning_rate", "> 0"]),
    (["--learning-rate", "-0.001"], 2, ["learning_rate", "> 0"]),
    (["--learning-rate", "inf"], 2, ["learning_rate"]),
    (["--learning-rate", "1e-3x"], 2, ["--learning-rate", "'1e-3x'"]),
    (["--latent-dim", "0"], 2, ["latent_dim", "1 to 64"]),
    (["--max-train-examples", "0"], 2, ["max_train_examples"]),
    (["--max-test-examples", "3"], 2, ["max_test_examples"]),
    (["--name", "a/b"], 2, ["run name", "'a/b'"]),
    (["--name", ".."], 2, ["run name"]),
    (["--name", "a b"], 2, ["run name"]),
    (["--name", "x" * 300], 2, ["run name", "..."]),
    (["--name", "/etc"], 2, ["run name"]),
]


@pytest.mark.parametrize("extra,code,words", CLI_CASES, ids=lambda v: " ".join(v)[:30] if isinstance(v, list) else None)
def test_cli_train_refuses_bad_values_with_one_line(tmp_path, capsys, extra, code, words):
    got, err = run_cli(["train", "--name", "x", "--runs-dir", str(tmp_path), "--max-train-examples", "64",
                        "--max-test-examples", "16", *extra], capsys)
    line = one_error_line(got, err, *words)
    assert got == code, line
    assert list(tmp_path.iterdir()) == []  # no run directory


# ---------------------------------------------------------------------------------------------- data directories


def _data_dir(tmp_path: Path, mnist_dir: Path, kind: str) -> tuple[Path, str]:
    """A data directory broken one way; returns it and the file the error must name."""
    d = tmp_path / f"data-{kind}"
    d.mkdir()
    names = {f.name.removesuffix(".gz"): f for f in mnist_dir.iterdir() if "idx" in f.name}
    for base, f in names.items():
        os.symlink(f, d / f.name)
    if kind == "missing":
        (d / "t10k-labels-idx1-ubyte.gz").unlink()
        return d, "t10k-labels-idx1-ubyte[.gz]"
    if kind == "truncated":
        import gzip

        (d / "train-images-idx3-ubyte.gz").unlink()
        raw = gzip.decompress(names["train-images-idx3-ubyte"].read_bytes())
        (d / "train-images-idx3-ubyte").write_bytes(raw[: 16 + 1000 * 784 + 100])  # header says 60,000 images
        return d, "train-images-idx3-ubyte"
    if kind == "mismatched":  # the test labels where the training labels belong
        (d / "train-labels-idx1-ubyte.gz").unlink()
        os.symlink(names["t10k-labels-idx1-ubyte"], d / "train-labels-idx1-ubyte.gz")
        return d, "train-labels-idx1-ubyte.gz"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing", "truncated", "mismatched"])
def test_cli_train_with_a_broken_data_dir_is_one_line(tmp_path, mnist_dir, capsys, kind):
    root = tmp_path / "runs"
    make_run(root, "other")
    other = {p.name: p.read_bytes() for p in (root / "other").iterdir() if p.is_file()}
    data_dir, names = _data_dir(tmp_path, mnist_dir, kind)
    code, err = run_cli(["train", "--name", "d", "--runs-dir", str(root), "--data-dir", str(data_dir),
                         "--max-train-examples", "64", "--max-test-examples", "16", "--epochs", "1"], capsys)
    line = one_error_line(code, err, names)
    assert code == 1, line
    assert runs.read_status(root / "d")["state"] == "failed"
    assert {p.name: p.read_bytes() for p in (root / "other").iterdir() if p.is_file()} == other  # unaffected
