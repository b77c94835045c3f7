"""Tests for cvae.store.config: tutorial defaults, validation messages, JSON round trips, presets, run names."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cvae.store.config import CONFIG_VERSION, PRESETS, TrainConfig, validate_run_name
from cvae.store.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_the_tutorials():
    c = TrainConfig()
    # The TensorFlow CVAE tutorial: latent_dim = 2, epochs = 10, batch_size = 32, Adam(1e-4), 16 examples.
    assert (c.latent_dim, c.epochs, c.batch_size, c.learning_rate) == (2, 10, 32, 1e-4)
    assert c.num_examples_to_generate == 16
    assert c.dataset == "mnist" and c.binarization == "static" and c.precision == "float32"
    assert c.lr_schedule == "constant" and c.preset == "tutorial" and c.version == CONFIG_VERSION
    assert c.max_train_examples is None and c.max_test_examples is None


# (field, bad value, words the message must contain besides the field name)
INVALID = [
    ("epochs", 0, ["1 to 10000"]),
    ("epochs", -1, ["1 to 10000"]),
    ("epochs", "10", ["integer"]),
    ("epochs", 2.5, ["integer"]),
    ("epochs", True, ["integer"]),
    ("batch_size", 0, ["1 to 60000"]),
    ("batch_size", False, ["integer"]),
    ("learning_rate", 0, ["> 0", "<= 1"]),
    ("learning_rate", -1.0, ["> 0"]),
    ("learning_rate", math.nan, ["> 0"]),
    ("learning_rate", math.inf, ["> 0"]),
    ("learning_rate", "abc", ["> 0"]),
    ("learning_rate", 2.0, ["<= 1"]),
    ("latent_dim", 0, ["1 to 64"]),
    ("latent_dim", 65, ["1 to 64"]),
    ("latent_dim", True, ["1 to 64"]),
    ("dataset", "cifar100", ["mnist", "fashion_mnist"]),
    ("precision", "float16", ["float32", "mixed_bfloat16"]),
    ("binarization", "soft", ["static", "dynamic"]),
    ("lr_schedule", "step", ["constant", "cosine", "linear", "linear_restarts"]),
    ("num_examples_to_generate", 15, ["perfect square"]),
    ("num_examples_to_generate", 0, ["perfect square"]),
    ("num_examples_to_generate", 81, ["perfect square", "64"]),
    ("seed", -1, ["2**31"]),
    ("max_train_examples", 0, ["60000"]),
    ("max_test_examples", 8, ["16 to 10000"]),
    ("eval_batch_size", 0, ["1 to 10000"]),
    ("log_every_steps", 0, ["1 to 100000"]),
    ("keep_checkpoints", 0, ["1 to 100"]),
    ("preset", "turbo", ["tutorial", "fast"]),
    ("version", 99, [str(CONFIG_VERSION)]),
    ("data_dir", 5, ["path"]),
]


@pytest.mark.parametrize("field,value,words", INVALID, ids=[f"{f}={v!r}" for f, v, _ in INVALID])
def test_every_invalid_value_names_field_and_allowed_range(field, value, words):
    with pytest.raises(ConfigError) as e:
        TrainConfig(**{field: value})
    msg = str(e.value)
    assert msg.startswith(f"{field}:"), msg
    assert "allowed" in msg and repr(value) in msg, msg
    for w in words:
        assert w in msg, (w, msg)
    # The same value arriving from config.json is refused the same way.
    with pytest.raises(ConfigError, match=f"^{field}:"):
        TrainConfig.from_dict({field: value})


def test_batch_size_larger_than_max_train_examples():
    with pytest.raises(ConfigError, match=r"^batch_size: got 64; allowed: at most max_train_examples \(32\)"):
        TrainConfig(batch_size=64, max_train_examples=32)
    assert TrainConfig(batch_size=32, max_train_examples=32).batch_size == 32


def test_valid_edges_accepted():
    c = TrainConfig(latent_dim=64, epochs=1, batch_size=1, learning_rate=1, num_examples_to_generate=64,
                    max_train_examples=1, max_test_examples=16, precision="mixed_bfloat16")
    assert c.learning_rate == 1 and c.latent_dim == 64
    assert TrainConfig(latent_dim=1, num_examples_to_generate=1).latent_dim == 1


def test_unknown_field_is_named():
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict({"epochs": 3, "learning_rat": 0.1})
    assert "learning_rat" in str(e.value) and "unknown" in str(e.value)
    assert "learning_rate" in str(e.value)  # the known fields are listed as the allowed ones


def test_from_dict_refuses_non_objects():
    for bad in ([1, 2], "epochs", 3, None):
        with pytest.raises(ConfigError, match="JSON object"):
            TrainConfig.from_dict(bad)


def test_integer_learning_rate_from_json_becomes_float_but_float_epochs_refused():
    c = TrainConfig.from_json('{"learning_rate": 1}')
    assert c.learning_rate == 1.0 and isinstance(c.learning_rate, float)
    with pytest.raises(ConfigError, match="^epochs:"):
        TrainConfig.from_json('{"epochs": 3.0}')


def test_from_json_garbage():
    with pytest.raises(ConfigError, match="not valid JSON"):
        TrainConfig.from_json("{epochs: 3")


def test_json_round_trip():
    c = TrainConfig(latent_dim=8, epochs=3, batch_size=16, learning_rate=3e-4, lr_schedule="cosine", seed=7,
                    max_train_examples=500, max_test_examples=100, num_examples_to_generate=9,
                    binarization="dynamic", data_dir="/tmp/x", log_every_steps=5, keep_checkpoints=2)
    text = c.to_json()
    assert json.loads(text) == c.to_dict()
    assert TrainConfig.from_json(text) == c
    assert TrainConfig.from_dict(c.to_dict()) == c
    assert TrainConfig.from_json(TrainConfig().to_json()) == TrainConfig()


def test_replace_validates():
    c = TrainConfig()
    assert c.replace(epochs=3).epochs == 3
    with pytest.raises(ConfigError, match="^epochs:"):
        c.replace(epochs=0)


def test_preset_fast_values_and_explicit_override_wins():
    preset = PRESETS["fast"]
    assert preset and set(preset) <= {f for f in TrainConfig().to_dict()}  # only real fields
    fast = TrainConfig.from_preset("fast")
    assert fast.preset == "fast"
    tutorial = TrainConfig().to_dict()
    for k, v in fast.to_dict().items():
        if k == "preset":
            continue
        # The preset's values where it sets one, the tutorial's defaults everywhere else.
        assert v == preset.get(k, tutorial[k]), k
    assert any(preset[k] != tutorial[k] for k in preset)  # it is not the tutorial under another name
    # Explicit values win over the preset's; None means "not given".
    over = TrainConfig.from_preset("fast", epochs=7, learning_rate=5e-4, latent_dim=3, batch_size=None)
    assert (over.epochs, over.learning_rate, over.latent_dim) == (7, 5e-4, 3)
    assert over.batch_size == preset.get("batch_size", tutorial["batch_size"])
    assert over.lr_schedule == preset.get("lr_schedule", tutorial["lr_schedule"]) and over.preset == "fast"
    assert TrainConfig.from_preset("tutorial") == TrainConfig()
    with pytest.raises(ConfigError, match="^preset:"):
        TrainConfig.from_preset("turbo")
    with pytest.raises(ConfigError, match="^epochs:"):
        TrainConfig.from_preset("fast", epochs=0)  # overrides are validated too


def test_preset_round_trips_through_config_json(tmp_path):
    c = TrainConfig.from_preset("fast", max_train_examples=1000, latent_dim=4)
    path = tmp_path / "config.json"
    path.write_text(c.to_json())
    back = TrainConfig.from_json(path.read_text())
    assert back == c and back.preset == "fast" and back.latent_dim == 4 and back.max_train_examples == 1000
    assert json.loads(path.read_text())["preset"] == "fast"


@pytest.mark.parametrize("name", ["a-b_c.1", "x", "Run_2024-01-01", "a" * 100, "v1.2.3"])
def test_run_name_accepted(name):
    assert validate_run_name(name) == name


@pytest.mark.parametrize("name", ["", "../x", "a/b", "/abs", "a b", "..", ".hidden", "a" * 300, "a..b",
                                  "x\\y", "tab\t", "new\nline", "abc\n", "é", None, 5])
def test_run_name_refused(name):
    with pytest.raises(ConfigError, match="run name"):
        validate_run_name(name)


# ---------------------------------------------------------------------------------------------- one source per field


def _non_default_value(name: str):
    """A valid value for field `name` that differs from the tutorial default."""
    from cvae.store.config import FIELD_SPECS

    spec = FIELD_SPECS[name]
    default = getattr(TrainConfig(), name)
    if spec.choices:
        return next(c for c in spec.choices if c != default)
    if name == "data_dir":
        return str(REPO_ROOT)
    if name == "num_examples_to_generate":
        return 9
    if name in ("max_train_examples", "max_test_examples"):
        return 640
    if name in ("image_size", "channels"):  # MNIST's own (other values are for your own data)
        return {"image_size": 28, "channels": 1}[name]
    if name == "beta":
        return 2.5  # on the form slider's grid
    if spec.kind is float:
        return 3e-4
    return int(spec.low) + 1 if default != int(spec.low) + 1 else int(spec.low) + 2


def test_every_field_round_trips_form_to_argv_to_config():
    """For each settable field: a non-default value set in the Train form's widgets becomes the same config, the
    launcher's argv for it parses back (through the generated CLI) into that very config."""
    from cvae.cli import _config_from_args, build_parser
    from cvae.explorer.jobs import launcher
    from cvae.explorer.ui import train_form
    from cvae.store.config import settable_fields

    base = TrainConfig(max_train_examples=600)
    for name in settable_fields():
        value = _non_default_value(name)
        widgets = train_form.widget_values(base)
        widgets[name] = train_form.widget_values(base.replace(**{name: value}))[name]
        config, errors = train_form.build_config("tutorial", widgets)
        assert errors == {} and getattr(config, name) == value, (name, errors)
        argv = launcher.train_argv("rt", config, REPO_ROOT / "checkpoints")
        assert any(a.startswith(f"--{name.replace('_', '-')}=") for a in argv), (name, argv)
        assert _config_from_args(build_parser().parse_args(argv[3:])) == config, name


