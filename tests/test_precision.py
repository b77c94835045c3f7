"""Mixed bfloat16 training and the named presets (issue 4)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cvae.store.config import PRECISIONS, PRESETS, TrainConfig
from cvae.engine.trainer import Trainer, bf16_supported
from cvae.engine.train import prepare_data, train_run
from cvae.store.errors import TrainingError


# ------------------------------------------------------------------------------------------ presets


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_validates_and_round_trips_through_config_json(name, tmp_path):
    cfg = TrainConfig.from_preset(name)
    assert cfg.preset == name
    for key, value in PRESETS[name].items():
        assert getattr(cfg, key) == value
    path = tmp_path / "config.json"
    path.write_text(cfg.to_json())
    again = TrainConfig.from_json(path.read_text())
    assert again == cfg
    assert json.loads(path.read_text())["preset"] == name


def test_tutorial_preset_is_the_default():
    assert TrainConfig.from_preset("tutorial") == TrainConfig()
    assert TrainConfig().batch_size == 32 and TrainConfig().learning_rate == 1e-4
    assert TrainConfig().precision == "float32" and TrainConfig().lr_schedule == "constant"


def test_fast_preset_uses_only_known_values():
    cfg = TrainConfig.from_preset("fast")
    assert cfg.precision in PRECISIONS
    assert cfg.epochs < TrainConfig().epochs  # fewer epochs to the tutorial's quality is the point
    assert cfg.learning_rate > TrainConfig().learning_rate


def test_explicit_value_wins_over_preset():
    cfg = TrainConfig.from_preset("fast", precision="float32", epochs=1)
    assert cfg.precision == "float32" and cfg.epochs == 1 and cfg.preset == "fast"


# ------------------------------------------------------------------------------------------ bf16


def _config(mnist_dir, precision, epochs):
    return TrainConfig(data_dir=str(mnist_dir), precision=precision, max_train_examples=2000,
                       max_test_examples=1000, epochs=epochs, batch_size=32, learning_rate=1e-3, seed=7)


class _KeepLosses:
    def __init__(self):
        self.losses = []

    def on_train_begin(self, trainer): ...
    def on_steps(self, trainer, epoch, step, losses): self.losses.extend(np.asarray(losses).tolist())
    def on_epoch_end(self, trainer, row): ...
    def on_train_end(self, trainer, state, message): ...


@pytest.mark.slow
def test_bf16_training_is_finite_and_close_to_fp32(mnist_dir):
    """One fp32 epoch on 2,000 digits, then one more epoch from that same state in fp32 and in bf16.

    Starting both from one state (weights, Adam slots, RNG, so the same batches and the same eps) keeps
    the comparison about precision: from scratch the ELBO is still falling tens of nats per epoch and
    two float32 runs differing only in summation order already drift apart by about a nat.
    """
    ok, why = bf16_supported()
    if not ok:
        pytest.skip(why)
    data = prepare_data(_config(mnist_dir, "float32", 1))
    warm = Trainer(_config(mnist_dir, "float32", 1), data)
    warm.run_epochs()
    state = warm.state_arrays()
    start_elbo = warm.evaluate()["test_elbo"]

    def one_more_epoch(precision):
        trainer = Trainer(_config(mnist_dir, precision, 2), data)
        trainer.load_state_arrays(state)
        keep = _KeepLosses()
        assert trainer.run_epochs([keep]) == "done"
        return trainer, np.array(keep.losses)

    fp32, fp32_losses = one_more_epoch("float32")
    bf16, bf16_losses = one_more_epoch("mixed_bfloat16")
    assert len(bf16_losses) == len(fp32_losses) == 63 and np.all(np.isfinite(bf16_losses))
    # The layers really compute in bfloat16; variables, logits, losses and ELBO terms stay float32.
    assert bf16.model.encoder.get_layer("enc_conv1").compute_dtype == "bfloat16"
    assert bf16.model.decoder.get_layer("dec_deconv2").compute_dtype == "bfloat16"
    assert bf16.model.decoder.get_layer("dec_logits").compute_dtype == "float32"
    assert all(v.dtype == "float32" for v in bf16.model.trainable_variables)
    row_fp32, row_bf16 = fp32.last_row, bf16.last_row
    for key in ("test_elbo", "test_logpx_z", "test_kl"):
        assert np.isfinite(row_bf16[key])
    print(f"start {start_elbo:.3f}  fp32 {row_fp32['test_elbo']:.3f}  bf16 {row_bf16['test_elbo']:.3f}")
    # Meaningful: the epoch itself moves the ELBO by more than the tolerance.
    assert row_fp32["test_elbo"] - start_elbo > 2.0, (start_elbo, row_fp32)
    assert abs(row_bf16["test_elbo"] - row_fp32["test_elbo"]) < 1.0, (row_bf16, row_fp32)
    assert abs(float(np.mean(bf16_losses)) - float(np.mean(fp32_losses))) < 1.0


def test_bf16_refused_clearly_without_cpu_support(tmp_path, monkeypatch):
    from cvae.engine import train

    monkeypatch.setattr(train, "bf16_supported", lambda: (False, "this CPU has neither AVX512-BF16 nor AMX"))
    cfg = TrainConfig(precision="mixed_bfloat16", max_train_examples=64, max_test_examples=16)
    with pytest.raises(TrainingError, match="mixed_bfloat16.*float32"):
        train_run("bf16", cfg, runs_dir=tmp_path)
