"""Nothing reachable that shouldn't be: paths stay inside the runs root, symbolic links planted in a run are not
followed (for reading, downloading or writing), loading weights never runs code, no uploads, XSRF stays on.
(test_runs.py already covers run_path's refusal of '../', absolute names and symlinked run directories.)
"""

from __future__ import annotations

import io
import re
import signal
import tokenize
from pathlib import Path

import numpy as np
import pytest

from cvae.store import access
from cvae.explorer.jobs import launcher, launches
from cvae.store import runs
from cvae.explorer.ui import run_data
from cvae.explorer.maths.numpy_model import load_numpy_model
from cvae.store.weights import load_weights_npz
from cvae.store.files import append_jsonl, read_json, read_jsonl
from test_app import app_test, make_run, no_exceptions, texts

REPO = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(REPO / "cvae").rglob("*.py"), REPO / "app.py", REPO / "home.py", *(REPO / "app_pages").glob("*.py")])
PASSWD_LINE = "root:x:0:0"


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    from cvae.store import access
    from cvae.explorer.jobs import launcher
    from cvae.store import runs
    from cvae.explorer.ui import run_data  # noqa: F401 - TensorFlow loaded up front: `train` would import it under capsys
    from cvae.cli import main

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    return code, capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- paths


@pytest.mark.parametrize("name", ["../outside", "/etc", "a/../../b", "..", "x/y", "%2e%2e", "\\..\\x"])
def test_every_entry_point_refuses_a_path_as_run_name(root, tmp_path, capsys, name):
    outside = tmp_path / "outside"
    make_run(tmp_path, "outside")
    before = sorted(p.name for p in outside.rglob("*"))
    for argv in (["eval", name], ["sample", name, "--out", str(tmp_path / "o.png")], ["gif", name, "--out",
                 str(tmp_path / "o.gif")], ["train", "--name", name, "--resume"]):
        code, err = run_cli([*argv, "--runs-dir", str(root)], capsys)
        assert code in (1, 2) and err.startswith("error: ") and len(err.splitlines()) == 1, (argv, err)
    for call in (lambda: runs.delete_run(name, root), lambda: runs.request_stop(name, root),
                 lambda: launcher.stop_training(name, root), lambda: launcher.launch_training(name, runs_dir=root,
                                                                                            resume=True)):
        with pytest.raises(runs.RunError):
            call()
    assert sorted(p.name for p in outside.rglob("*")) == before and not (tmp_path / "o.png").exists()


def test_symlinked_run_directory_is_invisible_and_refused(root, tmp_path, capsys):
    make_run(tmp_path / "elsewhere", "secret")
    (root / "evil").symlink_to(tmp_path / "elsewhere" / "secret")
    make_run(root, "real")
    assert [r.name for r in runs.list_runs(root)] == ["real"]
    code, err = run_cli(["sample", "evil", "--runs-dir", str(root), "--out", str(tmp_path / "o.png")], capsys)
    assert code == 1 and "outside the runs root" in err
    with pytest.raises(runs.RunError):
        runs.delete_run("evil", root)
    at = app_test()
    at.session_state["cvae_selected_run"] = "evil"  # as if a session had it selected
    at.run()
    at.switch_page("app_pages/5_Runs.py").run()
    no_exceptions(at)
    assert list(at.dataframe[0].value["run"]) == ["real"]
    assert at.selectbox(key="run_picker").value == "real"
    assert (tmp_path / "elsewhere" / "secret" / runs.WEIGHTS_FILE).exists()


@pytest.fixture
def planted(root, tmp_path) -> dict[str, Path]:
    """A run whose files are symbolic links out of the runs root (to /etc/passwd or a planted file)."""
    make_run(tmp_path / "outside", "src", latent_dim=2)
    src = tmp_path / "outside" / "src"
    run = make_run(root, "linked", created=2.0)
    make_run(root, "clean", created=1.0)
    for f, target in ((runs.WEIGHTS_FILE, src / runs.WEIGHTS_FILE),  # valid weights: must still be refused
                      (runs.METRICS_FILE, src / runs.METRICS_FILE),
                      (runs.GIF_FILE, src / runs.GIF_FILE),
                      (runs.LOG_FILE, Path("/etc/passwd"))):
        (run / f).unlink(missing_ok=True)
        (run / f).symlink_to(target)
    newest = runs.image_path(run, 9)
    newest.symlink_to(runs.image_path(src, 3))
    (run / runs.STATUS_FILE).write_text('{"state": "failed", "created": 2.0, "message": "x"}')  # log expanded
    return {"run": run, "src": src}


