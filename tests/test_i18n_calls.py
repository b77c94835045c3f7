"""Every call of a figure builder that takes `lang` passes it: a builder called without it draws English labels
("class", "current z") on a Hindi page."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILDER_MODULES = ("figures.maps", "figures.diag_figures", "figures.map_animation", "figures.train_figures",
                   "figures.posterior_figures", "maths.interpolate", "jobs.run_compare")


def builders_with_lang() -> set[str]:
    out = set()
    for name in BUILDER_MODULES:
        mod = importlib.import_module(f"cvae.explorer.{name}")  # a renamed module fails here, not silently
        for fname, fn in inspect.getmembers(mod, inspect.isfunction):
            if fn.__module__ == mod.__name__ and "lang" in inspect.signature(fn).parameters:
                out.add(fname)
    return out


def calls_without_lang(path: Path, names: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    missing = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if name in names and not any(k.arg in ("lang", None) for k in node.keywords):
                missing.append(f"{path.relative_to(REPO)}:{node.lineno} {name}()")
    return missing


def test_pages_pass_the_language_to_every_builder_that_takes_it():
    names = builders_with_lang()
    assert {"latent_map_figure", "map_animation_figure"} <= names
    files = [REPO / "app.py", REPO / "home.py", *sorted((REPO / "app_pages").glob("*.py"))]
    missing = [m for f in files for m in calls_without_lang(f, names)]
    assert not missing, "builders called without lang= (English labels on Hindi pages):\n" + "\n".join(missing)


def test_the_checker_sees_a_missing_lang(tmp_path):
    page = tmp_path / "page.py"
    page.write_text("figures.latent_map_figure(xy, labels, names, current=None)\n"
                    "figures.latent_map_figure(xy, labels, names, current=None, lang=current_lang())\n")
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        assert calls_without_lang(page, {"latent_map_figure"}) == ["page.py:1 latent_map_figure()"]
    finally:
        REPO = saved
