"""No dead names: every `cvae/….py` path and `cvae.…` module that the README, docs/, the Streamlit config, and the
code's own comments and docstrings name exists."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PATH_RE = re.compile(r"(?<![\w/.-])(cvae/[\w/]+\.(?:py|json|js|css|npz))\b")
MODULE_RE = re.compile(r"(?<![\w/.-])(cvae(?:\.[a-z_][a-z0-9_]*)+)")


def documents() -> list[Path]:
    out = [REPO / "README.md", REPO / ".streamlit" / "config.toml", REPO / "Makefile", REPO / "pyproject.toml"]
    out += sorted((REPO / "docs").rglob("*.md")) + sorted((REPO / "bench").glob("*.md"))
    out += sorted((REPO / "cvae").rglob("*.py")) + [REPO / "app.py", REPO / "home.py"] + sorted((REPO / "app_pages").glob("*.py"))
    out += sorted((REPO / "tests").glob("*.py")) + sorted((REPO / "bench").glob("*.py"))
    return [p for p in out if p.is_file() and p.name != "test_names.py"]  # this file names dead ones on purpose


def module_exists(name: str) -> bool:
    """`cvae.a.b` names a module or package, or an attribute of one (`cvae.store.runs.runs_root`)."""
    parts = name.split(".")
    if parts[-1].startswith("__") and parts[-1].endswith("__"):  # cvae.__version__, cvae.__file__
        parts = parts[:-1]
    if parts == ["cvae"]:
        return (REPO / "cvae" / "__init__.py").is_file()
    for i in range(len(parts), 1, -1):
        mod = ".".join(parts[:i])
        rel = Path(*mod.split("."))
        if (REPO / rel).with_suffix(".py").is_file() or (REPO / rel / "__init__.py").is_file():
            return i == len(parts) or _has_attribute(REPO / rel, parts[i])
    return False


def _has_attribute(module_path: Path, attr: str) -> bool:
    src = module_path.with_suffix(".py") if module_path.with_suffix(".py").is_file() else module_path / "__init__.py"
    return re.search(rf"^\s*(def|class)\s+{attr}\b|^\s*{attr}\s*[:=]|import .*\b{attr}\b", src.read_text(),
                     re.M) is not None or (module_path / attr).exists() or (module_path / f"{attr}.py").exists()


def test_every_named_path_and_module_exists():
    dead = []
    for doc in documents():
        text = doc.read_text(errors="replace")
        for m in PATH_RE.finditer(text):
            if not (REPO / m.group(1)).exists():
                dead.append(f"{doc.relative_to(REPO)}: {m.group(1)}")
        for m in MODULE_RE.finditer(text):
            name = m.group(1).rstrip(".")
            if name in ("cvae.shipped_runs", "cvae.webapp"):  # packaged copies (pyproject.toml's package-dir)
                continue
            if not module_exists(name):
                dead.append(f"{doc.relative_to(REPO)}: {name}")
    assert not dead, "names of things that do not exist:\n" + "\n".join(sorted(set(dead)))


def test_the_checker_sees_a_dead_name():
    assert module_exists("cvae.store.runs") and module_exists("cvae.store.runs.runs_root")
    assert not module_exists("cvae.appstate") and not module_exists("cvae.ui")
    assert PATH_RE.findall("see `cvae/infer.py` and cvae/explorer/maths/numpy_model.py") == [
        "cvae/infer.py", "cvae/explorer/maths/numpy_model.py"]
