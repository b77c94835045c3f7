"""Where the project lives: the source checkout or the installed package, the default runs root, the shipped runs.

The rule (README, "Where runs live"), the same for the CLI, the app and the trainers it launches:
1. `--runs-dir DIR`, else 2. `$CVAE_RUNS_DIR`, else
3. running from a source checkout (the folder above the `cvae` package holds this project's pyproject.toml):
   the checkout's `checkpoints/`, which holds the shipped `tutorial` run;
4. running from an installed package: the user's data folder, `$XDG_DATA_HOME/cvae-explorer/runs`
   (default `~/.local/share/cvae-explorer/runs`); the first use creates it with a copy of the shipped runs
   (package data `cvae/shipped_runs/`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PROJECT_NAME = "cvae-explorer"
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the `cvae` package being run
SHIPPED_RUNS = ("tutorial",)  # runs that come with the project (read-only where they ship)


def source_checkout() -> Path | None:
    """The source checkout this `cvae` package is part of (its pyproject.toml names the project), else None."""
    root = PACKAGE_DIR.parent
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return root if f'name = "{PROJECT_NAME}"' in text and (root / "app.py").is_file() else None


def code_root() -> Path:
    """The folder whose `cvae/` is the package running now: a child process run here imports this same code."""
    return PACKAGE_DIR.parent


def app_dir() -> Path | None:
    """The folder with app.py, app_pages/ and .streamlit/: the checkout, or the package's copy (cvae/webapp)."""
    checkout = source_checkout()
    if checkout is not None:
        return checkout
    packaged = PACKAGE_DIR / "webapp"
    return packaged if (packaged / "app.py").is_file() else None


def shipped_runs_dir() -> Path | None:
    """The folder holding the shipped runs: the checkout's checkpoints/, or the package data cvae/shipped_runs/."""
    checkout = source_checkout()
    candidates = ([checkout / "checkpoints"] if checkout else []) + [PACKAGE_DIR / "shipped_runs"]
    return next((c for c in candidates if (c / SHIPPED_RUNS[0] / "config.json").is_file()), None)


def user_runs_dir() -> Path:
    """The runs root of an installed package: $XDG_DATA_HOME/cvae-explorer/runs (default ~/.local/share/...)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / PROJECT_NAME / "runs"


def default_runs_root() -> Path:
    """The runs root when neither --runs-dir nor $CVAE_RUNS_DIR is given (rules 3 and 4 above)."""
    checkout = source_checkout()
    if checkout is not None:
        return checkout / "checkpoints"
    root = user_runs_dir()
    if not root.exists():
        seed_runs_root(root)
    return root


def seed_runs_root(root: Path) -> None:
    """Create `root` holding a copy of each shipped run (all or nothing: built beside it, then renamed)."""
    source = shipped_runs_dir()
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".runs-", dir=root.parent))
    try:
        for name in SHIPPED_RUNS:
            if source is not None and (source / name).is_dir():
                shutil.copytree(source / name, staging / name, symlinks=False)
        os.rename(staging, root)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not root.is_dir():  # another process may have won the race; anything else is a real error
            raise
