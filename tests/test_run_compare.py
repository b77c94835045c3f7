"""Comparing runs: every config field that differs is a column, a preset label says what was changed, and the chart
compares any per-epoch figure with runs told apart by colour, marker and dash."""

from __future__ import annotations

from cvae.explorer.jobs import run_compare
from cvae.store import runs
from cvae.store.config import TrainConfig

from test_app import charts, make_run, no_exceptions, run_page


def test_differing_fields_and_what_a_preset_label_hides():
    tutorial = TrainConfig()
    beta4 = TrainConfig(beta=4.0, max_train_examples=6000, epochs=2)
    assert run_compare.differing_fields([tutorial, beta4, None]) == ["epochs", "beta", "max_train_examples"]
    assert run_compare.differing_fields([tutorial, TrainConfig(data_dir="/elsewhere")]) == []
    assert run_compare.preset_label(tutorial) == "tutorial"
    assert run_compare.preset_label(beta4) == "tutorial, changed: epochs 2, beta 4.0, max_train_examples 6000"
    fast = TrainConfig.from_preset("fast")
    assert run_compare.preset_label(fast) == "fast"


def test_the_chart_keeps_runs_apart_and_offers_every_recorded_figure():
    series = {f"r{i}": [{"epoch": 1, "test_elbo": -200.0 + i, "test_kl": 5.0}, {"epoch": 2, "test_elbo": -190.0}]
              for i in range(9)}
    assert run_compare.epoch_figures(series)[:2] == ["test_elbo", "test_kl"]
    fig = run_compare.compare_figure(series, "test_kl", x_title="epoch", y_title="KL")
    styles = [(t.line.color, t.marker.symbol, t.line.dash) for t in fig.data]
    assert len(set(styles)) == 9  # no two runs look alike
    assert len({c for c, _, _ in styles[:8]}) == 8 and len({m for _, m, _ in styles[:8]}) == 8
    assert list(fig.data[0].y) == [5.0]  # an epoch without the figure is left out, not drawn as 0


def test_the_runs_page_shows_what_differs_and_compares_any_figure(root):
    make_run(root, "plain", created=1.0)
    beta = make_run(root, "beta4", created=2.0)
    (beta / runs.CONFIG_FILE).write_text(TrainConfig(epochs=3, beta=4.0, max_train_examples=6000).to_json())
    at = run_page("app_pages/5_Runs.py")
    no_exceptions(at)
    table = at.dataframe[0].value
    assert {"beta", "max_train_examples"} <= set(table.columns)
    row = table[table["run"] == "beta4"].iloc[0]
    assert row["beta"] == "4.0" and row["max_train_examples"] == "6000"
    assert row["preset"] == "tutorial, changed: epochs 3, beta 4.0, max_train_examples 6000"
    assert table[table["run"] == "plain"].iloc[0]["preset"] == "tutorial, changed: epochs 3"
    at.multiselect(key="rn_compare").set_value(["plain", "beta4"]).run()
    at.selectbox(key="rn_figure").set_value("test_kl").run()
    data = charts(at)["rn_curves"]["data"]
    assert [t["name"] for t in data] == ["plain", "beta4"]
    assert data[0]["line"]["color"] != data[1]["line"]["color"] and data[0]["marker"]["symbol"] != data[1]["marker"]["symbol"]
    assert "KL" in charts(at)["rn_curves"]["layout"]["yaxis"]["title"]["text"]
