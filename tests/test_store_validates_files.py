"""Issue #10, "trust nothing on disk": every JSON file the store reads is checked field by field; evaluations are
stamped with the epoch of the weights they loaded; the cost of a rerun does not grow with the runs root.

Each test here reproduces one finding of the issue (it failed on the code before the fix)."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import numpy as np
import pytest

from cvae.explorer.jobs import progress
from cvae.store import evaluations, metrics, runs, schema
from cvae.store.files import append_jsonl, atomic_write_json
from cvae.store.weights import expected_shapes, load_weights_npz, read_weights, save_weights_npz
from test_app import app_test, charts, make_run, no_exceptions, texts
from test_bad_input import one_error_line, run_cli

REPO = Path(__file__).resolve().parent.parent


def set_status(run: Path, **fields) -> None:
    """Overwrite status.json with the run's status plus fields, bypassing the writer's checks (as a hand edit)."""
    status = json.loads((run / runs.STATUS_FILE).read_text())
    status.update(fields)
    (run / runs.STATUS_FILE).write_text(json.dumps(status))


def random_weights(latent_dim: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(0.0, 0.05, shape) for k, shape in expected_shapes(latent_dim).items()}


# ---------------------------------------------------------------------------------------------- weights meta


def test_weights_carry_their_epoch_and_step_and_loaders_return_only_arrays(tmp_path):
    path = tmp_path / "w.npz"
    save_weights_npz(random_weights(), path, epoch=2, step=3750)
    arrays, meta = read_weights(path)
    assert meta == {"epoch": 2, "step": 3750}
    assert set(arrays) == set(expected_shapes(2)) == set(load_weights_npz(path))  # no reserved names leak
    save_weights_npz(random_weights(), path)  # weights from before the meta existed
    assert read_weights(path)[1] == {"epoch": None, "step": None}
    # A planted meta that is not an int64 scalar in range is not believed.
    for bad in (np.float64(2.0), np.array([2, 3]), np.int64(-1), np.int64(10**15)):
        with open(path, "wb") as f:
            np.savez(f, **{k: v.astype(np.float32) for k, v in random_weights().items()}, __epoch__=bad)
        assert read_weights(path)[1]["epoch"] is None, bad


# ---------------------------------------------------------------------------------------------- schema


def test_schema_checks_type_range_finiteness_and_time():
    good = {"state": "running", "epoch": 2, "step": 100, "created": 1.7e9, "steps_per_epoch": 64, "replicas": 2,
            "replicas_note": "2 replicas on 2 logical CPUs"}
    assert schema.status_problem(good) is None
    assert schema.status_problem({**good, "replicas_note": None}) is None
    for field, value in (("epoch", "two"), ("steps_per_epoch", "64"), ("created", 1e20), ("epoch", 1e300),
                         ("epoch", True), ("epoch", 2.0), ("step", -1), ("created", float("nan")),
                         ("updated", -5.0), ("pid", "me"), ("message", 7), ("replicas", 0), ("replicas", "2"),
                         ("replicas_note", 7)):
        why = schema.status_problem({**good, field: value})
        assert why is not None and f"'{field}'" in why and "\n" not in why, (field, value, why)
    assert schema.metrics_row_problem({"kind": "step", "step": 5, "loss": 1.0}) is None
    for row in ({"kind": "step", "step": "5", "loss": 1.0}, {"kind": "step", "step": None, "loss": 1.0},
                {"kind": "step", "step": 5}, {"kind": "step", "step": 5, "loss": float("inf")},
                {"kind": "epoch", "epoch": 1, "test_elbo": "x"}, {"kind": "nope"}, [1, 2], "row"):
        assert schema.metrics_row_problem(row) is not None, row
    assert schema.evaluation_row_problem({"k": 10, "iwae": -150.0, "epoch": None}) is None
    for row in ({"k": 0, "iwae": -150.0}, {"k": 10, "iwae": float("nan")}, {"k": 10, "iwae": -150.0, "epoch": "2"},
                {"k": True, "iwae": -1.0}, {"iwae": -1.0}):
        assert schema.evaluation_row_problem(row) is not None, row


def test_bad_metrics_rows_are_skipped_and_counted(tmp_path):
    run = make_run(tmp_path, "r", epochs=2)
    before = runs.run_info(run)
    for row in ({"kind": "step", "step": "7", "loss": 1.0}, {"kind": "step", "step": 8},
                {"kind": "epoch", "epoch": 3, "test_elbo": "high"}, {"kind": "epoch", "epoch": 1e300}):
        append_jsonl(run / runs.METRICS_FILE, row)
    info = runs.run_info(run)
    assert info.bad_rows == 4 and before.bad_rows == 0
    assert [r["epoch"] for r in info.epoch_rows] == [1, 2] and info.best_test_elbo == before.best_test_elbo


def test_bad_evaluation_rows_are_skipped(tmp_path):
    evaluations.append_evaluation(tmp_path, evaluations.evaluation_row(10, -150.0, -155.0, 100, 1.0, epoch=2))
    for row in ({"k": 10, "iwae": -150.0, "epoch": "2"}, {"k": 10, "iwae": -150.0, "n": 1e300},
                {"k": 10, "iwae": -150.0, "time": 1e20}):
        append_jsonl(tmp_path / evaluations.EVALUATIONS_FILE, row)
    assert [r["epoch"] for r in evaluations.read_evaluations(tmp_path)] == [2]


def test_reconcile_survives_string_and_null_steps(tmp_path):
    """Finding: a metrics row with a string or null `step` made --resume crash in reconcile_metrics."""
    path = tmp_path / runs.METRICS_FILE
    rows = [{"kind": "step", "epoch": 1, "step": 5, "loss": 3.0}, {"kind": "step", "epoch": 1, "step": "6", "loss": 2.0},
            {"kind": "step", "epoch": 1, "step": None, "loss": 2.0}, {"kind": "epoch", "epoch": 1, "step": 10,
                                                                     "test_elbo": -200.0},
            {"kind": "epoch", "epoch": "1"}, {"kind": "step", "epoch": 2, "step": 15, "loss": 1.0}]
    for r in rows:
        append_jsonl(path, r)
    assert metrics.reconcile(path, epoch=1, global_step=10, last_row=None) == 3
    kept = [json.loads(line) for line in path.read_text().splitlines()]
    assert kept == [rows[0], rows[3]]  # the malformed rows and the step after the checkpoint are gone


def test_status_wrong_types_make_the_run_damaged_naming_the_field(tmp_path):
    run = make_run(tmp_path, "r", epochs=2)
    set_status(run, steps_per_epoch="64")
    info = runs.run_info(run)
    assert info.state == "damaged" and "'steps_per_epoch'" in info.error and "\n" not in info.error
    assert "steps_per_epoch" not in info.status and info.epochs_done == 2
    # The trainer's next write keeps the valid fields and replaces the bad one: the run heals.
    runs.write_status(run, steps_per_epoch=64)
    healed = runs.run_info(run)
    assert healed.state == "done" and healed.status["steps_per_epoch"] == 64 and healed.created == info.created


def test_progress_of_a_live_run_with_wrong_typed_status_does_not_raise(tmp_path):
    run = make_run(tmp_path, "r", epochs=3, state="running")
    info = runs.run_info(run)
    for field, value in (("epoch", "two"), ("steps_per_epoch", "64"), ("step", None), ("total_epochs", [3])):
        bad = runs.RunInfo(**{**info.__dict__, "status": {**info.status, field: value}})
        p = progress.progress(bad, [{"step": "x", "time": "y"}, {"step": 10, "time": None}])
        assert 0.0 <= p["fraction"] <= 1.0 and p["eta_seconds"] is None


def test_cli_list_never_prints_a_300_digit_epoch(tmp_path, capsys):
    make_run(tmp_path, "good", epochs=2, created=1.7e9)
    bad = make_run(tmp_path, "huge", epochs=2, created=1.7e9 + 1)
    set_status(bad, epoch=1e300)
    from cvae.cli import main

    assert main(["list", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert set(lines) == {"good", "huge"} and max(len(line) for line in out.splitlines()) < 120, out
    assert "damaged" in lines["huge"] and "epochs 2/2" in lines["huge"]  # the epochs done from metrics.jsonl


# ---------------------------------------------------------------------------------------------- pages


def test_created_1e20_breaks_no_page_and_every_run_still_lists(root):
    """Finding: created: 1e20 raised OverflowError on the Runs, Home and Train pages (Runs failed for every run)."""
    make_run(root, "good", created=1.7e9)
    bad = make_run(root, "future", created=1.7e9 + 1)
    set_status(bad, created=1e20)
    for selected in ("future", "good"):
        at = app_test()
        at.session_state["cvae_selected_run"] = selected
        at.run()
        no_exceptions(at)
        for page in ("app_pages/1_Train.py", "app_pages/5_Runs.py"):
            at.switch_page(page).run()
            no_exceptions(at)
    table = at.dataframe[0].value
    assert set(table["run"]) == {"good", "future"}
    row = table[table["run"] == "future"].iloc[0]
    assert "damaged" in row["state"] and "'created'" in row["problem"]


def test_train_page_charts_skip_a_step_row_without_loss(root):
    """Finding: a step row without `loss` raised KeyError in the Train page's charts."""
    run = make_run(root, "r", epochs=2)
    append_jsonl(run / runs.METRICS_FILE, {"kind": "step", "epoch": 2, "step": 400, "time": 1.7e9})
    at = app_test()
    at.session_state["cvae_selected_run"] = "r"
    at.run().switch_page("app_pages/1_Train.py").run()
    no_exceptions(at)
    fig = charts(at)["train_loss_r"]
    assert list(fig["data"][0]["x"]) == [50, 100, 150, 200, 250, 300]  # the six valid step rows, not the bad one


