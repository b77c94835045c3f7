"""Issue #20, the findings that need the app (AppTest): hostile text from run files and the URL on every page,
epochs cross-checked on Home and Train, the read-only shipped run, the Train form's memory refusal, and
tracebacks switched off. Each failed on main at 572ca2d (docs/reliability.md)."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest

from cvae.explorer.jobs import launches
from cvae.explorer.ui.text import code, md
from cvae.store import runs
from cvae.store.files import atomic_write_json

from test_app import make_run, no_exceptions, no_launch  # noqa: F401 (no_launch: a fixture)

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 120

# Every payload holds one of these; none may reach markdown unescaped (escaped, they render as plain text).
MARKERS = ("https://evil.example", "www.evil.example", "[Log in", "![x", "<img", "`code`", "**loud**")
STATUS_PAYLOAD = ("x` [Log in again](https://evil.example/login) ![x](https://evil.example/t.png) `code` **loud** "
                  "<img src=https://evil.example/i.png> www.evil.example")
URL_PAYLOAD = "[Log in again](https://evil.example/login)"


def outside_code_spans(source: str) -> str:
    """`source` without its inline code spans (CommonMark: a run of n unescaped backticks opens a span that the next
    run of exactly n closes; inside it nothing is markdown). An unclosed run stays as text."""
    out, i = [], 0
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            out.append(source[i:i + 2])
            i += 2
            continue
        if ch == "`":
            n = len(source[i:]) - len(source[i:].lstrip("`"))
            close = re.compile(r"(?<!`)" + "`" * n + r"(?!`)").search(source, i + n)
            if close:
                out.append(" ")
                i = close.end()
                continue
            out.append(source[i:i + n])
            i += n
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def unescaped(source: str, marker: str) -> bool:
    """True if `marker` occurs in markdown `source` outside code spans with its first character not escaped."""
    source = outside_code_spans(source)
    for m in re.finditer(re.escape(marker), source):
        slashes = len(source[:m.start()]) - len(source[:m.start()].rstrip("\\"))
        if slashes % 2 == 0:
            return True
    return False


def markdown_sources(at) -> list[str]:
    """The markdown source of everything the page renders as markdown: text elements, alerts, and labels."""
    out = []
    for kind in ("markdown", "caption", "info", "error", "warning", "success", "title", "header", "subheader",
                 "toast"):
        out += [str(e.value) for e in getattr(at, kind)]
    for kind in ("button", "checkbox", "toggle", "selectbox", "multiselect", "text_input", "number_input",
                 "slider", "radio", "expander", "tabs"):
        for w in getattr(at, kind, []):
            out.append(str(getattr(w, "label", "")))
            if kind == "radio":  # radio options render markdown too
                out += [str(o) for o in getattr(w, "options", [])]
    return out


def assert_shown_as_text(at, page: str) -> None:
    no_exceptions(at)
    for src in markdown_sources(at):
        for marker in MARKERS:
            assert not unescaped(src, marker), (page, marker, src)


@pytest.fixture
def hostile_root(root):
    """A run whose status message is hostile markdown, and a damaged one whose bad field holds it."""
    run = make_run(root, "victim")
    runs.write_status(run, message=STATUS_PAYLOAD, state="stopped")
    bad = make_run(root, "damaged", created=1.0)
    status = runs.read_status(bad)
    atomic_write_json(bad / runs.STATUS_FILE, {**status, "source": {"x": STATUS_PAYLOAD}, "pid": STATUS_PAYLOAD})
    return root


PAGES = ["home.py", "app_pages/0_Lesson.py", "app_pages/1_Train.py", "app_pages/2_Latent_plane.py", "app_pages/3_Reconstruct.py",
         "app_pages/4_Manifold.py", "app_pages/5_Runs.py", "app_pages/6_Interpolate.py", "app_pages/7_Your_digit.py",
         "app_pages/8_Diagnostics.py"]


def page(path: str, run: str | None, query: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    if run:
        at.session_state["cvae_selected_run"] = run
    if path != "home.py":  # the address is the page's own: opened on that page, as a shared link is
        at.run()
        at.switch_page(path)
        at.query_params.clear()
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def test_markers_are_found_outside_code_spans_only():
    """The checker itself: it sees a payload that breaks out of a too-short fence, not one inside a long enough one."""
    assert unescaped(f"a {URL_PAYLOAD} b", "[Log in") and not unescaped(f"a {md(URL_PAYLOAD)} b", "[Log in")
    assert not unescaped(f"a {md(STATUS_PAYLOAD)} b", "[Log in")
    assert unescaped(f"`{STATUS_PAYLOAD}`", "[Log in")  # the first backtick of the payload closes the span
    assert not unescaped(code(STATUS_PAYLOAD), "[Log in") and not unescaped(code(STATUS_PAYLOAD), "`code`")


@pytest.mark.parametrize("run", ["victim", "damaged"])
def test_hostile_run_text_is_shown_as_text_on_every_page(hostile_root, run):
    """Finding 4. A status message with a backtick escaped its code span and rendered a link and a remote image on
    Home and Train (572ca2d); a damaged field's value is quoted in its message. Every page, as text."""
    shown = {}
    for path in PAGES:
        at = page(path, run)
        assert_shown_as_text(at, path)
        shown[path] = "\n".join(markdown_sources(at))
    if run == "victim":  # the message is there, escaped: the test can see it (it is not merely absent)
        for path in ("home.py", "app_pages/1_Train.py"):
            assert code(STATUS_PAYLOAD) in shown[path], path


