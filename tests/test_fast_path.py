"""The fast path (issue #25): machine probe, table choice, GPU choice, probe cache, float32 evaluation under mixed
precision, the overhead figures of an epoch, and the choice recorded in a fast run's config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cvae.engine import machine as M
from cvae.store.config import PRESETS, TrainConfig

AMX_CPUINFO = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n"
               "flags\t\t: fpu sse avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n\n"
               "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu\n")
EPYC_CPUINFO = "model name\t: AMD EPYC 9004\nflags\t\t: fpu avx512f avx512_bf16\n"
PLAIN_CPUINFO = "model name\t: Old CPU\nflags\t\t: fpu sse2 avx2\n"


def _machine(flags=("amx_bf16", "avx512_bf16"), gpus=(), cores=2):
    return M.Machine("Test CPU", tuple(sorted(flags)), cores, tuple(gpus), "2.21.0")


def _no_probe(machine, batch):
    raise AssertionError("the table decides here: no probe expected")


@pytest.mark.parametrize("text, cls", [(AMX_CPUINFO, "amx_bf16"), (EPYC_CPUINFO, "avx512_bf16"),
                                       (PLAIN_CPUINFO, "none"), ("", "none")])
def test_cpu_class_from_cpuinfo(text, cls, tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    m = M.probe_machine(path, list_gpus=lambda: [])
    assert m.cpu_class == cls and m.machine_class == cls and m.gpus == ()
    assert m.cores >= 1 and m.tf_version


def test_the_shipped_table_has_a_valid_row_per_machine_class():
    table = M.load_table()
    assert set(table) == set(M.MACHINE_CLASSES)
    raw = json.loads(M.TABLE_PATH.read_text())
    assert any("bench.fast_path_table" in c for c in raw["made_by"])  # the command that made it
    assert table["none"]["precision"] == "float32"  # no bf16 instructions: never bf16


def test_a_broken_table_is_named_field_by_field(tmp_path):
    raw = json.loads(M.TABLE_PATH.read_text())
    raw["rows"]["amx_bf16"]["batch_size"] = "many"
    path = tmp_path / "t.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="amx_bf16.*batch_size"):
        M.load_table(path)
    del raw["rows"]["gpu"]
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="no row for gpu"):
        M.load_table(path)


def test_choice_picks_the_gpu_when_tensorflow_lists_one(tmp_path, monkeypatch):
    """tf.config.list_physical_devices('GPU') mocked to list one: the GPU row, on the GPU, never bf16."""
    import tensorflow as tf

    asked = []

    def fake_list(kind=None):
        asked.append(kind)
        return [tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")] if kind == "GPU" else []

    monkeypatch.setattr(tf.config, "list_physical_devices", fake_list)
    path = tmp_path / "cpuinfo"
    path.write_text(AMX_CPUINFO)
    m = M.probe_machine(path)
    assert "GPU" in asked and m.gpus == ("/physical_device:GPU:0",) and m.machine_class == "gpu"
    choice = M.choose_fast_path(m, probe=_no_probe)
    row = M.load_table()["gpu"]
    assert choice.device == "GPU" and choice.machine_class == "gpu" and choice.precision == "float32"
    assert (choice.batch_size, choice.learning_rate, choice.epochs) == (row["batch_size"], row["learning_rate"],
                                                                         row["epochs"])
    assert "on GPU because TensorFlow sees 1 GPU" in choice.line()
    # Without the GPU, the same CPU gets its own row.
    assert M.choose_fast_path(_machine(), probe=lambda m, b: {"precision": "float32", "bf16_over_fp32": 1.0}
                              ).device == "CPU"


def _table(precision="mixed_bfloat16"):
    table = M.load_table()
    table["amx_bf16"] = {**table["amx_bf16"], "precision": precision, "batch_size": 128, "learning_rate": 3e-3,
                         "epochs": 3, "because": "this CPU has AMX-BF16"}
    return table


def test_table_decides_without_a_probe_and_the_line_says_why():
    choice = M.choose_fast_path(_machine(cores=2), _table(), probe=_no_probe)
    assert choice.values() == {"precision": "mixed_bfloat16", "batch_size": 128, "learning_rate": 3e-3,
                               "lr_schedule": "cosine", "epochs": 3, "kl_estimate": "sample", "replicas": 1,
                               "threads": 2}
    assert choice.line() == ("bf16, batch 128, cosine 0.003 over 3 epochs, 2 threads on CPU because this CPU has "
                             "AMX-BF16")


@pytest.mark.parametrize("ratio, expected", [(1.6, "mixed_bfloat16"), (1.02, "float32")])
def test_probe_settles_what_the_table_leaves_open(ratio, expected):
    calls = []

    def probe(machine, batch):
        calls.append(batch)
        return {"precision": "mixed_bfloat16" if ratio >= M.PROBE_MIN_GAIN else "float32", "bf16_over_fp32": ratio}

    choice = M.choose_fast_path(_machine(("avx512_bf16",)), _table("probe"), probe=probe)
    assert calls == [M.load_table()["avx512_bf16"]["batch_size"]]  # probed once, at the row's batch
    assert len(calls) == 1 and choice.precision == expected and f"{ratio:.2f}x" in choice.because


def test_never_bf16_without_bf16_instructions():
    table = M.load_table()
    table["none"] = {**table["none"], "precision": "probe"}
    choice = M.choose_fast_path(_machine(()), table,
                                probe=lambda m, b: {"precision": "mixed_bfloat16", "bf16_over_fp32": 2.0})
    assert choice.precision == "float32"


def test_probe_cache_is_per_machine_and_validated(tmp_path):
    m, other = _machine(), _machine(cores=64)
    assert M.read_probe_cache(m, 32, tmp_path) is None
    M.write_probe_cache(m, 32, {"precision": "mixed_bfloat16", "bf16_over_fp32": 1.7}, tmp_path)
    assert M.read_probe_cache(m, 32, tmp_path)["bf16_over_fp32"] == 1.7
    assert M.read_probe_cache(m, 64, tmp_path) is None and M.read_probe_cache(other, 32, tmp_path) is None
    M.write_probe_cache(other, 32, {"precision": "float32", "bf16_over_fp32": 1.0}, tmp_path)
    assert M.read_probe_cache(m, 32, tmp_path)["precision"] == "mixed_bfloat16"  # kept beside the other machine's
    path = tmp_path / M.PROBE_CACHE_FILE
    data = json.loads(path.read_text())
    data[f"{m.key}/b32"]["bf16_over_fp32"] = "fast"
    path.write_text(json.dumps(data))
    assert M.read_probe_cache(m, 32, tmp_path) is None  # malformed: probe again
    path.write_text("{not json")
    assert M.read_probe_cache(m, 32, tmp_path) is None


def test_cached_probe_uses_the_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    m = _machine()
    measured = []
    monkeypatch.setattr(M, "measure_bf16_gain", lambda b: measured.append(b) or
                        {"precision": "mixed_bfloat16", "bf16_over_fp32": 1.5})
    assert M.cached_probe(m, 32)["precision"] == "mixed_bfloat16" and measured == [32]
    again = M.cached_probe(m, 32)
    assert again["cached"] and measured == [32]  # the second run reads the cache
    assert (tmp_path / "cvae-explorer" / M.PROBE_CACHE_FILE).is_file()


def test_resolve_applies_the_choice_to_the_fast_preset_only():
    table, m = _table(), _machine()
    tutorial = TrainConfig.from_preset("tutorial")
    assert M.resolve_fast_config(tutorial, machine=m, table=table, probe=_no_probe) == tutorial
    fast = M.resolve_fast_config(TrainConfig.from_preset("fast"), machine=m, table=table, probe=_no_probe)
    assert (fast.precision, fast.batch_size, fast.learning_rate, fast.epochs, fast.threads) == (
        "mixed_bfloat16", 128, 3e-3, 3, 2)
    assert fast.fast_path.startswith("bf16, batch 128") and "because this CPU has AMX-BF16" in fast.fast_path
    assert M.resolve_fast_config(fast, machine=m, table=table, probe=_no_probe) == fast  # resolved once
    assert TrainConfig.from_json(fast.to_json()) == fast  # recorded in config.json


def test_resolve_keeps_what_the_user_set():
    table, m = _table(), _machine()
    # Changed in the form (differs from the preset's value) or given on the command line (fixed).
    cfg = TrainConfig.from_preset("fast", batch_size=64, precision="float32")
    out = M.resolve_fast_config(cfg, fixed={"precision"}, machine=m, table=table, probe=_no_probe)
    assert out.batch_size == 64 and out.precision == "float32" and out.epochs == 3
    assert out.fast_path.startswith("fp32, batch 64, cosine 0.003 over 3 epochs")  # what the run really uses
    assert "kept yours: batch_size, precision" in out.fast_path
    small = M.resolve_fast_config(TrainConfig.from_preset("fast", max_train_examples=100), machine=m, table=table,
                                  probe=_no_probe)
    assert small.batch_size == 100  # never more than the training images


@pytest.mark.parametrize("row_replicas,cores,replicas,threads", [(2, 2, 2, 1), (2, 8, 2, 4), (2, 1, 1, 1), (1, 4, 1, 4)])
def test_replicas_share_out_the_cores(row_replicas, cores, replicas, threads):
    """A row's replicas are at most one per core; the cores are shared out among them (threads per op each)."""
    table = _table("float32")
    table["amx_bf16"] = {**table["amx_bf16"], "replicas": row_replicas, "kl_estimate": "closed_form"}
    choice = M.choose_fast_path(_machine(cores=cores), table, probe=_no_probe)
    assert (choice.replicas, choice.threads, choice.kl_estimate) == (replicas, threads, "closed_form")
    assert "closed-form KL" in choice.line()
    assert (f"{replicas} replicas x {threads} thread" in choice.line()) == (replicas > 1)
    gpu = M.choose_fast_path(_machine(cores=cores, gpus=("/physical_device:GPU:0",)), table, probe=_no_probe)
    assert gpu.replicas == 1  # a GPU's own strategy decides


