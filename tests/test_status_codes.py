"""The trainer's status lines as codes with parameters (#26 item 5): written with the English message, checked
field by field on read, translated where shown, and any unknown or bad code falls back to the message."""

from __future__ import annotations

from cvae.explorer.ui import status_text
from cvae.explorer.i18n import LANG_KEY
from cvae.store import runs
from cvae.store.status_codes import STATUS_CODES, coded, status_code


def test_the_catalogue_marks_the_same_templates_as_the_store():
    assert {k: v[0] for k, v in STATUS_CODES.items()} == status_text.SHOWN


def test_a_coded_line_keeps_the_english_message_and_reads_back(tmp_path):
    runs.write_status(tmp_path, state="stopped", **coded("stopped_on_request", epoch=1, steps=100))
    status = runs.read_status(tmp_path)
    assert status["message"] == "stopped on request at epoch 1 + 100 steps"
    assert status_code(status) == ("stopped_on_request", {"epoch": 1, "steps": 100})
    assert coded("finished_elbo", epochs=2, elbo=-101.234)["message"] == "finished 2 epochs; test ELBO -101.23"
    runs.write_status(tmp_path, state="failed", message="boom")  # a plain message drops the old code
    assert status_code(runs.read_status(tmp_path)) is None


def test_bad_or_unknown_codes_fall_back_to_the_message():
    base = {"state": "stopped", "message": "the words"}
    for bad in ({"code": "from_the_future", "params": {}},
                {"code": "stopped_on_request", "params": {"epoch": "one", "steps": 1}},
                {"code": "stopped_on_request", "params": {"epoch": 1}},
                {"code": "stopped_on_request", "params": {"epoch": 1, "steps": 2, "extra": 3}},
                {"code": "training", "params": []}):
        assert status_code({**base, **bad}) is None
        assert status_text.status_plain({**base, **bad}) == "the words"


def test_a_bad_params_field_damages_the_status_and_the_reason_is_shown(tmp_path):
    (tmp_path / runs.STATUS_FILE).write_text('{"state": "done", "code": "finished", "params": {"x": [1, 2]}}')
    status = runs.read_status(tmp_path)
    assert status["state"] == "damaged" and "params" in status["message"] and status_code(status) is None


def test_translated_where_shown(monkeypatch):
    import streamlit as st

    monkeypatch.setattr(st, "session_state", {LANG_KEY: "hi"})
    line = status_text.status_plain({"state": "stopped", **coded("stopped_on_request", epoch=1, steps=100)})
    assert line == "अनुरोध पर युग 1 + 100 चरणों पर रोका गया"
