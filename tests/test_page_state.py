"""Each page's own selection travels in its address (#26 item 4): written when the user changes it, restored from
the address in a fresh session, and a bad value is ignored with a one-line note."""

from __future__ import annotations

import pytest

from cvae.explorer import page_state
from test_addresses import open_with, qp
from test_app import make_run, no_exceptions


def notes(at) -> list[str]:
    return [c.value for c in at.caption if "not a valid choice here" in c.value]


def test_parsers_refuse_what_they_do_not_know():
    assert page_state.int_in(0, 9)("7") == 7
    for bad in ("10", "-1", "x", "1e3", ""):
        with pytest.raises(ValueError):
            page_state.int_in(0, 9)(bad)
    parse, fmt = page_state.dim_of(8)
    assert parse("8") == 7 and fmt(7) == "8"
    with pytest.raises(ValueError):
        parse("0")
    assert page_state.names_in(["a", "b"])("b,a,b") == ["b", "a"]
    with pytest.raises(ValueError):
        page_state.names_in(["a"])("a,c")
    assert page_state.floats_in(2, -4, 4)("1.5,-2") == [1.5, -2.0]
    for bad in ("nan,0", "1", "9,0", "inf,0"):
        with pytest.raises(ValueError):
            page_state.floats_in(2, -4, 4)(bad)
    assert page_state.join_floats([1.5, -2.0, 0.25]) == "1.5,-2,0.25"


def test_reconstruct_restores_mode_index_count_and_k(root):
    make_run(root, "r", created=100.0)
    at = open_with("pages/3_Reconstruct.py", run="r", digits="index", i="42", n="2", k="1000")
    no_exceptions(at)
    assert at.radio(key="rc_mode").value == "By index"
    assert at.number_input(key="rc_index").value == 42
    assert at.slider(key="rc_count").value == 2 and at.selectbox(key="rc_iwae_k").value == 1000
    assert not notes(at)
    at.number_input(key="rc_index").set_value(7).run()
    assert qp(at, "i") == "7" and at.number_input(key="rc_index").value == 7


def test_reconstruct_by_class_writes_class_and_seed_and_drops_the_index(root):
    make_run(root, "r", created=100.0)
    at = open_with("pages/3_Reconstruct.py", run="r", digits="class", **{"class": "3"}, seed="5", i="9")
    no_exceptions(at)
    assert at.radio(key="rc_mode").value == "By class" and at.selectbox(key="rc_class").value == 3
    assert qp(at, "seed") == "5" and qp(at, "class") == "3" and qp(at, "i") is None


def test_reconstruct_ignores_bad_values_with_a_note(root):
    make_run(root, "r", created=100.0)
    at = open_with("pages/3_Reconstruct.py", run="r", digits="index", i="99999", k="7")
    no_exceptions(at)
    assert at.number_input(key="rc_index").value == 0 and at.selectbox(key="rc_iwae_k").value == 100
    assert len(notes(at)) == 2 and "'99999'" in notes(at)[0]
    assert qp(at, "i") == "0" and qp(at, "k") == "100"  # the address follows the page
