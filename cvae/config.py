"""The training configuration: one frozen, validated dataclass saved beside the weights."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass, fields
from typing import Any, Mapping

from .data import DATASETS

PRECISIONS = ("float32", "mixed_bfloat16")
LR_SCHEDULES = ("constant", "cosine")
BINARIZATIONS = ("static", "dynamic")
MAX_LATENT_DIM = 64
CONFIG_VERSION = 1

# Opt-in named settings; "tutorial" is exactly the TensorFlow tutorial. A preset only fills defaults:
# any field given explicitly wins, and the preset's name is stored in config.json.
PRESETS: dict[str, dict[str, Any]] = {
    "tutorial": {},
    # Tuned for wall time to the tutorial's 10-epoch quality (test ELBO >= -157.0, latent_dim 2), on 2 shared
    # EPYC cores (bench/time_to_quality.py, bench/RESULTS.md). On this CPU an image costs about the same at
    # batch 32 as at 128-256 (oneDNN gains <= ~1.2x per image from bigger batches), so updates per second
    # matter most: keep batch 32, raise Adam's rate 20x and anneal it (cosine to 2%) over 2 epochs.
    # Measured (seed 0, test ELBO per epoch): fp32 -159.7, -155.9; bf16 -160.2, -156.8 (so fp32: more margin,
    # and bf16 is no faster per image at batch 32 here). Rejected: batch 128 lr 2e-3 cosine 3 ep (-170.5,
    # -163.8, -162.5), batch 256 lr 3e-3 cosine 3 ep (-180.6, -173.1, -171.5), batch 64 lr 2e-3 3 ep (-166.1, -158.6,
    # -157.1), batch 32 lr 1e-3 3 ep (-161.9, -157.2, -156.0: reliable but 1.5x the time).
    "fast": {
        "batch_size": 32,
        "learning_rate": 2e-3,
        "lr_schedule": "cosine",
        "epochs": 2,
    },
}


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field and the allowed range."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool))


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; defaults are the tutorial's."""

    dataset: str = "mnist"
    data_dir: str | None = None
    latent_dim: int = 2
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-4
    lr_schedule: str = "constant"
    seed: int = 0
    max_train_examples: int | None = None
    max_test_examples: int | None = None
    num_examples_to_generate: int = 16
    binarization: str = "static"
    precision: str = "float32"
    eval_batch_size: int = 1000
    log_every_steps: int = 50
    keep_checkpoints: int = 3
    preset: str = "tutorial"
    version: int = CONFIG_VERSION

    def __post_init__(self) -> None:
        def need(cond: bool, field: str, allowed: str) -> None:
            if not cond:
                raise ConfigError(f"{field}: got {getattr(self, field)!r}; allowed: {allowed}")

        need(self.dataset in DATASETS, "dataset", " or ".join(DATASETS))
        need(self.data_dir is None or isinstance(self.data_dir, str), "data_dir", "a directory path or null")
        need(_is_int(self.latent_dim) and 1 <= self.latent_dim <= MAX_LATENT_DIM,
             "latent_dim", f"an integer from 1 to {MAX_LATENT_DIM}")
        need(_is_int(self.epochs) and 1 <= self.epochs <= 10_000, "epochs", "an integer from 1 to 10000")
        need(_is_int(self.batch_size) and 1 <= self.batch_size <= 60_000,
             "batch_size", "an integer from 1 to 60000 (and at most the number of training examples)")
        need(_is_number(self.learning_rate) and math.isfinite(self.learning_rate)
             and 0 < self.learning_rate <= 1, "learning_rate", "a number > 0 and <= 1")
        need(self.lr_schedule in LR_SCHEDULES, "lr_schedule", " or ".join(LR_SCHEDULES))
        need(_is_int(self.seed) and 0 <= self.seed < 2**31, "seed", "an integer from 0 to 2**31-1")
        need(self.max_train_examples is None
             or (_is_int(self.max_train_examples) and 1 <= self.max_train_examples <= 60_000),
             "max_train_examples", "null (all) or an integer from 1 to 60000")
        need(self.max_test_examples is None
             or (_is_int(self.max_test_examples) and 16 <= self.max_test_examples <= 10_000),
             "max_test_examples", "null (all 10000) or an integer from 16 to 10000")
        if self.max_train_examples is not None and self.batch_size > self.max_train_examples:
            raise ConfigError(f"batch_size: got {self.batch_size}; allowed: at most max_train_examples "
                              f"({self.max_train_examples})")
        n = self.num_examples_to_generate
        need(_is_int(n) and 1 <= n <= 64 and math.isqrt(n) ** 2 == n,
             "num_examples_to_generate", "a perfect square from 1 to 64 (the sample grid is square)")
        need(self.binarization in BINARIZATIONS, "binarization", " or ".join(BINARIZATIONS))
        need(self.precision in PRECISIONS, "precision", " or ".join(PRECISIONS))
        need(_is_int(self.eval_batch_size) and 1 <= self.eval_batch_size <= 10_000,
             "eval_batch_size", "an integer from 1 to 10000")
        need(_is_int(self.log_every_steps) and 1 <= self.log_every_steps <= 100_000,
             "log_every_steps", "an integer from 1 to 100000")
        need(_is_int(self.keep_checkpoints) and 1 <= self.keep_checkpoints <= 100,
             "keep_checkpoints", "an integer from 1 to 100")
        need(self.preset in PRESETS or self.preset == "custom", "preset",
             " or ".join([*PRESETS, "custom"]))
        need(self.version == CONFIG_VERSION, "version", str(CONFIG_VERSION))

    @classmethod
    def from_preset(cls, preset: str = "tutorial", **overrides: Any) -> "TrainConfig":
        """The preset's values, then any explicit overrides (None means 'not given')."""
        if preset not in PRESETS:
            raise ConfigError(f"preset: got {preset!r}; allowed: {' or '.join(PRESETS)}")
        values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
        return cls.from_dict({**values, "preset": preset})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """Build from a mapping, refusing unknown fields and wrong types with a clear message."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"config: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"config: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = dict(data)
        # JSON has one number type: accept 1 for a float field, never 1.5 for an int field.
        if _is_int(values.get("learning_rate")):
            values["learning_rate"] = float(values["learning_rate"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Pretty JSON for config.json."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        """Parse config.json text; errors say what is wrong."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"config: not valid JSON ({e.msg} at line {e.lineno})") from None
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)


RUN_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def validate_run_name(name: Any) -> str:
    """Return name if it is a safe run name (letters, digits, - _ . ; no '..'; never a path)."""
    if not isinstance(name, str) or not name:
        raise ConfigError("run name: must not be empty; allowed: 1-100 letters, digits, '-', '_', '.'")
    # fullmatch: with match, '$' also matches before a trailing newline ('abc\n' was accepted).
    if (not RUN_NAME_RE.fullmatch(name) or ".." in name or name.startswith(".")
            or os.sep in name or (os.altsep and os.altsep in name)):
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise ConfigError(f"run name: got {shown!r}; allowed: 1-100 letters, digits, '-', '_', '.', "
                          "not starting with '.' and without '..'")
    return name
