"""A newcomer's first five minutes, run as they are: a fresh checkout, no CVAE_* variables, an empty HOME.

Every other module sets a runs root or a data directory for convenience (tests/conftest.py lists them); these tests
set none of them, so the product's own defaults are what is tested: the runs root of a checkout and of an installed
package, the shipped run, every --help, the trainer the app launches, and the app in a real browser.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from browser_support import AppServer, free_port, open_page, poll, stop_server, wait_healthy, wait_images

REPO = Path(__file__).resolve().parent.parent
SHIPPED_ELBO = "-156.7"  # the tutorial run's last test ELBO (-156.74) as Home's metric shows it


def user_env(home: Path) -> dict[str, str]:
    """The environment of someone who just cloned the project: none of the suite's variables, an empty HOME."""
    drop = ("KERAS_HOME", "PYTHONPATH", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CVAE_") and k not in drop}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    return env


def fresh_checkout(dest: Path) -> Path:
    """What `git clone` of this working tree gives: its tracked and new (not ignored) files, nothing else (no
    .venv, no runs trained here, no caches)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file() and not src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return fresh_checkout(tmp_path_factory.mktemp("clone") / "cvae-explorer")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("newcomer") / "home"


def cli(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120,
        exe: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*(exe or [sys.executable, "-m", "cvae"]), *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_the_checkout_lists_the_shipped_run(clone, home):
    r = cli(["list"], clone, user_env(home))
    assert r.returncode == 0, r.stderr
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("tutorial ")), None)
    assert line is not None, f"`cvae list` in a fresh checkout does not list tutorial: {r.stdout!r} {r.stderr!r}"
    assert "done" in line and "epochs 10/10" in line and "-156.74" in line


def test_every_help_exits_0(clone, home):
    from cvae.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    commands = sorted(sub.choices)
    assert {"train", "eval", "list", "data", "app"} <= set(commands)
    for args in [["--help"], *([c, "--help"] for c in commands)]:
        r = cli(args, clone, user_env(home))
        assert r.returncode == 0 and "usage:" in r.stdout, f"{' '.join(args)}: rc {r.returncode}\n{r.stderr[-800:]}"
    r = cli(["train", "--help"], clone, user_env(home))
    assert "cosine decay to 2% of the rate" in " ".join(r.stdout.split())  # the % that once crashed argparse


def test_data_says_where_it_looked_and_how_to_get_it(clone, home):
    r = cli(["data"], clone, user_env(home))
    assert r.returncode == 1
    assert str(home / ".keras" / "datasets" / "mnist.npz") + ": not found" in r.stderr
    assert "python -m cvae data --download" in r.stderr and "--data-dir DIR" in r.stderr


@pytest.mark.slow
def test_eval_of_the_shipped_run_prints_its_elbo(clone, home, mnist_dir):
    r = cli(["eval", "tutorial", "--data-dir", str(mnist_dir)], clone, user_env(home), timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["run"] == "tutorial"
    assert out["test_elbo"] == pytest.approx(-156.74, abs=0.3)  # the number the run recorded after epoch 10


@pytest.mark.slow
def test_a_trainer_launched_by_the_app_runs_the_apps_own_code(clone, home, mnist_dir, tmp_path):
    """Two checkouts: the environment's editable install points at this repository; an app started in the clone
    must launch a trainer that imports the clone's `cvae`, not the installed one."""
    import cvae

    assert Path(cvae.__file__).resolve().parent != (clone / "cvae").resolve()  # really two checkouts
    runs_dir = tmp_path / "runs"
    snippet = (
        "import json, sys\n"
        "from cvae.explorer.jobs import launcher\n"
        "from cvae.store.config import TrainConfig\n"
        f"cfg = TrainConfig(epochs=1, max_train_examples=64, data_dir={str(mnist_dir)!r})\n"
        f"pid = launcher.launch_training('which-code', cfg, runs_dir={str(runs_dir)!r})\n"
        "print(json.dumps({'pid': pid.pid, 'app_code': launcher.__file__}))\n"
    )
    r = subprocess.run([sys.executable, "-c", snippet], cwd=clone, env=user_env(home), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    launched = json.loads(r.stdout.strip().splitlines()[-1])
    assert Path(launched["app_code"]).resolve().is_relative_to(clone.resolve())
    logs = [runs_dir / ".launches" / "which-code.log", runs_dir / "which-code" / "train.log"]

    def code_line():
        for log in logs:
            try:
                for line in log.read_text(errors="replace").splitlines():
                    if line.startswith("code: cvae ") and " from " in line:
                        return line
            except OSError:
                pass
        return None

    try:
        line = poll(code_line, 90, 0.2, "the trainer's first line")
    finally:
        try:
            os.killpg(launched["pid"], signal.SIGKILL)
        except OSError:
            pass
    assert Path(line.split(" from ", 1)[1]).resolve() == (clone / "cvae").resolve(), line


# ---------------------------------------------------------------------------------------------- a package install

@pytest.fixture(scope="module")
def installed(clone, tmp_path_factory) -> Path:
    """`pip install .` (not editable) of the checkout into a fresh venv that reuses this environment's packages
    (a .pth line pointing at them: nothing is downloaded); returns the venv."""
    base = tmp_path_factory.mktemp("install")
    dist = base / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(dist), str(clone)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                   "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    # This environment's packages after the venv's own (so the venv's cvae wins over an editable one here).
    (purelib / "zz_reuse_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(dist.glob("cvae_explorer-*.whl"))
    inst = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr[-2000:]
    return venv


def test_a_package_install_lists_the_shipped_run_from_any_directory(installed, tmp_path):
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    home = tmp_path / "home"
    env = user_env(home)
    where = cli(["-c", "import cvae; print(cvae.__file__)"], elsewhere, env, exe=[str(installed / "bin" / "python")])
    assert Path(where.stdout.strip()).resolve().is_relative_to(installed.resolve())  # the installed copy runs
    r = cli(["list"], elsewhere, env, exe=[str(installed / "bin" / "cvae")])
    assert r.returncode == 0, r.stderr
    assert any(ln.startswith("tutorial ") and "-156.74" in ln for ln in r.stdout.splitlines()), r.stdout + r.stderr
    runs_root = home / ".local" / "share" / "cvae-explorer" / "runs"
    assert (runs_root / "tutorial" / "weights.npz").is_file()  # the first use made the user's copy
    for args in (["--help"], ["train", "--help"], ["app", "--help"]):
        h = cli(args, elsewhere, env, exe=[str(installed / "bin" / "cvae")])
        assert h.returncode == 0, h.stderr


# ---------------------------------------------------------------------------------------------- the app, in a browser

def start_app(argv: list[str], cwd: Path, env: dict[str, str], log: Path, port: int,
              timeout: float = 120) -> AppServer:
    """Start the app as a user does (their command, directory and environment) and wait for its health check."""
    out = open(log, "ab")
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()
    return wait_healthy(AppServer(proc, port, Path(env.get("HOME", "/")), log), timeout)


SERVE = ["--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]


@pytest.fixture(scope="module")
def browser():
    from browser_support import chromium

    with chromium() as b:
        yield b


def home_shows_the_shipped_run(page, url: str) -> str:
    from browser_support import main_text

    open_page(page, url, 120)
    poll(lambda: SHIPPED_ELBO in main_text(page).replace("−", "-"), 60, 0.3, "Home to show the tutorial run")
    return main_text(page)


@pytest.mark.browser
def test_the_checkout_app_shows_the_shipped_run_drags_and_reconstructs(clone, home, browser, tmp_path):
    from test_latent_pad import client_of, next_frame, open_pad, pad_frames, pad_pixels

    port = free_port()
    server = start_app([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), *SERVE],
                       clone, user_env(home), tmp_path / "app.log", port)
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    try:
        text = home_shows_the_shipped_run(page, server.url)
        assert "There is no trained model yet" not in text and "tutorial" in text
        # The latent pad: the decoder repaints while the mouse drags.
        open_pad(page, server, "z=0,0")
        page.mouse.move(*client_of(page, (0.0, 0.0)))
        page.mouse.down()
        before, frames, changed = pad_pixels(page), pad_frames(page), 0
        for i in range(1, 6):
            page.mouse.move(*client_of(page, (0.4 * i, -0.3 * i)))
            next_frame(page)
            now = pad_pixels(page)
            changed += now != before
            before = now
        page.mouse.up()
        assert pad_frames(page) > frames and changed >= 4, f"the pad repainted {changed} of 5 moves"
        # Reconstruct shows a digit.
        open_page(page, server.page_url("recon"), 120)
        wait_images(page)
        poll(lambda: page.locator('[data-testid="stMain"] [data-testid="stImage"] img').count() > 0
             or page.locator('[data-testid="stMain"] .js-plotly-plot').count() > 0, 60, 0.3, "a digit")
        shots = REPO / "test-artifacts" / "newcomer"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "reconstruct.png"))
    finally:
        ctx.close()
        stop_server(server)


@pytest.mark.browser
def test_the_installed_app_shows_the_shipped_run(installed, browser, tmp_path):
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    port = free_port()
    server = start_app([str(installed / "bin" / "cvae"), "app", "--server.port", str(port), *SERVE],
                       elsewhere, user_env(tmp_path / "home"), tmp_path / "app.log", port)
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    try:
        text = home_shows_the_shipped_run(page, server.url)
        assert "tutorial" in text
        shots = REPO / "test-artifacts" / "newcomer"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "installed_home.png"))
    finally:
        ctx.close()
        stop_server(server)
