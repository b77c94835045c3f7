"""The dataset registry: one entry per dataset, from which everything else is derived (no TensorFlow, no imports
from the package: the run store reads it too).

The config's choices and help text (cvae/store/config.py), the image shape of the architecture
(cvae/store/arch.py), the cost estimate (cvae/explorer/jobs/cost.py), class names and labels, and where and how the data
is loaded (cvae/data/sources.py: `format` picks the reader, `keras_cache` and `system_dirs` where to look) all read
DATASETS. Adding a dataset is one entry here (plus a reader in sources.py if its file format is new).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSpec:
    """What the product knows about one dataset."""

    name: str  # the config value and CLI choice
    title: str  # shown in help texts and labels
    size: int  # image height = width (a multiple of 4)
    channels: int  # 1 grey, 3 colour
    class_names: tuple[str, ...]
    train_images: int  # size of the official training split
    test_images: int
    default_likelihood: str  # a name in cvae/data/likelihoods.py's LIKELIHOODS
    format: str  # "idx" (four IDX files or a Keras .npz) or "cifar_binary": the reader in cvae/data/sources.py
    keras_cache: str  # where Keras keeps it under ~/.keras/datasets/ (a file or a directory)
    keras_module: str = ""  # tf.keras.datasets.<module> for the download ("" = the format's own download)
    system_dirs: tuple[str, ...] = ()  # where distribution packages install it
    cache_hint: str = ""  # the "put it in the Keras cache" way of the not-found message
    short: str = ""  # its usual name in messages ("MNIST")
    bundled_sample: bool = False  # the app falls back to the 1,000 test images shipped in cvae/assets
    verified_download: bool = False  # cvae/data/download.py fetches it checksum-verified, without TensorFlow
    # Class counts (test split, training split or None) that identify its files: data with another dataset's
    # counts is refused (MNIST and Fashion-MNIST use the same file names).
    label_counts: tuple[tuple[int, ...], tuple[int, ...] | None] | None = None
    # Your own data (#22): "folder" or "npz", the kind cvae/data/own.py loads from --data-dir; "" = a known dataset.
    # Such an entry's size and channels are only defaults: the run's config (image_size, channels) and the data
    # decide, its class names come from the data (recorded in config.class_names), and train_images = 0 means
    # "as many as the data holds".
    own: str = ""
    data_hint: str = ""  # your own data: what --data-dir must name
    colour_likelihood: str = ""  # your own data in colour (channels 3): its default likelihood


DIGITS = tuple(str(d) for d in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec("mnist", "handwritten digits", 28, 1, DIGITS, 60_000, 10_000, "bernoulli", "idx",
                "mnist.npz", "mnist", cache_hint="put mnist.npz in ~/.keras/datasets/ (or $KERAS_HOME/datasets/)",
                short="MNIST", bundled_sample=True, verified_download=True, label_counts=((980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009), None)),
    DatasetSpec("fashion_mnist", "Fashion-MNIST's clothes", 28, 1, FASHION, 60_000, 10_000, "bernoulli", "idx",
                "fashion-mnist", "fashion_mnist", ("/usr/share/datasets/fashion-mnist",),
                cache_hint="put the four .gz files in ~/.keras/datasets/fashion-mnist/, "
                           "or `apt-get install dataset-fashion-mnist`",
                short="Fashion-MNIST", label_counts=((1000,) * 10, (6000,) * 10)),
    DatasetSpec("cifar10", "CIFAR-10's 32x32 colour photos", 32, 3, CIFAR10, 50_000, 10_000,
                "discretized_logistic", "cifar_binary", "cifar-10-batches-bin",
                cache_hint="unpack cifar-10-binary.tar.gz into ~/.keras/datasets/ (giving cifar-10-batches-bin/)",
                short="CIFAR-10"),
    DatasetSpec("folder", "your own images (a folder; class subfolders are the labels)", 28, 1, (), 0, 0,
                "bernoulli", "own", "", short="your images", own="folder",
                data_hint="the folder of your images", colour_likelihood="discretized_logistic"),
    DatasetSpec("npz", "your own arrays (an .npz with x_train and x_test)", 28, 1, (), 0, 0, "bernoulli", "own",
                "", short="your arrays", own="npz",
                data_hint="your .npz file", colour_likelihood="discretized_logistic"),
)}
OWN_DEFAULT_SIZE = {1: 28, 3: 32}  # image side of your own data when the config gives none, by channels
OWN_MAX_SIZE = 64
DEFAULT_DATASET = "mnist"


def is_own(name: str) -> bool:
    """Whether `name` is your own data (a folder or an .npz given by --data-dir), not a known dataset."""
    return bool(dataset_spec(name).own)


def dataset_spec(name: str) -> DatasetSpec:
    """The registry entry of `name` (KeyError naming the known ones)."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}") from None