def test_each_field_declares_its_help_flag_and_range_once():
    from cvae.cli import build_parser
    from cvae.store.config import FIELD_SPECS, flag_of, settable_fields

    train = next(a for a in build_parser()._subparsers._group_actions).choices["train"]  # noqa: SLF001
    flags = {o for a in train._actions for o in a.option_strings}  # noqa: SLF001
    for name in settable_fields():
        spec = FIELD_SPECS[name]
        assert spec.help and spec.label and spec.allowed, name
        assert flag_of(name) in flags, name
    assert set(FIELD_SPECS) == {f.name for f in __import__("dataclasses").fields(TrainConfig)}


def test_form_reports_every_bad_field_at_once():
    from cvae.explorer.ui import train_form

    widgets = train_form.widget_values(TrainConfig())
    widgets.update(latent_dim=0, learning_rate="fast", epochs=10_001, data_dir="/no/such/dir")
    config, errors = train_form.build_config("tutorial", widgets)
    assert config is None and set(errors) == {"latent_dim", "learning_rate", "epochs", "data_dir"}
    assert "an integer from 1 to 64" in errors["latent_dim"]
    widgets = train_form.widget_values(TrainConfig())
    widgets.update(max_train_examples=16, batch_size=32)  # each fine alone, wrong together
    config, errors = train_form.build_config("tutorial", widgets)
    assert config is None and list(errors) == ["batch_size"]


def test_config_errors_carry_the_field():
    from cvae.store.errors import ConfigError

    for bad, field in [({"latent_dim": 0}, "latent_dim"), ({"learning_rate": float("nan")}, "learning_rate"),
                       ({"num_examples_to_generate": 10}, "num_examples_to_generate"), ({"bogus": 1}, "config")]:
        with pytest.raises(ConfigError) as e:
            TrainConfig.from_dict(bad)
        assert e.value.field == field and str(e.value).startswith(f"{field}:")
    with pytest.raises(ConfigError) as e:
        validate_run_name("-h")
    assert e.value.field == "name" and "not starting with '-'" in str(e.value)
