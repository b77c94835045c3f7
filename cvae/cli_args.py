"""The CLI's argument types: counts, bounded counts and numbers whose errors are one line, and a parser whose usage
errors are one line too."""

from __future__ import annotations

import argparse


def count_arg(text: str) -> int:
    """An integer >= 0 (0 is 'off' for --iwae-k and a valid --seed; the config bounds each field itself)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:  # e.g. --iwae-k -1 reached TensorFlow and ended in a traceback
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


# Caps on what one command decodes or samples (a MemoryError with a traceback before), stated in --help: importance
# samples per image; `sample --n` (a 32x32 grid); `manifold --n` (10,000 codes, 7.8 M pixels of MNIST).
MAX_IWAE_K, MAX_SAMPLES, MAX_MANIFOLD_N = 10_000, 1_024, 100


def at_most(high: int, low: int = 1):
    """An argparse type: an integer from low to high."""
    def parse(text: str) -> int:
        value = count_arg(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer from {low} to {high:,}, got {text!r}")
        return value

    return parse


def float_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr (the full usage is one --help away)."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")
