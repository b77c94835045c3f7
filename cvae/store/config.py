"""The training configuration: one frozen dataclass; each field declares its help, range and flag once.

The CLI's `train` flags, the launcher's argv and the Train page's form are all generated from FIELD_SPECS, so a
new field is one `_field(...)` line here plus its use.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass, fields
from typing import Any, Mapping

from ..data.datasets import DATASETS as DATASET_SPECS, DEFAULT_DATASET, OWN_DEFAULT_SIZE, OWN_MAX_SIZE
from ..data.likelihoods import DEFAULT_LIKELIHOOD, LIKELIHOODS as LIKELIHOOD_SPECS, likelihood as likelihood_entry
from .errors import ConfigError

# Choices, help texts and bounds of `dataset` and `likelihood` come from their registries (cvae/data).
DATASETS = tuple(DATASET_SPECS)
LIKELIHOODS = tuple(LIKELIHOOD_SPECS)
MAX_TRAIN_IMAGES = max(spec.train_images for spec in DATASET_SPECS.values())
MAX_CLASS_NAMES, MAX_CLASS_NAME = 256, 100  # your own data's classes (labels are uint8), characters per name


def _or_list(items: list[str]) -> str:
    """'a', 'a or b', 'a, b, or c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])}{',' if len(items) > 2 else ''} or {items[-1]}"


DATASET_HELP = "The images to learn: " + _or_list([s.title for s in DATASET_SPECS.values()]) + "."
LIKELIHOOD_HELP = "p(x|z): " + ", or ".join(lik.help for lik in LIKELIHOOD_SPECS.values()) + "."
TRAIN_IMAGES_HELP = ("Blank = the whole training set (" + "; ".join(
    f"{s.name}: {s.train_images:,}" for s in DATASET_SPECS.values() if not s.own) + "; your own data: all "
    "its training images). Fewer = a quicker, worse model.")
PRECISIONS = ("float32", "mixed_bfloat16")
LR_SCHEDULES = ("constant", "cosine", "linear", "linear_restarts")
RESTART_FACTOR = 0.25  # linear_restarts: each epoch starts at this fraction of the one before
KL_ESTIMATES = ("sample", "closed_form")
BINARIZATIONS = ("static", "dynamic")
MAX_LATENT_DIM = 64
MAX_FILTERS = 512  # the tutorial's "bigger network" suggestion: 512 filters in every conv layer
CONFIG_VERSION = 1
UNLABELLED = "all images"  # the one "class" of your own data without labels

# Opt-in named settings; "tutorial" is exactly the TensorFlow tutorial. A preset only fills defaults: any field
# given explicitly wins, and the preset's name is stored in config.json. How "fast" was chosen: bench/RESULTS.md
# ("Choosing the fast preset"). "fast" here is the portable choice (any CPU); on the training machine the trainer
# replaces what the user left at these values with its measured table's row (cvae/engine/machine.py, issue #25).
PRESETS: dict[str, dict[str, Any]] = {
    "tutorial": {},
    "fast": {"batch_size": 8, "learning_rate": 3e-3, "lr_schedule": "linear_restarts", "kl_estimate": "closed_form",
             "epochs": 2},
}


@dataclass(frozen=True)
class FieldSpec:
    """How one config field is described, bounded and set: help, type, choices or range, CLI flag, form label."""

    help: str
    label: str
    kind: type = int
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    optional: bool = False  # None is allowed and means "all" / "not set"
    allowed_text: str = ""  # overrides the generated "allowed" text
    more: bool = False  # the form shows it under "More settings"
    settable: bool = True  # has a CLI flag and a form widget (preset and version do not)
    slider_step: float = 0.0  # > 0: the form shows a slider from slider_step to high in these steps

    @property
    def allowed(self) -> str:
        """What values are allowed, in words (used in every error message)."""
        if self.allowed_text:
            return self.allowed_text
        if self.choices:
            return " or ".join(self.choices)
        if self.kind is int:
            text = f"an integer from {self.low:g} to {self.high:g}"
        elif self.kind is float:
            text = f"a number > {self.low:g} and <= {self.high:g}"
        else:
            text = "a directory path"
        return f"null or {text}" if self.optional else text

    def accepts(self, value: Any) -> bool:
        """Whether `value` is of this field's type and inside its range or choices."""
        if value is None:
            return self.optional
        if self.choices:
            return isinstance(value, str) and value in self.choices
        if self.kind is int:
            return _is_int(value) and self.low <= value <= self.high
        if self.kind is float:
            return (_is_number(value) and math.isfinite(value) and self.low < value <= self.high)
        if self.kind is tuple:  # a tuple of short texts (your own data's class names)
            return isinstance(value, tuple) and len(value) <= MAX_CLASS_NAMES and all(
                isinstance(v, str) and 0 < len(v) <= MAX_CLASS_NAME for v in value)
        return isinstance(value, str)


