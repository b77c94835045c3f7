"""Datasets and likelihoods are registries (cvae/data/datasets.py, cvae/data/likelihoods.py): the config's choices,
the architecture, the cost estimate, the data loaders, the NumPy model and the browser's decoder read their
entries, and no other module compares a dataset's or a likelihood's name as a string."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from cvae.data.datasets import DATASETS, dataset_spec
from cvae.data.likelihoods import LIKELIHOODS, likelihood
from cvae.explorer.jobs import cost
from cvae.explorer.ui.latent_pad import model_blob
from cvae.explorer.maths.numpy_model import NumpyCVAE
from cvae.store import config
from cvae.store.arch import Architecture, architecture_of
from cvae.store.config import TrainConfig
from cvae.store.weights import expected_shapes

REPO = Path(__file__).resolve().parent.parent
REGISTRY_FILES = {REPO / "cvae" / "data" / "datasets.py", REPO / "cvae" / "data" / "likelihoods.py"}


def test_names_are_compared_as_strings_only_inside_the_registries():
    names = "|".join(re.escape(n) for n in (*DATASETS, *LIKELIHOODS))
    compare = re.compile(rf"""(==|!=|\bin\b)\s*\(?\s*["']({names})["']|["']({names})["']\s*(==|!=|\bin\b)""")
    sources = [*(REPO / "cvae").rglob("*.py"), *(REPO / "app_pages").glob("*.py"), REPO / "app.py", REPO / "home.py",
               *(REPO / "cvae").rglob("*.js")]
    hits = [f"{p.relative_to(REPO)}:{i}: {line.strip()}" for p in sources if p not in REGISTRY_FILES
            for i, line in enumerate(p.read_text().splitlines(), 1) if compare.search(line)]
    assert hits == [], hits


def test_config_choices_help_and_bounds_come_from_the_registries():
    specs = config.FIELD_SPECS
    assert specs["dataset"].choices == tuple(DATASETS) and specs["likelihood"].choices == tuple(LIKELIHOODS)
    for spec in DATASETS.values():
        assert spec.title in specs["dataset"].help and f"{spec.train_images:,}" in specs["max_train_examples"].help
    assert specs["max_train_examples"].high == max(s.train_images for s in DATASETS.values())
    for lik in LIKELIHOODS.values():
        assert lik.help in specs["likelihood"].help


def _own(spec) -> dict:
    """What a config of your own data needs besides its dataset (the folder or file)."""
    return {"data_dir": "/data/mine"} if spec.own else {}


def test_the_architecture_reads_image_shape_and_parameters_from_the_registries():
    for name, spec in DATASETS.items():
        for lik in LIKELIHOODS.values():
            a = architecture_of(TrainConfig(dataset=name, likelihood=lik.name, **_own(spec)))
            assert a.image_shape == (spec.size, spec.size, spec.channels)
            assert a.layers(2)[-1].out_shape == (spec.size, spec.size, spec.channels * lik.params_per_subpixel)
            assert a.browser_mean == lik.browser


def test_a_dataset_given_without_a_likelihood_gets_its_default():
    for name, spec in DATASETS.items():
        assert TrainConfig.from_preset("tutorial", dataset=name, **_own(spec)).likelihood == spec.default_likelihood
    assert TrainConfig.from_preset("tutorial", dataset="cifar10", likelihood="bernoulli").likelihood == "bernoulli"
    assert TrainConfig.from_preset("tutorial").likelihood == "bernoulli"  # the tutorial's


def test_the_cost_estimate_uses_the_training_set_size():
    for name, spec in DATASETS.items():
        if spec.own:  # its size is the data's, recorded in the run's config
            continue
        whole = cost.estimated_epoch_seconds(TrainConfig(dataset=name))
        assert whole == cost.estimated_epoch_seconds(TrainConfig(dataset=name, max_train_examples=spec.train_images))
        assert whole > cost.estimated_epoch_seconds(TrainConfig(dataset=name, max_train_examples=spec.train_images // 2))


def test_the_numpy_model_and_the_browser_blob_use_the_likelihood_entry():
    rng = np.random.default_rng(0)
    for lik in LIKELIHOODS.values():
        arch = Architecture(likelihood=lik.name)
        arrays = {k: rng.normal(0, 0.1, s).astype(np.float32) for k, s in expected_shapes(2, arch).items()}
        model = NumpyCVAE(arrays, 2, arch)
        z = rng.normal(size=(3, 2)).astype(np.float32)
        params = model.decode(z)
        np.testing.assert_array_equal(model.decode(z, apply_sigmoid=True), lik.mean_image(params))
        x = (rng.random((3, 28, 28, 1)) > 0.5).astype(np.float32)
        np.testing.assert_allclose(model.likelihood.log_likelihood(x, params), likelihood(lik.name).log_likelihood(x, params))
        assert model_blob(arrays, 2, arch)["mean"] == lik.browser