@pytest.mark.parametrize("field,value", [("epoch", "two"), ("steps_per_epoch", "64")])
def test_train_page_live_run_with_wrong_typed_status(root, field, value):
    """Finding: a live run's status with epoch "two" or steps_per_epoch "64" raised in the progress view."""
    run = make_run(root, "live", epochs=3, state="running")
    set_status(run, **{field: value})
    with runs.RunLock(run) as lock:
        assert lock.acquire()
        at = app_test()
        at.session_state["cvae_selected_run"] = "live"
        at.run().switch_page("app_pages/1_Train.py").run()
        no_exceptions(at)
        assert f"'{field}'" in texts(at)  # the one line that says which field is wrong


def test_runs_page_never_shows_an_iwae_beside_another_epochs_elbo(root):
    """Finding: an evaluation of epoch-2 weights stamped epoch 8 showed IWAE -351 beside an ELBO of -250."""
    run = make_run(root, "r", epochs=8)
    evaluations.append_evaluation(run, evaluations.evaluation_row(100, -351.0, -360.0, 1000, 5.0, epoch=2))
    evaluations.append_evaluation(run, evaluations.evaluation_row(100, -352.0, -360.0, 1000, 5.0, epoch=None))
    at = app_test().run().switch_page("app_pages/5_Runs.py").run()
    no_exceptions(at)
    assert "log p(x) (IWAE k)" not in at.dataframe[0].value.columns  # epoch 2 and unknown: not for epoch 8
    evaluations.append_evaluation(run, evaluations.evaluation_row(100, -158.0, -160.5, 1000, 5.0, epoch=8))
    at.run()
    cell = at.dataframe[0].value.iloc[0]["log p(x) (IWAE k)"]
    assert cell == "-158.00 (k = 100, 1,000 images) · ELBO -160.50, epoch 8"