def test_a_row_with_a_bad_replicas_or_kl_estimate_is_refused(tmp_path):
    data = json.loads(M.TABLE_PATH.read_text())
    for key, bad in (("replicas", 0), ("replicas", True), ("kl_estimate", "exact")):
        broken = json.loads(json.dumps(data))
        broken["rows"]["none"][key] = bad
        path = tmp_path / "t.json"
        path.write_text(json.dumps(broken))
        with pytest.raises(ValueError, match=key):
            M.load_table(path)


def test_fast_preset_static_values_are_the_portable_row():
    """Before the machine is known (the form, a CPU without bf16) the fast preset is the table's 'none' row."""
    row = M.load_table()["none"]
    for key in ("batch_size", "learning_rate", "lr_schedule", "kl_estimate", "epochs"):
        assert PRESETS["fast"][key] == row[key], key


# ------------------------------------------------------------------------------ training (tiny subsets)


@pytest.fixture(scope="module")
def tiny(mnist_dir):
    from cvae.engine.train import prepare_data

    cfg = TrainConfig(data_dir=str(mnist_dir), max_train_examples=256, max_test_examples=200)
    return prepare_data(cfg)


def test_mixed_precision_evaluates_in_float32(tiny):
    """Under mixed_bfloat16 the test ELBO, sample grid and map are the float32 model's of the same weights."""
    from cvae.engine.trainer import Trainer, bf16_supported

    ok, why = bf16_supported()
    if not ok:
        pytest.skip(why)
    cfg = dict(max_train_examples=256, max_test_examples=200, batch_size=32, learning_rate=1e-3, epochs=1, seed=3)
    bf16 = Trainer(TrainConfig(precision="mixed_bfloat16", **cfg), tiny)
    assert bf16.run_epochs() == "done"
    fp32 = Trainer(TrainConfig(precision="float32", **cfg), tiny)
    fp32.load_state_arrays(bf16.state_arrays())  # the same float32 master weights
    assert bf16.model.decoder.get_layer("dec_deconv2").compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in bf16.model.trainable_variables)
    a, b = bf16.evaluate(), fp32.evaluate()
    # bf16 arithmetic would be off by ~0.1-1 nat; float32 by summation order only
    assert a["test_elbo"] == pytest.approx(b["test_elbo"], abs=2e-3), (a["test_elbo"], b["test_elbo"])
    assert bf16.last_row["test_elbo"] == pytest.approx(b["test_elbo"], abs=2e-3)
    np.testing.assert_allclose(bf16.sample_probs(), fp32.sample_probs(), atol=1e-5)
    np.testing.assert_allclose(bf16.map_means(100), fp32.map_means(100), atol=1e-5)


