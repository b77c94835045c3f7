"""AppTest of the true posterior on Reconstruct and Diagnostics (the browser screenshots: test_browser_posterior.py)."""

from __future__ import annotations

import shutil

from test_app import app_test, charts, make_run, no_exceptions, texts
from test_posterior import TUTORIAL


def _nats(metric) -> float:
    return float(str(metric.value).split()[0])


def test_reconstruct_shows_the_gap_decomposition_and_the_true_posterior(root):
    shutil.copytree(TUTORIAL, root / "tutorial")
    at = app_test()
    at.session_state["cvae_selected_run"] = "tutorial"
    at.run().switch_page("app_pages/3_Reconstruct.py").run()
    no_exceptions(at)
    m = {x.label: x for x in at.metric}
    logpx, elbo, kl = _nats(m["log p(x)"]), _nats(m["ELBO"]), _nats(m["KL(q ‖ p(z|x))"])
    approx, amort = _nats(m["approximation gap"]), _nats(m["amortization gap"])
    assert abs(logpx - elbo - kl) <= 0.011 and abs(kl - approx - amort) <= 0.011  # shown to 2 decimals
    iwae_first = next(x for x in at.metric if x.label == "IWAE bound, k = 100")  # the section shows the first digit
    assert logpx >= _nats(iwae_first) - 0.1 and kl > 0 and amort >= 0
    fig = charts(at)["rc_posterior"]
    kinds = [t["type"] for t in fig["data"]]
    assert kinds[0] == "heatmap" and kinds.count("contour") == 2
    names = [t.get("name") for t in fig["data"]]
    assert "encoder q(z|x): 1σ and 2σ" in names and "best Gaussian q*: 1σ" in names
    assert fig["layout"]["yaxis"]["scaleanchor"] == "x"  # circles look round


def test_a_3d_run_says_exact_log_px_needs_two_dimensions(root):
    make_run(root, "r3", latent_dim=3)
    at = app_test().run()
    at.switch_page("app_pages/3_Reconstruct.py").run()
    no_exceptions(at)
    assert "need a 2-D latent space; this run has 3 dimensions" in texts(at)
    assert "rc_posterior" not in charts(at)


def test_diagnostics_integrates_test_digits_and_opens_the_largest_gap_on_reconstruct(root):
    shutil.copytree(TUTORIAL, root / "tutorial")
    at = app_test()
    at.session_state["cvae_selected_run"] = "tutorial"
    at.run().switch_page("app_pages/8_Diagnostics.py").run()
    no_exceptions(at)
    assert "dg_gaps_class" not in charts(at)  # nothing heavy until asked
    at.number_input(key="dg_exact_n").set_value(10).run()
    at.button(key="dg_exact_go").click().run()
    no_exceptions(at)
    bars = charts(at)["dg_gaps_class"]["data"]
    assert [b["name"] for b in bars] == ["approximation gap", "amortization gap"]
    m = {x.label: x for x in at.metric}
    assert _nats(m["mean log p(x)"]) > _nats(m["mean ELBO"])
    goto = [b for b in at.button if b.key and b.key.startswith("dg_goto_")]
    assert goto
    index = int(goto[0].key.rsplit("_", 1)[1])
    goto[0].click().run()
    no_exceptions(at)
    assert at.session_state["rc_index"] == index and at.session_state["rc_mode"] == "By index"
    assert f"Test digit #{index}" in texts(at)


def test_diagnostics_map_layers_and_the_lesson_step(root):
    shutil.copytree(TUTORIAL, root / "tutorial")
    at = app_test()
    at.session_state["cvae_selected_run"] = "tutorial"
    at.run().switch_page("app_pages/8_Diagnostics.py").run()
    at.radio(key="dg_layer").set_value("holes").run()
    no_exceptions(at)
    heat = charts(at)["dg_map"]["data"][0]
    assert heat["type"] == "heatmap" and heat["colorbar"]["title"]["text"] == "log q(z)/p(z)"
    assert "KL(q(z) ‖ p(z)) ≈" in texts(at) and "Monte Carlo" in texts(at)
    at.radio(key="dg_layer").set_value("magnification").run()
    no_exceptions(at)
    assert "√det(JᵀJ)" in charts(at)["dg_map"]["data"][0]["colorbar"]["title"]["text"]
    at.switch_page("app_pages/0_Lesson.py").run()
    at.session_state["ls_step"] = 6
    at.run()
    no_exceptions(at)
    assert charts(at)["ls_posterior"]["data"][0]["type"] == "heatmap"
    at.radio(key="ls_post_view").set_value("all").run()
    no_exceptions(at)
    assert charts(at)["ls_holes"]["data"][0]["type"] == "heatmap"


def test_the_lesson_step_and_the_map_layers_in_hindi_show_no_english(root):
    from test_i18n import EXEMPT, english_words, ui_strings

    shutil.copytree(TUTORIAL, root / "tutorial")
    at = app_test()
    at.query_params["lang"] = "hi"
    at.session_state["cvae_selected_run"] = "tutorial"
    at.run().switch_page("app_pages/0_Lesson.py").run()
    at.session_state["ls_step"] = 6
    at.run()
    seen = ui_strings(at)
    at.session_state["ls_post_view"] = "all"  # (AppTest looks radio options up by their English labels)
    at.run()
    seen += ui_strings(at)
    at.switch_page("app_pages/8_Diagnostics.py")
    at.session_state["dg_layer"] = "holes"
    at.run()
    seen += ui_strings(at)
    assert any("KL(q(z) ‖ p(z)) ≈" in s for s in seen)
    no_exceptions(at)
    found = {w: s for s in seen for w in english_words(s, EXEMPT)}
    assert not found, list(found.items())[:8]
    assert "एनकोडर का अनुमान बनाम सच" in "\n".join(seen)