# ---------------------------------------------------------------------------------------------- cost


def test_list_runs_parses_a_runs_files_only_when_they_change(tmp_path, monkeypatch):
    for i in range(5):
        make_run(tmp_path, f"r{i}", epochs=2, created=1.7e9 + i)
    runs.list_runs(tmp_path)
    calls = []
    real = runs.read_metrics
    monkeypatch.setattr(runs, "read_metrics", lambda p: calls.append(p) or real(p))
    assert len(runs.list_runs(tmp_path)) == 5 and calls == []  # nothing changed: nothing parsed
    append_jsonl(tmp_path / "r3" / runs.METRICS_FILE, {"kind": "epoch", "epoch": 3, "test_elbo": -150.0})
    runs.write_status(tmp_path / "r1", message="edited")
    infos = {r.name: r for r in runs.list_runs(tmp_path)}
    assert sorted(Path(p).parent.name for p in calls) == ["r1", "r3"]
    assert infos["r3"].best_test_elbo == -150.0 and infos["r1"].status["message"] == "edited"
    # The lock is live state, checked on every call even when no file changed.
    runs.write_status(tmp_path / "r0", state="running")
    assert runs.run_info(tmp_path / "r0").state == "interrupted"
    with runs.RunLock(tmp_path / "r0") as lock:
        assert lock.acquire() and runs.run_info(tmp_path / "r0").state == "running"


