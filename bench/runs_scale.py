"""Cost of a page rerun against the size of the runs root (issue #10).

    /work/main/.venv/bin/python -m bench.runs_scale [--reps 7] [--sizes 1,300,1000] [--big-rows 200000]

Builds synthetic runs in a temporary runs root per size (config.json and weights.npz of checkpoints/tutorial,
its real 10-epoch metrics.jsonl (390 rows) and status.json, a distinct `created` per run), then drives the pages
in this process with Streamlit's AppTest, as the server would: one AppTest per case, a first run to warm it,
then `at.run()` reruns timed, cases alternating in rotating order, medians.

  latent N   the Latent plane page, runs root of N runs (what every slider move costs on the server)
  runs N     the Runs page, runs root of N runs
  train      the Train page of one run holding a metrics.jsonl of --big-rows step rows (+ the 10 epoch rows),
             against the Train page of the plain tutorial-like run ("train 1")

Prints a table and, as the last line, one JSON object with the medians (ms) and the ratios against 1 run.
Target: with 1,000 runs, within 1.5x of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from .common import ROOT, alternate, cpu_info, median, print_header, table, verdict, write_json

TUTORIAL = ROOT / "checkpoints" / "tutorial"
SELECTED = "selected"


def make_root(base: Path, n: int, big_rows: int = 0) -> Path:
    """A runs root of n runs (the first named SELECTED); big_rows > 0: the selected run logs that many steps."""
    root = base / f"root-{n}{'-big' if big_rows else ''}"
    root.mkdir()
    status = json.loads((TUTORIAL / "status.json").read_text())
    metrics = (TUTORIAL / "metrics.jsonl").read_bytes()
    for i in range(n):
        run = root / (SELECTED if i == 0 else f"run-{i:04d}")
        run.mkdir()
        shutil.copyfile(TUTORIAL / "config.json", run / "config.json")
        os.link(TUTORIAL / "weights.npz", run / "weights.npz")  # 280 kB x 1,000: share the bytes
        (run / "status.json").write_text(json.dumps({**status, "created": status["created"] - i}))
        (run / "metrics.jsonl").write_bytes(metrics)
    if big_rows:
        epochs = [json.loads(line) for line in metrics.splitlines() if b'"epoch"' in line and b'"kind": "epoch"' in line]
        t0 = status["created"]
        with open(root / SELECTED / "metrics.jsonl", "w") as f:
            per_epoch = big_rows // 10
            for e in range(1, 11):
                for s in range((e - 1) * per_epoch + 1, e * per_epoch + 1):
                    f.write(json.dumps({"elapsed_seconds": s * 0.01, "epoch": e, "kind": "step",
                                        "loss": 160.0 + 100.0 / s ** 0.3, "step": s, "time": t0 + s * 0.01}) + "\n")
                if e - 1 < len(epochs):
                    f.write(json.dumps({**epochs[e - 1], "step": e * per_epoch}) + "\n")
    return root


def page_case(root: Path, page: str):
    """A warmed AppTest on `page` with runs root `root`; returns the function timing one rerun (seconds)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.session_state["cvae_selected_run"] = SELECTED

    def with_root(fn):
        old = os.environ.get("CVAE_RUNS_DIR")
        os.environ["CVAE_RUNS_DIR"] = str(root)
        try:
            return fn()
        finally:
            if old is None:
                os.environ.pop("CVAE_RUNS_DIR", None)
            else:
                os.environ["CVAE_RUNS_DIR"] = old

    def first():
        at.run()
        at.switch_page(page).run()
        at.run()
        if at.exception:
            raise SystemExit(f"{page} with {root.name}: {[e.value for e in at.exception]}")

    with_root(first)

    def rerun() -> float:
        t0 = time.perf_counter()
        with_root(at.run)
        return time.perf_counter() - t0

    return rerun


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.runs_scale", description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--sizes", default="1,300,1000")
    p.add_argument("--big-rows", type=int, default=200_000)
    a = p.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",")]
    import numpy
    import streamlit

    # Not common.machine_header(): it imports TensorFlow, which the app's server process never does.
    info = {**cpu_info(), "versions": {"numpy": numpy.__version__, "streamlit": streamlit.__version__}}
    print_header("runs_scale: per-rerun server time against the size of the runs root (issue #10)", info)
    os.environ.setdefault("HOME", tempfile.gettempdir())
    base = Path(tempfile.mkdtemp(prefix="cvae-runs-scale-"))
    old_home = os.environ.get("HOME")
    os.environ["HOME"] = str(base)  # no Keras cache: the pages use the bundled 1,000-digit sample
    os.environ.pop("CVAE_DATA_DIR", None)
    try:
        t0 = time.perf_counter()
        roots = {n: make_root(base, n) for n in sizes}
        big = make_root(base, 1, a.big_rows)
        print(f"made {sum(sizes)} runs + one with {a.big_rows:,} step rows in {time.perf_counter() - t0:.1f} s",
              flush=True)
        cases = {}
        for n in sizes:
            cases[f"latent {n}"] = page_case(roots[n], "app_pages/2_Latent_plane.py")
            cases[f"runs {n}"] = page_case(roots[n], "app_pages/5_Runs.py")
        cases["train 1"] = page_case(roots[min(sizes)], "app_pages/1_Train.py")
        cases[f"train {a.big_rows} rows"] = page_case(big, "app_pages/1_Train.py")
        results = alternate(cases, a.reps)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if old_home is not None:
            os.environ["HOME"] = old_home
    med = {k: median(v) * 1000 for k, v in results.items()}
    one = min(sizes)
    ratios, min_ratios = {}, {}
    rows = []
    for k, ms in med.items():
        kind = k.split()[0]
        ref = f"{kind} {one}"
        ratios[k] = ms / med[ref]
        min_ratios[k] = min(results[k]) / min(results[ref])  # the least disturbed rerun of each (shared cores)
        rows.append([k, f"{ms:,.0f}", f"{min(results[k]) * 1000:,.0f}", f"{max(results[k]) * 1000:,.0f}",
                     f"{ratios[k]:.2f}x", f"{min_ratios[k]:.2f}x"])
    print()
    print(table(rows, ["case", "median ms", "min ms", "max ms", f"median vs {one} run", f"min vs {one} run"]))
    worst = max(ratios[f"{kind} {max(sizes)}"] for kind in ("latent", "runs"))
    print(f"\ntarget: {max(sizes):,} runs within 1.5x of {one}: worst {worst:.2f}x -> "
          f"{verdict(worst, 1.5, higher_is_better=False)}")
    payload = {"benchmark": "runs_scale", "reps": a.reps, "median_ms": {k: round(v, 1) for k, v in med.items()},
               "ratio_vs_one_run": {k: round(v, 3) for k, v in ratios.items()},
               "min_ratio_vs_one_run": {k: round(v, 3) for k, v in min_ratios.items()}, "worst_ratio": round(worst, 3),
               "machine": {k: info.get(k) for k in ("cpu_model", "logical_cores", "loadavg_at_start")}}
    write_json("runs_scale", {**payload, "machine": info, "seconds": results})
    print(json.dumps(payload, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