def test_planted_symlinks_are_not_read_by_the_engine(planted, capsys, tmp_path):
    run = planted["run"]
    with pytest.raises(ValueError, match="symbolic link"):
        load_weights_npz(run / runs.WEIGHTS_FILE)
    with pytest.raises(runs.RunError, match="symbolic link"):
        load_numpy_model(run)
    assert read_jsonl(run / runs.METRICS_FILE) == []
    info = runs.run_info(run)
    assert info.epoch_rows == [] and info.best_test_elbo is None
    assert runs.image_path(run, 9) not in runs.epoch_images(run)
    assert access.log_path("linked") is None and access.log_tail(run / runs.LOG_FILE) == ""
    assert access.file_bytes_in_run(run, runs.GIF_FILE) is None and access.file_bytes_in_run(run, runs.WEIGHTS_FILE) is None
    latest = run_data.latest_sample_image(run)
    assert latest is not None and latest[1] == 3  # its own epoch-3 image, not the planted "epoch 9"
    (run / runs.CONFIG_FILE).rename(run / "real-config.json")
    (run / runs.CONFIG_FILE).symlink_to(planted["src"] / runs.CONFIG_FILE)
    with pytest.raises(ValueError, match="config.json: is a symbolic link; refused"):
        read_json(run / runs.CONFIG_FILE)
    assert runs.run_info(run).state == "broken"
    code, err = run_cli(["sample", "linked", "--runs-dir", str(run.parent), "--out", str(tmp_path / "s.png")], capsys)
    assert code == 1 and "symbolic link" in err and len(err.splitlines()) == 1, err


def test_planted_symlinks_are_not_shown_or_offered_by_the_app(planted):
    at = app_test()
    at.session_state["cvae_selected_run"] = "linked"
    at.run()
    for page in ("app_pages/1_Train.py", "app_pages/2_Latent_plane.py", "app_pages/5_Runs.py"):
        at.switch_page(page).run()
        no_exceptions(at)
        everything = texts(at) + "\n".join(str(c.value) for c in at.code)
        assert PASSWD_LINE not in everything, page
        if page == "app_pages/2_Latent_plane.py":
            assert at.error and "symbolic link" in at.error[0].value
        if page == "app_pages/5_Runs.py":
            labels = [b.label for b in at.get("download_button")]
            assert labels and not any(f in label for label in labels
                                      for f in (runs.WEIGHTS_FILE, runs.METRICS_FILE, runs.GIF_FILE)), labels
            table = at.dataframe[0].value
            assert "symbolic link" in table[table["run"] == "linked"].iloc[0]["problem"]


def test_nothing_is_written_through_a_planted_symlink(root, tmp_path, capsys):
    """As root, following .lock/STOP/metrics.jsonl links would truncate or append to any file on the machine."""
    precious = tmp_path / "precious.txt"
    precious.write_text("precious\n")
    run = make_run(root, "trap", state="stopped")
    (run / runs.LOCK_FILE).symlink_to(precious)
    assert not runs.is_locked(run)
    with pytest.raises(runs.RunError, match=r"\.lock is a symbolic link"):
        runs.RunLock(run).acquire()
    code, err = run_cli(["train", "--name", "trap", "--runs-dir", str(root), "--resume"], capsys)
    assert code == 1 and ".lock is a symbolic link" in err, err
    (run / runs.LOCK_FILE).unlink()

    (run / runs.STOP_FILE).symlink_to(tmp_path / "created-by-stop")
    with pytest.raises(runs.RunError, match="cannot ask it to stop"):
        runs.request_stop("trap", root)
    assert not (tmp_path / "created-by-stop").exists()
    (run / runs.STOP_FILE).unlink()

    (run / runs.METRICS_FILE).unlink()
    (run / runs.METRICS_FILE).symlink_to(precious)
    with pytest.raises(OSError):
        append_jsonl(run / runs.METRICS_FILE, {"kind": "step"})
    code, err = run_cli(["train", "--name", "trap", "--runs-dir", str(root), "--resume"], capsys)
    assert code == 1 and "metrics.jsonl is a symbolic link; refusing to write through it" in err, err
    assert precious.read_text() == "precious\n"
    assert not runs.is_locked(run)

    # A staged launch log moved into a run whose train.log is a link: not appended through it.
    (run / runs.METRICS_FILE).unlink()
    (run / runs.LOG_FILE).symlink_to(precious)
    staged = root / launches.LAUNCH_DIR
    staged.mkdir()
    (staged / "trap.log").write_text("log text\n")
    (staged / "trap.json").write_text('{"name": "trap", "pid": 999999999, "started": 0, "log": "%s"}'
                                      % (staged / "trap.log"))
    launches.sweep(root)
    assert precious.read_text() == "precious\n"


