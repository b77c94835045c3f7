"""Hindi complete (#26 item 5): every page rendered in Hindi with a run that has every optional file (epoch
images, GIF, stored latent means, per-dimension figures, IWAE and exact evaluations, a coded status line) shows no
English word — in its text, widgets and Plotly figures (titles, axis and legend titles, trace names, hover) — outside
an explicit allow-list."""

from __future__ import annotations

import json
import re

import pytest

from test_i18n import EXEMPT, PAGES, english_words, ui_strings

# Besides test_i18n.EXEMPT: words a figure carries that are not prose (Plotly's own hover keys and formats).
FIGURE_EXEMPT = EXEMPT | {"extra", "customdata", "text", "pixel", "png", "svg", "http", "https", "www", "org"}


def full_run(root, d: int = 2):
    """A run with every optional file the pages read (latent_dim d)."""
    from test_app import make_run
    from test_instrument_pages import _stored_map

    from cvae.store import runs
    from cvae.store.evaluations import append_evaluation
    from cvae.store.files import append_jsonl
    from cvae.store.status_codes import coded

    run = make_run(root, "x7", latent_dim=d)
    _stored_map(run, d=d)
    append_jsonl(run / runs.METRICS_FILE, {
        "kind": "epoch", "epoch": 4, "step": 600, "test_elbo": -170.0, "test_logpx_z": -165.0, "test_kl": 5.0,
        "test_kl_per_dim": [3.0, 2.0, *[0.01] * (d - 2)], "test_activity": [1.0, 0.005, *[0.001] * (d - 2)],
        "test_active_units": 1, "time": 1.7e9})
    append_evaluation(run, {"k": 100, "iwae": -160.0, "elbo": -170.0, "n": 1000, "seconds": 3.0, "epoch": 3,
                            "step": 450, "time": 1.7e9, "note": ""})
    append_evaluation(run, {"method": "exact", "exact_logpx": -158.0, "exact_error": 0.01, "elbo": -170.0,
                            "elbo_exact": -169.0, "approximation_gap": 1.0, "amortization_gap": 0.5, "n": 1000,
                            "seconds": 9.0, "epoch": 3, "step": 450, "time": 1.7e9, "note": ""})
    runs.write_status(run, **coded("finished_elbo", epochs=3, elbo=-185.0))
    return run


def figure_strings(at) -> list[str]:
    """The texts of every Plotly figure: titles, axis and legend titles, annotations, trace names and hover."""
    out = []

    def title(obj) -> None:
        t = (obj or {}).get("title")
        out.append(t.get("text", "") if isinstance(t, dict) else str(t or ""))

    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        layout = spec.get("layout", {})
        title(layout)
        title(layout.get("legend"))
        for k, v in layout.items():
            if k.startswith(("xaxis", "yaxis")) or k == "coloraxis":
                title(v)
                title((v or {}).get("colorbar"))
        out += [str(a.get("text", "")) for a in layout.get("annotations", [])]
        for tr in spec.get("data", []):
            if not str(tr.get("name", "")).startswith("_"):
                out.append(str(tr.get("name", "") or ""))
            out.append(re.sub(r"%\{[^}]*\}|<[^>]*>", " ", str(tr.get("hovertemplate", "") or "")))
            title(tr.get("colorbar"))
            title((tr.get("marker") or {}).get("colorbar"))
        for frame in spec.get("frames", []):
            title(frame.get("layout"))
    return [s for s in out if s]


@pytest.mark.parametrize("d", [2, 8])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_in_hindi_with_every_optional_file(root, page, d):
    from test_app import app_test, no_exceptions

    full_run(root, d)
    at = app_test()
    at.query_params["lang"] = "hi"
    at.run()
    if page != "home.py":
        at.switch_page(page).run()
    no_exceptions(at)
    found = {w: s for s in ui_strings(at) for w in english_words(s, EXEMPT)}
    found.update({w: s for s in figure_strings(at) for w in english_words(s, FIGURE_EXEMPT)})
    assert not found, f"{page}: English in Hindi mode: {list(found.items())[:12]}"
