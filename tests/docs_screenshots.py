"""Make the README's screenshots that need freshly trained runs: docs/screenshots/train_latent_map.png (the Train
page of a 2-D run with the latent map's animation), latent_plane_d8.png (the Latent plane of an 8-D run) and
diagnostics_epochs.png (the Diagnostics page of the 8-D run: KL per dimension epoch by epoch). Both
runs: `--preset fast`, real MNIST, a few epochs (a couple of minutes on two cores).

    PYTHONPATH=. .venv/bin/python tests/docs_screenshots.py --data-dir ../shared/data/mnist [--epochs 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_support import (REPO, VIEWPORT, chromium, full_page_screenshot, keyed, open_page, poll,  # noqa: E402
                             running_server, wait_idle, wait_images, wait_plotly_charts)


def train(runs: Path, name: str, data_dir: str, epochs: int, latent_dim: int) -> None:
    subprocess.run([sys.executable, "-m", "cvae", "train", f"--name={name}", f"--runs-dir={runs}",
                    f"--data-dir={data_dir}", "--preset=fast", f"--epochs={epochs}", f"--latent-dim={latent_dim}"],
                   check=True, cwd=REPO)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True, help="real MNIST (IDX files)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    a = ap.parse_args()
    out = Path(a.out)
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        train(runs, "fast-2d", a.data_dir, a.epochs, 2)
        train(runs, "fast-8d", a.data_dir, a.epochs, 8)
        with running_server(runs, a.data_dir, Path(tmp) / "server.log") as server, chromium() as browser:
            page = browser.new_context(viewport=VIEWPORT, device_scale_factor=1).new_page()
            page.set_default_timeout(60_000)
            open_page(page, server.page_url("Train") + "?run=fast-2d")
            page.locator(keyed("run_picker")).click()
            page.get_by_role("option").filter(has_text="fast-2d").first.click()
            poll(lambda: page.locator(keyed("tr_map_anim_fast-2d")).count() == 1, 90, 0.2, "the map animation")
            wait_plotly_charts(page)
            wait_images(page)
            wait_idle(page)
            full_page_screenshot(page, out / "train_latent_map.png")
            open_page(page, server.page_url("Latent_plane") + "?run=fast-8d&z=" + ",".join(["0.5"] * 8))
            poll(lambda: page.evaluate("() => (window.__cvaeLatentPad?.pads()[0]?.stats.frames || 0) > 0"), 90,
                 0.2, "the latent pad to draw")
            wait_plotly_charts(page)
            wait_idle(page)
            full_page_screenshot(page, out / "latent_plane_d8.png")
            open_page(page, server.page_url("Diagnostics"))  # the picker keeps fast-8d (the session's run)
            poll(lambda: page.locator(keyed("dg_kl_epochs")).count() == 1, 90, 0.2, "the KL-per-epoch heatmap")
            wait_plotly_charts(page)
            wait_images(page)
            wait_idle(page)
            full_page_screenshot(page, out / "diagnostics_epochs.png")
    print(f"wrote train_latent_map.png, latent_plane_d8.png and diagnostics_epochs.png in {out}")


if __name__ == "__main__":
    main()