# ---------------------------------------------------------------------------------------------- no code execution


def _code_tokens(path: Path) -> list[tokenize.TokenInfo]:
    """Tokens of real code: comments and strings (docstrings) dropped."""
    with open(path, "rb") as f:
        return [t for t in tokenize.tokenize(f.readline)
                if t.type not in (tokenize.COMMENT, tokenize.STRING, tokenize.NL, tokenize.NEWLINE,
                                  tokenize.ENCODING)]


def test_no_code_execution_paths_in_the_package():
    """No pickle, no allow_pickle=True, no eval/exec, no Keras model deserialisation or Lambda layers: loading
    a weights file or checkpoint can only ever produce arrays. Every np.load passes allow_pickle=False."""
    problems = []
    for path in SOURCES:
        toks = _code_tokens(path)
        names = [t.string for t in toks]
        for i, t in enumerate(toks):
            nxt = names[i + 1] if i + 1 < len(toks) else ""
            prev = names[i - 1] if i else ""
            where = f"{path.relative_to(REPO)}:{t.start[0]}"
            if t.string in ("pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"):
                problems.append(f"{where}: {t.string}")
            if t.string in ("eval", "exec", "compile", "__import__") and nxt == "(" and prev != ".":
                problems.append(f"{where}: {t.string}(")
            if t.string == "allow_pickle" and nxt == "=" and names[i + 2] != "False":
                problems.append(f"{where}: allow_pickle={names[i + 2]}")
            # (run_data.load_model is the app's own cached NumPy loader: arrays from a checked weights.npz)
            if t.string in ("load_model", "model_from_json", "model_from_config", "deserialize", "Lambda",
                            "from_config") and prev == "." and not (t.string == "load_model" and i >= 2
                                                                     and names[i - 2] == "run_data"):
                problems.append(f"{where}: .{t.string}")
            if t.string == "load" and prev == "." and i >= 2 and names[i - 2] in ("torch", "yaml", "pickle"):
                problems.append(f"{where}: {names[i - 2]}.load")
            if t.string == "load" and prev == "." and i >= 2 and names[i - 2] in ("np", "numpy"):
                j, depth, args = i + 1, 0, []
                while j < len(names):  # the call's tokens, up to its closing parenthesis
                    depth += (names[j] == "(") - (names[j] == ")")
                    args.append(names[j])
                    if depth == 0:
                        break
                    j += 1
                if "allow_pickle" not in args:
                    problems.append(f"{where}: np.load without allow_pickle=False")
    assert problems == []
    assert len(SOURCES) > 15


class Trap:
    """Unpickling this creates a file: proof that a loader ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_object_arrays_are_refused_without_running_code(tmp_path):
    from cvae.engine.checkpoints import read_checkpoint

    marker = tmp_path / "CODE-RAN"
    obj = np.empty(1, dtype=object)
    obj[0] = Trap(marker)
    buf = io.BytesIO()
    np.savez(buf, meta=np.array("{}"), rng_state=obj)  # savez pickles object arrays
    for name, loader in (("weights.npz", load_weights_npz), ("ckpt-00000001.npz", read_checkpoint)):
        path = tmp_path / name
        path.write_bytes(buf.getvalue())
        with pytest.raises(ValueError, match="allow_pickle|not a readable|unreadable"):
            loader(path)
        assert not marker.exists(), name
    np.load(tmp_path / "weights.npz", allow_pickle=True)["rng_state"]  # the trap works: the check could fail
    assert marker.exists()


# ---------------------------------------------------------------------------------------------- serving


def test_xsrf_and_cors_protection_stay_on():
    import tomllib

    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    server = cfg.get("server", {})
    assert server.get("enableXsrfProtection", True) is True
    assert server.get("enableCORS", True) is True
    assert server.get("address") == "127.0.0.1"  # localhost unless a classroom is served on purpose
    # ...and no launcher turns them off on the command line.
    for f in (REPO / "Makefile", REPO / "README.md", REPO / ".ci" / "run", *SOURCES):
        text = f.read_text()
        assert not re.search(r"enable(Xsrf|XSRF)Protection[ =]+false|enableCORS[ =]+false", text, re.I), f


def test_no_uploads_or_they_are_capped():
    """The app has no file upload. If one is ever added, config.toml must cap its size (server.maxUploadSize, MB)
    and docs/reliability.md says it must be validated before use."""
    uses = [str(p.relative_to(REPO)) for p in SOURCES if "file_uploader" in p.read_text()]
    if uses:
        import tomllib

        cap = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text()).get("server", {}).get("maxUploadSize")
        assert cap is not None and cap <= 10, f"{uses} upload files: set server.maxUploadSize (MB) <= 10"
