"""Copies of runs: the read-only shipped run (cvae/store/readonly.py) is copied to be trained further."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from .errors import RunExists, RunNotFound
from .files import NotRegularFile, atomic_write_bytes, read_file_nofollow
from .runs import CKPT_DIR, CONFIG_FILE, IMAGES_DIR, read_status, run_path, write_status

# What a copy of a run takes along (not its lock, STOP file, log, TensorBoard events, nor the read-only marker).
COPY_FILES = ("config.json", "status.json", "metrics.jsonl", "weights.npz", "evaluations.jsonl", "samples.gif",
              "latent_means.npz")


def copy_run(src: str, dst: str, runs_dir: str | os.PathLike | None = None) -> Path:
    """Copy run `src` to a new run `dst` that can be trained further (e.g. the read-only tutorial): its files,
    per-epoch images and checkpoints, regular files only (links are not followed). A finished copy trains further
    by resuming it with more epochs."""
    source, target = run_path(src, runs_dir), run_path(dst, runs_dir)
    if not (source / CONFIG_FILE).is_file():
        raise RunNotFound(f"run {src!r} does not exist", run=src)
    if target.exists():
        raise RunExists(f"run {dst!r} already exists: pick another name", run=dst)
    staging = target.with_name(f".copying-{dst}-{os.getpid()}-{time.time_ns()}")
    try:
        staging.mkdir()
        for name in COPY_FILES:
            _copy_file(source / name, staging / name)
        for sub in (IMAGES_DIR, CKPT_DIR):
            if (source / sub).is_dir() and not (source / sub).is_symlink():
                (staging / sub).mkdir()
                for p in sorted((source / sub).iterdir()):
                    _copy_file(p, staging / sub / p.name)
        if read_status(staging).get("state") == "running":  # a copy has no trainer
            write_status(staging, state="stopped", message=f"copied from {src} while it trained")
        if not any((staging / CKPT_DIR).glob("ckpt-*.npz")) and (staging / "weights.npz").is_file():
            # No training state to resume (the shipped run has none): its resume continues from weights.npz.
            # Only a copy says so: a run that crashed before its first checkpoint replays from scratch.
            write_status(staging, resume_from="weights")
        os.rename(staging, target)  # appears whole or not at all
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _copy_file(src: Path, dst: Path) -> None:
    """Copy one regular file (links, FIFOs and missing files are skipped)."""
    try:
        data = read_file_nofollow(src)
    except (FileNotFoundError, NotRegularFile, IsADirectoryError):
        return
    atomic_write_bytes(dst, data)
