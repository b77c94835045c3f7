"""The epoch-time estimate behind the Train page's warning for slow configurations (issue #14)."""

from __future__ import annotations

import pytest
from test_app import no_exceptions, no_launch, run_page  # noqa: F401 (no_launch: a fixture)

from cvae.explorer.jobs import cost
from cvae.store.arch import Architecture
from cvae.store.config import TrainConfig


def test_multiply_adds_per_image_count_every_layer():
    # The tutorial's network, layer by layer: 13x13x9x1x32 + 6x6x9x32x64 + 2304x4 + 2x1568 + 7x7x9x32x64
    # + 14x14x9x64x32 + 28x28x9x32x1.
    expected = 13 * 13 * 9 * 32 + 36 * 9 * 32 * 64 + 2304 * 4 + 2 * 1568 + 49 * 9 * 32 * 64 + 196 * 9 * 64 * 32 \
        + 784 * 9 * 32
    assert Architecture().macs_per_image(2) == expected
    assert Architecture(filters1=512, filters2=512).macs_per_image() > 50 * Architecture().macs_per_image()


def test_estimate_reproduces_the_measurements_and_grows_with_width():
    for macs, train, evaluate in cost.MEASURED:
        widths = [w for w in ((32, 64), (128, 128), (512, 512))
                  if Architecture(filters1=w[0], filters2=w[1]).macs_per_image() == macs]
        assert widths, macs
        c = TrainConfig(filters1=widths[0][0], filters2=widths[0][1])
        assert cost.estimated_epoch_seconds(c) == pytest.approx(60_000 * train + 10_000 * evaluate)
    times = [cost.estimated_epoch_seconds(TrainConfig(filters1=f, filters2=f)) for f in (32, 64, 128, 256, 512)]
    assert times == sorted(times) and times[-1] > 20 * times[0]
    assert cost.estimated_epoch_seconds(TrainConfig(max_train_examples=6000, max_test_examples=1000)) \
        == pytest.approx(cost.estimated_epoch_seconds(TrainConfig()) / 10)


def test_the_tutorial_is_not_slow_and_512_filters_are():
    assert cost.slow_warning(TrainConfig()) is None
    text = cost.slow_warning(TrainConfig(filters1=512, filters2=512))
    assert text and "512/512" in text and "per epoch" in text and "Start again" in text


def test_train_page_warns_before_starting_a_slow_configuration(root, no_launch, mnist_dir, monkeypatch):
    monkeypatch.setenv("CVAE_DATA_DIR", str(mnist_dir))  # the form finds data: the warning is under test
    at = run_page("app_pages/1_Train.py")
    at.text_input(key="tr_name").input("wide")
    at.number_input(key="tr_filters1").set_value(512)
    at.number_input(key="tr_filters2").set_value(512)
    at.button(key="tr_start").click().run()
    no_exceptions(at)
    assert any("Slow configuration" in w.value for w in at.warning), [w.value for w in at.warning]
    assert no_launch == []  # warned, not started
    at.button(key="tr_start").click().run()  # the same configuration again: started
    no_exceptions(at)
    assert [(c["name"], c["config"].filters1) for c in no_launch] == [("wide", 512)]


def test_train_page_starts_the_tutorial_at_once(root, no_launch, mnist_dir, monkeypatch):
    monkeypatch.setenv("CVAE_DATA_DIR", str(mnist_dir))
    at = run_page("app_pages/1_Train.py")
    at.text_input(key="tr_name").input("plain")
    at.button(key="tr_start").click().run()
    no_exceptions(at)
    assert not any("Slow configuration" in w.value for w in at.warning)
    assert [c["name"] for c in no_launch] == ["plain"]
