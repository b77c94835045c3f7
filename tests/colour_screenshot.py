"""Make docs/screenshots/latent_plane_colour.png: a colour run trained on GENERATED CIFAR-10-format data (class-coloured
shapes from tests/cifar_support.py, not real CIFAR-10), shown on the Latent plane page in Debian's Chromium.

    PYTHONPATH=. .venv/bin/python tests/colour_screenshot.py [--epochs 8]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_support import (REPO, VIEWPORT, click_plotly, full_page_screenshot, keyed, launch_browser,  # noqa: E402
                             open_page, poll, running_server, slider_values, wait_idle, wait_images,
                             wait_plotly_charts)
from cifar_support import make_cifar_dir  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--z", type=float, nargs=2, default=None, help="click the map here before the screenshot")
    ap.add_argument("--out", default=str(REPO / "docs" / "screenshots" / "latent_plane_colour.png"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = make_cifar_dir(tmp / "data", per_train_file=400, n_test=1000, seed=1)
        subprocess.run([sys.executable, "-m", "cvae", "train", "--name", "colour-demo", "--runs-dir", str(tmp / "runs"),
                        "--data-dir", str(data), "--dataset", "cifar10", "--likelihood", "discretized_logistic",
                        "--epochs", str(a.epochs), "--learning-rate", "1e-3"], check=True, cwd=REPO)
        from playwright.sync_api import sync_playwright

        with running_server(tmp / "runs", None, tmp / "server.log") as server, sync_playwright() as p:
            browser = launch_browser(p)
            page = browser.new_context(viewport=VIEWPORT, device_scale_factor=1).new_page()
            open_page(page, server.page_url("Latent_plane"))
            wait_plotly_charts(page)
            wait_images(page)
            wait_idle(page)
            if a.z:
                click_plotly(page, keyed("lp_map"), *a.z)
                poll(lambda: slider_values(page, keyed("lp_z0")) != [0.0], 60, 0.2, "z to follow the click")
                wait_idle(page)
            full_page_screenshot(page, Path(a.out))
            browser.close()
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