def test_epoch_row_and_progress_line_report_the_overhead(tiny):
    import io

    from cvae.engine.callbacks import ProgressBar
    from cvae.engine.trainer import Trainer

    out = io.StringIO()
    t = Trainer(TrainConfig(max_train_examples=256, max_test_examples=200, epochs=1, log_every_steps=4), tiny)
    assert t.run_epochs([ProgressBar(out)]) == "done"
    row = t.last_row
    assert 0 < row["eval_seconds"] <= row["overhead_seconds"] <= row["epoch_seconds"]
    # everything but the compiled steps: what follows them plus the per-chunk hooks inside the training time
    assert row["overhead_seconds"] >= row["epoch_seconds"] - row["train_seconds"] - 1e-3
    assert "around the steps" in out.getvalue() and "eval" in out.getvalue()


def test_fast_run_records_its_choice(tiny, tmp_path, monkeypatch, mnist_dir):
    """train_run with the fast preset writes the machine's choice (and why) into config.json; explicit fields stay."""
    from cvae.engine import train as T
    from cvae.store import runs

    table = M.load_table()
    table["amx_bf16"] = {**table["amx_bf16"], "precision": "float32", "batch_size": 64, "epochs": 1,
                         "because": "test row"}
    table["avx512_bf16"] = table["none"] = table["amx_bf16"]
    real = M.resolve_fast_config
    monkeypatch.setattr(T, "resolve_fast_config", lambda c, fixed=(): real(c, fixed, machine=_machine(),
                                                                           table=table, probe=_no_probe))
    cfg = TrainConfig.from_preset("fast", data_dir=str(mnist_dir), max_train_examples=256, max_test_examples=200,
                                  seed=5)
    assert T.train_run("fastrun", cfg, runs_dir=tmp_path, data=tiny, fixed={"seed"}) == "done"
    stored = runs.read_config(tmp_path / "fastrun")
    assert stored.batch_size == 64 and stored.epochs == 1 and stored.threads == 2 and stored.seed == 5
    assert stored.fast_path.startswith("fp32, batch 64") and "because test row" in stored.fast_path
    rows = [json.loads(x) for x in (tmp_path / "fastrun" / runs.METRICS_FILE).read_text().splitlines()]
    assert [r for r in rows if r["kind"] == "epoch"][0]["overhead_seconds"] > 0


