"""First load of the Latent plane page: reading the trainer's stored means vs encoding the test digits.

Each measurement is a fresh Python process (cold Streamlit caches) running app.py in AppTest, then timing the
switch to app_pages/2_Latent_plane.py (the page's whole first script run: test set, model, map, figure). Cases
alternate; medians. The same run both ways: a copy of checkpoints/tutorial with a latent_means.npz holding the
NumPy encoder's means of the first 2,000 test digits (what the trainer stores at its last epoch).

    .venv/bin/python -m bench.latent_first_load --before DIR   # DIR: a checkout of the code before the change
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHILD = r"""
import sys, time
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=300).run()
t0 = time.perf_counter()
at.switch_page("app_pages/2_Latent_plane.py").run()
dt = time.perf_counter() - t0
assert not at.exception, [e.value for e in at.exception]
print(dt)
"""


def make_root(data_dir: str) -> Path:
    """A runs root with a copy of the shipped run and its stored map (the first 2,000 test digits)."""
    sys.path.insert(0, str(REPO))
    from cvae.data.sources import binarize, load_dataset
    from cvae.explorer.maths.numpy_model import load_numpy_model
    from cvae.store import latent_means, runs

    root = Path(tempfile.mkdtemp(prefix="cvae-first-load-"))
    run = root / "tutorial"
    shutil.copytree(REPO / "checkpoints" / "tutorial", run)
    ds = load_dataset("mnist", data_dir)
    n = latent_means.MAP_DIGITS
    means, _ = load_numpy_model(run).encode(binarize(ds.test_images[:n]))
    latent_means.write_epoch(run, int(runs.read_status(run)["epoch"]), means, ds.test_labels[:n])
    return root


def measure(code_dir: Path, root: Path, data_dir: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(code_dir), "CVAE_RUNS_DIR": str(root), "CVAE_DATA_DIR": data_dir}
    r = subprocess.run([sys.executable, "-c", CHILD, str(code_dir / "app.py")], cwd=code_dir, env=env,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit(r.stderr[-2000:])
    return float(r.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--before", required=True, help="a checkout of the code before the stored means")
    p.add_argument("--data-dir", default=os.environ.get("CVAE_BENCH_DATA_DIR", str(REPO.parent / "shared/data/mnist")))
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    root = make_root(a.data_dir)
    times: dict[str, list[float]] = {"before": [], "after": []}
    try:
        for i in range(a.reps):
            order = ("before", "after") if i % 2 == 0 else ("after", "before")
            for case in order:
                times[case].append(measure(Path(a.before) if case == "before" else REPO, root, a.data_dir))
                print(case, f"{times[case][-1]:.2f} s", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({"median_seconds": med, "all": times, "ratio": med["before"] / med["after"],
                      "loadavg": os.getloadavg()}))


if __name__ == "__main__":
    main()