def _field(default: Any, help: str, label: str, **spec: Any) -> Any:
    return dataclasses.field(default=default, metadata={"spec": FieldSpec(help=help, label=label, **spec)})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; defaults are the tutorial's."""

    dataset: str = _field(DEFAULT_DATASET, DATASET_HELP, "Dataset", kind=str, choices=DATASETS)
    data_dir: str | None = _field(
        None, "A folder with the four IDX files (or mnist.npz; CIFAR-10: its six .bin files). Blank: $CVAE_DATA_DIR, the "
        "Keras cache, Debian's package; with none of them, the Train page offers the download. Your own data: the "
        "folder of images, or the .npz file.", "Data directory", kind=str, optional=True,
        allowed_text="a directory path or null", more=True)
    # Your own data (#22): the side S and the channels the images are resized to (known datasets: their own).
    image_size: int | None = _field(
        None, "Your own images are resized to S x S (aspect kept, centre-cropped). Blank: 28 for grey, 32 for "
        "colour.", "Image size", low=4, high=OWN_MAX_SIZE, optional=True, more=True,
        allowed_text=f"null (28 grey, 32 colour) or a multiple of 4 from 4 to {OWN_MAX_SIZE}")
    channels: int | None = _field(None, "Your own images as 1 (grey) or 3 (colour) channels. Blank: grey.",
                                  "Channels", low=1, high=3, optional=True, more=True,
                                  allowed_text="null (grey) or 1 (grey) or 3 (colour)")
    # Recorded by the trainer when it loads your own data: resume and the pages read them (null otherwise).
    class_names: tuple[str, ...] = _field((), "Your own data's class names, in label order (() = unlabelled).",
                                          "Class names", kind=tuple, settable=False,
                                          allowed_text=f"a list of up to {MAX_CLASS_NAMES} names")
    data_source: str | None = _field(None, "Where your own data came from, in words.", "Data source", kind=str,
                                     optional=True, allowed_text="null or a text", settable=False)
    data_fingerprint: str | None = _field(None, "SHA-256 fingerprint of your own data (files, sizes, times).",
                                          "Data fingerprint", kind=str, optional=True,
                                          allowed_text="null or a text", settable=False)
    data_train_images: int | None = _field(None, "How many training images your own data held.",
                                           "Training images found", low=1, high=2**31 - 1, optional=True,
                                           allowed_text="null or a count", settable=False)
    data_test_images: int | None = _field(None, "How many test images your own data held.", "Test images found",
                                          low=1, high=2**31 - 1, optional=True, allowed_text="null or a count",
                                          settable=False)
    latent_dim: int = _field(2, "Size of the code z. 2 lets you see the whole latent space as a plane.",
                             "Latent dimensions", low=1, high=MAX_LATENT_DIM)
    filters1: int = _field(32, "Filters of the first encoder conv and the last hidden decoder deconv (tutorial: 32; "
                           "wider = slower).", "Filters, layer 1", low=1, high=MAX_FILTERS, more=True)
    filters2: int = _field(64, "Filters of the second encoder conv and the first decoder deconv (tutorial: 64; "
                           "the tutorial suggests up to 512).", "Filters, layer 2", low=1, high=MAX_FILTERS, more=True)
    epochs: int = _field(10, "Passes over the training images.", "Epochs", low=1, high=10_000)
    batch_size: int = _field(32, "Images per gradient step.", "Batch size", low=1, high=MAX_TRAIN_IMAGES,
                             allowed_text=f"an integer from 1 to {MAX_TRAIN_IMAGES} (and at most the number of "
                                          "training examples)")
    learning_rate: float = _field(1e-4, "Adam's step size, e.g. 1e-4.", "Learning rate", kind=float, low=0, high=1)
    beta: float = _field(1.0, "Weight of the KL term in the training objective E[log p(x|z)] - beta*KL "
                         "(Higgins et al. 2017); 1 = the ELBO (the tutorial). Test figures always report the ELBO.",
                         "beta (KL weight)", kind=float, low=0, high=20, slider_step=0.1)
    lr_schedule: str = _field("constant", "constant; cosine decay to 2% of the rate over the run; linear decay to 0 "
                              "over the run; or linear_restarts: linear decay to 0 within every epoch, each epoch "
                              "starting at a quarter of the rate of the one before (a good model after epoch 1, a "
                              "better one after 2).",
                              "Learning-rate schedule", kind=str, choices=LR_SCHEDULES)
    kl_estimate: str = _field("sample", "How training estimates KL(q(z|x) || p(z)): sample = log q(z|x) - log p(z) at "
                              "the one sampled z (the tutorial); closed_form = its exact value for two Gaussians (the "
                              "same objective with less gradient noise). Test figures always use the tutorial's.",
                              "KL estimate (training)", kind=str, choices=KL_ESTIMATES, more=True)
    seed: int = _field(0, "Fixes the initial weights, data order and noise: same seed, same run.", "Random seed",
                       low=0, high=2**31 - 1, allowed_text="an integer from 0 to 2**31-1", more=True)
    max_train_examples: int | None = _field(
        None, TRAIN_IMAGES_HELP, "Training images", low=1, high=MAX_TRAIN_IMAGES,
        optional=True, allowed_text=f"null (all) or an integer from 1 to {MAX_TRAIN_IMAGES}", more=True)
    max_test_examples: int | None = _field(
        None, "Blank = all 10,000 (at least 16).", "Test images", low=16, high=10_000, optional=True,
        allowed_text="null (all 10000) or an integer from 16 to 10000", more=True)
    num_examples_to_generate: int = _field(
        16, "Size of the fixed sample grid saved every epoch (a square number).", "Sample grid size", low=1,
        high=64, allowed_text="a perfect square from 1 to 64 (the sample grid is square)", more=True)
    binarization: str = _field("static", "static: threshold pixels at 0.5 once (the tutorial). dynamic: sample "
                               "pixels afresh every epoch.", "Binarization", kind=str, choices=BINARIZATIONS,
                               more=True)
    likelihood: str = _field(DEFAULT_LIKELIHOOD, LIKELIHOOD_HELP, "Likelihood", kind=str,
                             choices=LIKELIHOODS, more=True)
    precision: str = _field("float32", "float32, or mixed_bfloat16 on CPUs that support it.", "Precision",
                            kind=str, choices=PRECISIONS, more=True)
    eval_batch_size: int = _field(1000, "Batch size of the test-set evaluation.", "Evaluation batch size", low=1,
                                  high=10_000, more=True)
    log_every_steps: int = _field(50, "How often the training loss is logged (steps per compiled chunk).",
                                  "Log every … steps", low=1, high=100_000, more=True)
    keep_checkpoints: int = _field(3, "How many of the newest checkpoints to keep for resuming.",
                                   "Checkpoints kept", low=1, high=100, more=True)
    threads: int | None = _field(None, "TensorFlow's threads per operation. Blank: TensorFlow's default (one per "
                                 "core); the fast preset sets it for the machine.", "Threads", low=1, high=1024,
                                 optional=True, allowed_text="null (TensorFlow's default) or an integer from 1 to 1024",
                                 more=True)
    replicas: int = _field(1, "Copies of the model that train side by side on the CPU cores, each on its share of "
                           "every batch (their gradients are summed: the same step as one copy). The fast preset "
                           "sets it from the machine's measured table (at most one per core).", "Replicas (CPU)", low=1, high=64, more=True)
    # Issue #25: what the fast preset chose on the training machine and why (cvae/engine/machine.py); null otherwise.
    fast_path: str | None = _field(None, "The fast preset's choice for the machine that trained the run, and why.",
                                   "Fast path", kind=str, optional=True, allowed_text="null or a text",
                                   settable=False)
    preset: str = _field("tutorial", "Named settings the run started from.", "Preset", kind=str,
                         choices=(*PRESETS, "custom"), settable=False)
    version: int = _field(CONFIG_VERSION, "config.json format version.", "Version", low=CONFIG_VERSION,
                          high=CONFIG_VERSION, allowed_text=str(CONFIG_VERSION), settable=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            spec: FieldSpec = f.metadata["spec"]
            value = getattr(self, f.name)
            if not spec.accepts(value):
                raise ConfigError(f.name, value, spec.allowed)
        self._check_own_data()
        if self.max_train_examples is not None and self.batch_size > self.max_train_examples:
            raise ConfigError("batch_size", self.batch_size,
                              f"at most max_train_examples ({self.max_train_examples})",
                              message=f"batch_size: got {self.batch_size}; allowed: at most max_train_examples "
                                      f"({self.max_train_examples})")
        if not likelihood_entry(self.likelihood).binary_input and self.binarization == "dynamic":
            raise ConfigError("binarization", self.binarization, f"static with likelihood {self.likelihood}",
                              message=f"binarization: got dynamic; allowed: static with likelihood "
                                      f"{self.likelihood} (it models the 8-bit values, nothing is binarized)")
        if math.isqrt(self.num_examples_to_generate) ** 2 != self.num_examples_to_generate:
            spec = FIELD_SPECS["num_examples_to_generate"]
            raise ConfigError("num_examples_to_generate", self.num_examples_to_generate, spec.allowed)

    def _check_own_data(self) -> None:
        """image_size and channels: free for your own data (a multiple of 4; 1 or 3), else the dataset's own."""
        spec = DATASET_SPECS[self.dataset]
        if self.channels == 2:
            raise ConfigError("channels", 2, FIELD_SPECS["channels"].allowed)
        if self.image_size is not None and self.image_size % 4:
            raise ConfigError("image_size", self.image_size, FIELD_SPECS["image_size"].allowed)
        if spec.own:
            if self.data_dir is None:
                raise ConfigError("data_dir", None, spec.data_hint,
                                  message=f"data_dir: dataset {self.dataset} needs --data-dir: {spec.data_hint}")
            return
        for name, own in (("image_size", spec.size), ("channels", spec.channels)):
            if getattr(self, name) not in (None, own):
                raise ConfigError(name, getattr(self, name), f"null or {own} (dataset {self.dataset})")

    @property
    def image_side(self) -> int:
        """The image side S the model sees: the config's image_size, else the default for the channels."""
        spec = DATASET_SPECS[self.dataset]
        if not spec.own:
            return spec.size
        return self.image_size or OWN_DEFAULT_SIZE[self.image_channels]

    @property
    def image_channels(self) -> int:
        """1 (grey) or 3 (colour): the config's channels for your own data, else the dataset's."""
        spec = DATASET_SPECS[self.dataset]
        return (self.channels or spec.channels) if spec.own else spec.channels

    @property
    def labels(self) -> tuple[str, ...]:
        """The class names of the run's data: the dataset's, your own data's recorded ones, or (UNLABELLED,)."""
        spec = DATASET_SPECS[self.dataset]
        names = self.class_names if spec.own else spec.class_names
        return names or (UNLABELLED,)

    @classmethod
    def from_preset(cls, preset: str = "tutorial", **overrides: Any) -> "TrainConfig":
        """The preset's values, then any explicit overrides (None means 'not given'); a dataset given without a
        likelihood gets its registry's default likelihood."""
        if preset not in PRESETS:
            raise ConfigError("preset", preset, " or ".join(PRESETS))
        values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
        if values.get("dataset") in DATASET_SPECS and values.get("likelihood") is None:
            spec = DATASET_SPECS[values["dataset"]]
            colour = spec.own and values.get("channels") == 3  # your own colour images: 8-bit values, not 0/1
            values["likelihood"] = spec.colour_likelihood if colour else spec.default_likelihood
        return cls.from_dict({**values, "preset": preset})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """Build from a mapping, refusing unknown fields and wrong types with a clear message."""
        if not isinstance(data, Mapping):
            raise ConfigError("config", type(data).__name__, "a JSON object",
                              message=f"config: expected a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(FIELD_SPECS))
        if unknown:
            raise ConfigError("config", unknown, "known fields",
                              message=f"config: unknown field(s) {', '.join(unknown)}; "
                                      f"known: {', '.join(sorted(FIELD_SPECS))}")
        values = dict(data)
        if isinstance(values.get("class_names"), list):  # JSON has no tuples
            values["class_names"] = tuple(values["class_names"])
        # JSON has one number type: accept 1 for a float field, never 1.5 for an int field.
        for name, spec in FIELD_SPECS.items():
            if spec.kind is float and _is_int(values.get(name)):
                values[name] = float(values[name])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (tuples as lists, as JSON reads them back)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def to_json(self) -> str:
        """Pretty JSON for config.json."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        """Parse config.json text; errors say what is wrong."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError("config", None, "JSON",
                              message=f"config: not valid JSON ({e.msg} at line {e.lineno})") from None
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)