@pytest.mark.slow
def test_short_probe_measures_both_precisions():
    from cvae.engine.trainer import bf16_supported

    if not bf16_supported()[0]:
        pytest.skip("no bf16 on this CPU")
    found = M.measure_bf16_gain(32, budget=10)
    assert found["precision"] in ("float32", "mixed_bfloat16") and found["fp32_ips"] > 0 and found["bf16_ips"] > 0
    assert found["bf16_over_fp32"] == pytest.approx(found["bf16_ips"] / found["fp32_ips"])


@pytest.mark.parametrize("lang, label", [("en", "Fast path: "), ("hi", "तेज़ पथ: ")])
def test_train_page_shows_the_fast_path_line(root, lang, label):
    """The Train page shows, for the selected run, what the fast path chose and why, in one line."""
    from tests.test_app import make_run, no_exceptions, texts
    from streamlit.testing.v1 import AppTest

    run = make_run(root, "quick")
    line = "bf16, batch 32, cosine 0.002 over 2 epochs, 2 threads on CPU because this CPU has AMX-BF16"
    cfg = TrainConfig.from_preset("fast").replace(fast_path=line)
    (run / "config.json").write_text(cfg.to_json())
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=60)
    at.query_params["run"] = "quick"
    at.query_params["lang"] = lang
    at.run().switch_page("app_pages/1_Train.py").run()
    no_exceptions(at)
    shown = [c.value for c in at.caption if line in str(c.value)]
    assert len(shown) == 1 and shown[0].startswith(label), texts(at)
