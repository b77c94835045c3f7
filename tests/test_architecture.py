"""The layers hold: no import cycles; the run store, data and explorer never import TensorFlow or Keras; imports
point one way (store <- data <- engine; store, data <- explorer; the CLI and pages on top). The two registries
(cvae/data/datasets.py, cvae/data/likelihoods.py) are leaves every layer reads, the run store included: they import
nothing from the package. Inside the explorer, sub-packages by job point one way too (i18n <- maths <- figures <- ui <-
classroom; jobs <- ui), and only ui/ and classroom/ use Streamlit. No module imports another's private names, and
none re-exports what it imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "cvae"
HEAVY = ("tensorflow", "keras", "tensorflow_probability")
# What each layer may import from the package (besides itself).
ALLOWED = {
    "store": set(),
    "data": {"store"},
    "engine": {"store", "data"},
    "explorer": {"store", "data"},
}


# The explorer's sub-packages by job, and what each may import from the others ("i18n" is the module
# cvae/explorer/i18n.py, the message catalogue every job uses). No module sits loose in cvae/explorer/ but i18n.
EXPLORER_PARTS = {
    "i18n": set(),
    "maths": {"i18n"},                                   # NumPy: the model, latent codes, diagnostics, posterior
    "figures": {"i18n", "maths"},                        # pure Plotly builders
    "jobs": {"i18n", "maths"},                           # trainer processes, progress, cost, run comparison
    "ui": {"i18n", "maths", "figures", "jobs"},          # Streamlit pieces, page chrome, cached loaders
    "classroom": {"i18n", "maths", "figures", "ui"},     # the live class
}
NO_STREAMLIT = ("maths", "figures", "jobs")


# Leaves any layer may import (they import no package module): the dataset and likelihood registries.
REGISTRIES = {"cvae.data.datasets", "cvae.data.likelihoods"}


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (also inside functions), as absolute names."""
    tree = ast.parse(path.read_text(), str(path))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            out.add(prefix)
            for alias in node.names:  # `from . import runs` imports the module cvae.store.runs
                out.add(f"{prefix}.{alias.name}")
    return out


def graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: {i for i in imports_of(p) if i in modules and i != m} for m, p in modules.items()}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def test_the_layers_exist_and_every_module_belongs_to_one():
    g = graph()
    loose = sorted(m for m in g if layer(m) is None and m not in ("cvae", "cvae.cli", "cvae.cli_args", "cvae.first_run", "cvae.__main__"))
    assert loose == [], f"modules outside the four layers: {loose}"
    assert {layer(m) for m in g} - {None} == set(ALLOWED)


def test_no_import_cycles():
    g = graph()
    seen: dict[str, int] = {}  # 1 = on the stack, 2 = done
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        seen[m] = 1
        for n in sorted(g[m]):
            if seen.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in seen:
                visit(n, stack + [n])
        seen[m] = 2

    for m in sorted(g):
        if m not in seen:
            visit(m, [m])
    assert cycles == [], f"import cycles: {cycles}"


def test_imports_point_one_way():
    bad = []
    for m, deps in graph().items():
        lm = layer(m)
        if lm is None:
            continue
        for d in deps:
            if d in REGISTRIES:
                continue
            ld = layer(d)
            if ld is not None and ld != lm and ld not in ALLOWED[lm]:
                bad.append(f"{m} -> {d}")
            if ld is None and d != "cvae":
                bad.append(f"{m} -> {d} (an entry point)")
    assert bad == [], bad


def test_store_data_and_explorer_never_import_tensorflow():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        m = module_name(path)
        if layer(m) in ("store", "data", "explorer"):
            heavy = sorted(i for i in imports_of(path) if i.split(".")[0] in HEAVY)
            if heavy and not (m == "cvae.data.sources" and heavy == ["tensorflow"]):
                offenders.append(f"{m}: {heavy}")
    # The one exception: cvae.data.sources imports TensorFlow inside the Keras download function, for the engine only (the
    # app loads data with allow_download=False; test_app checks 'tensorflow' is never in the app's sys.modules).
    assert offenders == [], offenders


def test_importing_every_light_module_loads_no_tensorflow():
    light = sorted(module_name(p) for p in PACKAGE.rglob("*.py") if layer(module_name(p)) in ("store", "data", "explorer"))
    code = ("import sys\n" + "".join(f"import {m}\n" for m in light)
            + "print(sorted(k for k in sys.modules if k.split('.')[0] in ('tensorflow', 'keras')))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]"


def test_no_module_is_too_long():
    long = {module_name(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 420}
    assert long == {}, f"split these along their seams: {long}"


def test_the_registries_are_leaves():
    g = graph()
    assert REGISTRIES <= set(g)
    assert {m: sorted(g[m] - {"cvae", "cvae.data"}) for m in REGISTRIES} == {m: [] for m in REGISTRIES}


def _from_imports():
    """(module, imported module, name, line) of every `from X import name` between package modules."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    for m, path in modules.items():
        package = m if path.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    src = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                if src in modules:
                    for alias in node.names:
                        yield m, src, alias.name, path, node.lineno


# Both habits are gone (issue 21, item 4): these stay empty.
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str]] = set()
KNOWN_SHIMS: set[str] = set()


def test_no_module_imports_another_modules_private_names():
    bad = sorted({(m, src) for m, src, name, _p, _l in _from_imports()
                  if name.startswith("_") and name != "_" and not name.startswith("__")} - KNOWN_PRIVATE_IMPORTS)
    assert bad == [], f"private names imported across modules (make them public or move the code): {bad}"


def test_no_reexport_shims():
    """A `noqa: F401` on an import means a name imported only to be re-exported: import it from its home."""
    shims = set()
    for path in PACKAGE.rglob("*.py"):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                text = "\n".join(lines[node.lineno - 1:node.end_lineno])
                if "noqa: F401" in text or "noqa:F401" in text:
                    shims.add(module_name(path))
    assert sorted(shims - KNOWN_SHIMS) == [], f"re-export shims: {sorted(shims - KNOWN_SHIMS)}"


def explorer_part(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["cvae", "explorer"] or len(parts) < 3:
        return None
    return parts[2]


def test_the_explorer_is_split_by_job_and_its_parts_point_one_way():
    g = graph()
    parts = {explorer_part(m) for m in g} - {None}
    assert parts == set(EXPLORER_PARTS), f"explorer modules outside its parts: {sorted(parts - set(EXPLORER_PARTS))}"
    bad = sorted(f"{m} -> {d}" for m, deps in g.items() if (pm := explorer_part(m))
                 for d in deps if (pd := explorer_part(d)) and pd != pm and pd not in EXPLORER_PARTS[pm])
    assert bad == [], bad


def test_maths_figures_and_jobs_never_import_streamlit():
    offenders = sorted(module_name(p) for p in PACKAGE.rglob("*.py") if explorer_part(module_name(p)) in NO_STREAMLIT
                       and any(i.split(".")[0] == "streamlit" for i in imports_of(p)))
    assert offenders == [], offenders


def test_every_package_ships():
    """A sub-package missing from pyproject.toml's list would be left out of `pip install .` (the app breaks there)."""
    import tomllib
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    assert sorted(found - listed) == []