FIELD_SPECS: dict[str, FieldSpec] = {f.name: f.metadata["spec"] for f in fields(TrainConfig)}


def settable_fields() -> list[str]:
    """The fields a user sets (CLI flag, form widget), in declaration order."""
    return [name for name, spec in FIELD_SPECS.items() if spec.settable]


def flag_of(field: str) -> str:
    """The CLI flag of a config field: latent_dim -> --latent-dim."""
    return "--" + field.replace("_", "-")


def format_value(value: Any) -> str:
    """A field value as the CLI reads it back exactly (repr for floats: 1e-4 stays 0.0001)."""
    return repr(value) if isinstance(value, float) else str(value)


RUN_NAME_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,99}$")


def validate_run_name(name: Any) -> str:
    """Return name if it is a safe run name (letters, digits, - _ . ; not starting with '-' or '.'; never a path)."""
    allowed = "1-100 letters, digits, '-', '_', '.', not starting with '-' or '.' and without '..'"
    if not isinstance(name, str) or not name:
        raise ConfigError("name", name, allowed, message=f"run name: must not be empty; allowed: {allowed}")
    # fullmatch: with match, '$' also matches before a trailing newline ('abc\n' was accepted). A leading '-'
    # would read as a flag on the trainer's command line.
    if (not RUN_NAME_RE.fullmatch(name) or ".." in name or name.startswith(".")
            or os.sep in name or (os.altsep and os.altsep in name)):
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise ConfigError("name", name, allowed, message=f"run name: got {shown!r}; allowed: {allowed}")
    return name