def test_hostile_url_text_is_shown_as_text(hostile_root):
    """Finding 4. `/Latent_plane?run=[Log in again](https://…)` rendered a link to another host (572ca2d)."""
    for query in ({"run": URL_PAYLOAD}, {"run": "![x](https://evil.example/x.png)", "z": URL_PAYLOAD},
                  {"run": "victim", "view": "<img src=https://evil.example/i.png>"}):
        at = page("app_pages/2_Latent_plane.py", None, query)
        assert_shown_as_text(at, str(query))
    at = page("app_pages/2_Latent_plane.py", None, {"run": URL_PAYLOAD})
    assert any(md(URL_PAYLOAD)[:20] in s for s in markdown_sources(at))


def test_epochs_shown_on_home_and_train_come_from_the_metrics(root):
    """Finding 6. status.json says epoch 12, metrics.jsonl holds 3 epochs of a 3-epoch run: Home showed "12 / 3".
    Now: 3 / 3, and the run is damaged, naming the field."""
    run = make_run(root, "liar", epochs=3)
    runs.write_status(run, epoch=12)
    at = page("home.py", "liar")
    no_exceptions(at)
    assert [m.value for m in at.metric if "/" in str(m.value)] == ["3 / 3"]
    text = "\n".join(markdown_sources(at))
    assert "damaged" in text and md("'epoch'") in text
    at = page("app_pages/1_Train.py", "liar")
    no_exceptions(at)
    text = "\n".join(markdown_sources(at))
    assert "damaged" in text and md("'epoch'") in text and "12/" not in text.replace(" ", "")


def copy_tutorial(root: Path) -> Path:
    return Path(shutil.copytree(REPO / "checkpoints" / "tutorial", root / "tutorial"))


def test_the_shipped_run_cannot_be_deleted_from_the_runs_page(root):
    """Finding 2. The Runs page offered Delete for the shipped tutorial (572ca2d); now it says read-only."""
    copy_tutorial(root)
    at = page("app_pages/5_Runs.py", "tutorial")
    no_exceptions(at)
    assert not [b for b in at.button if b.key == "rn_delete"]
    assert any("read-only" in i.value for i in at.info)
    assert (root / "tutorial" / runs.WEIGHTS_FILE).is_file()


def test_the_shipped_run_is_copied_to_train_further(root, no_launch):  # noqa: F811
    """Finding 2. The Train page offers no Resume / Train further for the shipped run, but a copy that can be."""
    copy_tutorial(root)
    at = page("app_pages/1_Train.py", "tutorial")
    no_exceptions(at)
    keys = {b.key for b in at.button}
    assert "tr_copy" in keys and "tr_resume" not in keys and "tr_extend" not in keys
    at.button(key="tr_copy").click().run()
    no_exceptions(at)
    assert (root / "my-tutorial" / runs.WEIGHTS_FILE).is_file() and (root / "tutorial").is_dir()
    assert at.session_state["cvae_selected_run"] == "my-tutorial"
    at.run()
    assert "tr_extend" in {b.key for b in at.button}  # the copy (done, 10 epochs) trains further
    assert no_launch == []


def test_the_train_form_refuses_what_cannot_fit_in_memory(root, no_launch):  # noqa: F811
    """Finding 8. Width 512 with batch 60,000 would need hundreds of GB; the form warned about time only (572ca2d).
    Now it refuses with both figures, and launches nothing."""
    at = page("app_pages/1_Train.py", None)
    at.text_input(key="tr_name").input("huge")
    at.number_input(key="tr_filters1").set_value(512)
    at.number_input(key="tr_filters2").set_value(512)
    at.number_input(key="tr_batch_size").set_value(60_000)
    at.button(key="tr_start").click().run()
    no_exceptions(at)
    errors = " | ".join(e.value for e in at.error)
    total = next(int(line.split()[1]) * 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal:"))
    assert "Too large for this machine" in errors and "GB" in errors, errors
    assert f"{total / 1e9:,.1f}" in errors, errors
    assert no_launch == []
    assert launches.pending(root) == {}


def test_tracebacks_are_never_shown_to_users():
    """Finding 7. Streamlit's default shows the full traceback (with server paths); config.toml turns it off, and
    Streamlit reads it as such from the project directory."""
    import subprocess
    import sys

    conf = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert conf["client"]["showErrorDetails"] == "none"
    out = subprocess.run([sys.executable, "-c", "from streamlit import config; "
                          "config.get_config_options(force_reparse=True); "
                          "print(config.get_option('client.showErrorDetails'))"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "none", out.stderr


def test_a_deeply_nested_component_state_is_refused_not_a_recursion_error():
    """Finding 7. A 5,000-level nested JSON as the pad's (or canvas's) component state raised RecursionError in
    Streamlit's json.loads (a traceback, and the page broken until the user left it). Now it reads as empty."""
    from streamlit.components.v2.bidi_component.serialization import BidiComponentSerde, deserialize_trigger_list

    from cvae.explorer.ui import latent_pad

    latent_pad._component()  # what mounting the pad does first
    deep = "[" * 5000 + "]" * 5000
    assert BidiComponentSerde().deserialize('{"z": ' + deep + "}") == {}
    assert all(not isinstance(v, (list, dict)) for v in deserialize_trigger_list(deep))
    assert BidiComponentSerde().deserialize('{"z": [1.5, -2]}') == {"z": [1.5, -2]}
