"""The message catalogue: every marked string has a Hindi translation keeping its {fields}; every page in Hindi
shows no English UI text (formulas, numbers, run names, class names and technical abbreviations exempt)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from cvae.explorer import i18n
from cvae.store.config import FIELD_SPECS, settable_fields

REPO = Path(__file__).resolve().parent.parent
SOURCES = [REPO / "app.py", REPO / "home.py", *sorted((REPO / "app_pages").glob("*.py")), *sorted((REPO / "cvae" / "explorer").rglob("*.py"))]
PAGES = ["home.py", *sorted(f"app_pages/{p.name}" for p in (REPO / "app_pages").glob("*.py"))]
MARKERS = {"_", "t", "N_", "translate", "tr", "Msg"}
# Kept in Latin script in Hindi teaching material (and in the Hindi tutorial): names, abbreviations, units of code.
EXEMPT = {
    "ELBO", "KL", "IWAE", "CVAE", "VAE", "MNIST", "PNG", "GIF", "PCA", "lerp", "slerp", "TensorFlow", "Keras",
    "Adam", "NumPy", "IDX", "npz", "python", "cvae", "train", "eval", "iwae", "latent_dim", "log", "exp", "std",
    "Burda", "White", "Higgins", "CIFAR", "cifar10", "bernoulli", "discretized_logistic", "Ctrl", "SIGSTOP", "RUN", "et", "al", "mnist", "fashion_mnist", "tutorial", "fast",
    "float32", "mixed_bfloat16", "static", "dynamic", "constant", "cosine", "nats", "checkpoints", "TFP",
    "folder", "x_train", "x_test", "JPEG", "BMP", "WebP",  # your own data: a dataset name and .npz member names (#22)
    "English", "JSON", "z_A", "z_B",  # the language switch names each language in itself; formats; formulas
    "linear", "linear_restarts", "sample", "closed_form", "CPU",  # option values of --lr-schedule and --kl-estimate, as typed (#25)
}


def marked_strings() -> dict[str, Path]:
    """Every literal passed to _(), t(), N_() (first argument) in the app's sources."""
    out: dict[str, Path] = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MARKERS
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                out[node.args[0].value] = path
    return out


def config_strings() -> set[str]:
    """The Train form's labels and help, generated from the config's field specs."""
    return {s for n in settable_fields() for s in (FIELD_SPECS[n].label, FIELD_SPECS[n].help)}


def test_the_hindi_catalogue_is_complete_and_keeps_every_field():
    raw = json.loads((i18n.LOCALES / "hi.json").read_text(encoding="utf-8"))
    needed = {**{s: p.name for s, p in marked_strings().items()}, **{s: "config.py" for s in config_strings()}}
    assert len(needed) > 150  # the scan found the app's strings
    missing = {s: where for s, where in needed.items() if not raw.get(s)}
    assert not missing, f"{len(missing)} messages lack a Hindi translation: {list(missing.items())[:10]}"
    stale = sorted(set(raw) - set(needed))
    assert not stale, f"catalogue entries no page uses: {stale[:10]}"
    for en, hi in raw.items():
        assert i18n.fields_of(en) == i18n.fields_of(hi), (en, hi)
        assert re.search("[\u0900-\u097F]", hi), f"not Hindi: {hi!r}"


def test_translate_falls_back_to_english_and_fills_fields():
    assert i18n.translate("Run", "en") == "Run"
    assert i18n.translate("Run", "hi") != "Run"
    assert i18n.translate("no such message {x}", "hi", x=3) == "no such message 3"
    assert i18n.parse_lang("hi") == "hi" and i18n.parse_lang("xx") is None and i18n.parse_lang(["hi"]) is None


def english_words(text: str, exempt: set[str]) -> list[str]:
    """Latin-script words of 3+ letters that are not exempt, outside `code`, $math$ and URLs."""
    text = re.sub(r"`[^`]*`|\$[^$]*\$|https?://\S+|:material/[a-z_]+:", " ", text)
    return [w for w in re.findall(r"[A-Za-z][A-Za-z0-9_]{2,}", text) if w not in exempt and w.lower() not in exempt]


def ui_strings(at) -> list[str]:
    """Every text element, widget label, option and help text AppTest sees."""
    out = []
    for kind in ("markdown", "caption", "info", "error", "warning", "success", "title", "header", "subheader"):
        out += [str(e.value) for e in getattr(at, kind)]
    for kind in ("button", "slider", "selectbox", "radio", "number_input", "text_input", "checkbox", "toggle",
                 "multiselect", "select_slider", "metric", "expander"):
        for w in getattr(at, kind, []):
            out.append(str(getattr(w, "label", "") or ""))
            out.append(str(getattr(w.proto, "help", "") or ""))
            if kind in ("radio", "selectbox") and hasattr(w, "options"):
                out += [str(o) for o in w.options]
    for w in at.get("download_button") + at.get("page_link") + at.get("progress"):
        for field in ("label", "text", "help"):
            out.append(str(getattr(w.proto, field, "") or ""))
    return [s for s in out if s]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_in_hindi_shows_no_english(root, page, monkeypatch):
    from test_app import app_test, make_run, no_exceptions
    from test_instrument_pages import _stored_map

    run = make_run(root, "x7")
    _stored_map(run)  # with the latent map of each epoch: the Train page shows its animation
    from cvae.store import runs
    from cvae.store.files import append_jsonl

    append_jsonl(run / runs.METRICS_FILE, {  # an epoch with per-dimension figures: the Diagnostics heatmap
        "kind": "epoch", "epoch": 4, "step": 600, "test_elbo": -170.0, "test_logpx_z": -165.0, "test_kl": 5.0,
        "test_kl_per_dim": [3.0, 2.0], "test_activity": [1.0, 0.005], "test_active_units": 1, "time": 1.7e9})
    at = app_test()
    at.query_params["lang"] = "hi"
    at.run()
    if page != "home.py":
        at.switch_page(page).run()
    no_exceptions(at)
    exempt = EXEMPT
    found = {w: s for s in ui_strings(at) for w in english_words(s, exempt)}
    assert not found, f"{page}: English in Hindi mode: {list(found.items())[:8]}"
    assert any(re.search("[\u0900-\u097F]", s) for s in ui_strings(at))


def test_a_bad_lang_parameter_is_ignored(root):
    from test_app import app_test, no_exceptions, texts

    at = app_test()
    at.query_params["lang"] = "<script>"
    at.run()
    no_exceptions(at)
    assert "The selected model at a glance" in texts(at)


def _scope_nodes(scope: ast.AST) -> list[ast.AST]:
    """The nodes of one scope (not of the functions, classes and comprehensions inside it)."""
    out, todo = [], list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp,
                             ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        out.append(node)
        todo += ast.iter_child_nodes(node)
    return out


def test_no_scope_shadows_the_translation_function():
    """`xy, _, t = ...` in a function that also calls _() makes _ local there: an UnboundLocalError in every
    language (it hid the Train page's latent map section)."""
    bad = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]:
            nodes = _scope_nodes(scope)
            assigns = any(isinstance(n, ast.Name) and n.id == "_" and isinstance(n.ctx, ast.Store) for n in nodes)
            calls = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "_" for n in nodes)
            if assigns and calls:
                bad.append(f"{path.name}:{getattr(scope, 'name', '<module>')}")
    assert not bad, bad