def test_metrics_reader_is_incremental_and_notices_rewrites(tmp_path):
    path = tmp_path / runs.METRICS_FILE
    for s in range(1, 4):
        append_jsonl(path, {"kind": "step", "step": s, "loss": 10.0 - s, "time": 1.7e9 + s})
    assert metrics.read_metrics(path).step.tolist() == [1, 2, 3]
    with open(path, "ab") as f:
        f.write(b'{"kind": "step", "step": 4, "lo')  # being written: waits for its newline
    assert metrics.read_metrics(path).step.tolist() == [1, 2, 3]
    with open(path, "ab") as f:
        f.write(b'ss": 6.0}\n')
    view = metrics.read_metrics(path)
    assert view.step.tolist() == [1, 2, 3, 4] and view.recent_steps(2)[-1]["step"] == 4
    atomic_write_json(tmp_path / "x", {})  # an atomic rewrite (reconcile) gives a new inode: read from the start
    path.write_bytes(b'{"kind": "step", "step": 9, "loss": 1.0}\n')  # in place, shorter
    assert metrics.read_metrics(path).step.tolist() == [9]
    with open(path, "r+b") as f:  # in place, same length, different content
        f.write(b'{"kind": "step", "step": 8')
    assert metrics.read_metrics(path).step.tolist() == [8]
    os.unlink(path)
    assert metrics.read_metrics(path).step.tolist() == []


def test_chart_steps_are_downsampled_keeping_first_and_last():
    n = 200_000
    view = metrics.MetricsView(step=np.arange(1, n + 1, dtype=float), loss=np.linspace(300, 150, n),
                               time=np.zeros(n))
    x, y = view.chart_steps()
    assert len(x) <= metrics.CHART_POINTS and x[0] == 1 and x[-1] == n and y[-1] == 150.0
    assert x == sorted(x) and len(set(x)) == len(x)
    small = metrics.MetricsView(step=np.arange(5.0), loss=np.arange(5.0), time=np.zeros(5))
    assert small.chart_steps()[0] == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------------------------------------- smaller items


def test_max_message_size_is_small_but_above_what_the_app_sends(root):
    """The socket limit (both ways) is small enough to refuse a 150 MB frame early, and at least 10x the largest
    element the app sends (the Latent plane's map, the Runs table)."""
    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    limit_mb = cfg["server"]["maxMessageSize"]
    assert 1 <= limit_mb <= 32
    for i in range(40):
        make_run(root, f"r{i:02d}", epochs=3, created=1.7e9 + i)
    largest = 0
    at = app_test().run()
    for page in ("app_pages/2_Latent_plane.py", "app_pages/5_Runs.py", "app_pages/1_Train.py", "app_pages/4_Manifold.py"):
        at.switch_page(page).run()
        no_exceptions(at)
        for kind in ("plotly_chart", "arrow_data_frame", "imgs"):
            for el in at.get(kind):
                largest = max(largest, el.proto.ByteSize())
    assert largest > 10_000  # the map was measured
    assert limit_mb * 1e6 >= 10 * largest, largest


def test_resume_to_fewer_epochs_than_done_is_refused_in_one_line(tmp_path, capsys):
    """Finding: --resume --epochs 1 on a run with 2 epochs done rewrote its config and listed it 'done 2/1'."""
    run = make_run(tmp_path, "r", epochs=2, state="stopped")
    before = (run / runs.CONFIG_FILE).read_bytes()
    code, err = run_cli(["train", "--name", "r", "--runs-dir", str(tmp_path), "--resume", "--epochs", "1"], capsys)
    one_error_line(code, err, "--epochs 1", "2 epochs")
    assert (run / runs.CONFIG_FILE).read_bytes() == before
    from cvae.explorer.jobs import launcher
    from cvae.store.errors import RunError

    with pytest.raises(RunError, match="already trained 2 epochs"):
        launcher.launch_training("r", runs_dir=tmp_path, resume=True, epochs=1)


def test_dataset_knows_the_directory_it_came_from(mnist_dir, monkeypatch, tmp_path):
    from cvae.data import sources

    sources.clear_cache()
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(mnist_dir))
    ds = sources.load_dataset("mnist", allow_download=False)
    assert ds.data_dir is not None and Path(ds.data_dir).is_absolute()
    monkeypatch.delenv(sources.DATA_DIR_ENV)
    again = sources.load_dataset("mnist", ds.data_dir, allow_download=False)  # usable as --data-dir
    assert again.data_dir == ds.data_dir and len(again.test_images) == 10_000
    sources.clear_cache()
