"""The true posterior in the app: seconds per digit for exact log p(x) + the gap decomposition (NumPy, what the
Reconstruct and Your digit pages run), against the page's own IWAE estimate (NumPy, k = 1000) of the same digits,
measured alternately in one process. Also the one-off plane scan per run.

    .venv/bin/python -m bench.posterior [--digits 10] [--reps 3]

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench.common import ROOT, alternate, machine_header, median, print_header, write_json


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--digits", type=int, default=10)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--run", default=str(ROOT / "checkpoints" / "tutorial"))
    a = p.parse_args()

    from cvae.data.sample import load_bundled_sample
    from cvae.data.sources import model_input
    from cvae.explorer.maths.gaps import gaps_from
    from cvae.explorer.maths.numpy_model import load_numpy_model
    from cvae.explorer.maths.posterior import PlaneScan, exact_log_marginal, model_log_joint
    from cvae.explorer.ui.posterior_ui import APP_REFINE_ABOVE, APP_SCAN_POINTS

    info = machine_header()
    print_header("exact log p(x) per digit in the app (NumPy)", info)
    model = load_numpy_model(a.run)
    x = model_input(load_bundled_sample()[0][: a.digits]).reshape(-1, 28, 28, 1)
    t0 = time.perf_counter()
    scan = PlaneScan(model, points=APP_SCAN_POINTS)
    scan_seconds = time.perf_counter() - t0
    mean, logvar = model.encode(x)

    def exact() -> dict:
        out = []
        for i in range(len(x)):
            t = time.perf_counter()
            res = exact_log_marginal(model_log_joint(model, x[i:i + 1]), mean[i], np.exp(0.5 * logvar[i]),
                                     scan(x[i:i + 1]), refine_above=APP_REFINE_ABOVE)
            gaps_from(res, mean[i].astype(np.float64), 0.5 * logvar[i].astype(np.float64))
            out.append(time.perf_counter() - t)
        return {"median_s": median(out), "max_s": max(out), "all": out}

    def iwae() -> dict:
        out = []
        for i in range(len(x)):
            t = time.perf_counter()
            model.iwae(x[i:i + 1], 1000, rng=np.random.default_rng(0))
            out.append(time.perf_counter() - t)
        return {"median_s": median(out), "max_s": max(out), "all": out}

    res = alternate({"exact + gaps": exact, "iwae k=1000": iwae}, a.reps)
    ex = median([r["median_s"] for r in res["exact + gaps"]])
    iw = median([r["median_s"] for r in res["iwae k=1000"]])
    worst = max(max(r["all"]) for r in res["exact + gaps"])
    summary = {"bench": "posterior", "digits": a.digits, "reps": a.reps, "scan_points": APP_SCAN_POINTS,
               "scan_seconds": round(scan_seconds, 3), "exact_median_s_per_digit": round(ex, 4),
               "exact_worst_s": round(worst, 4), "iwae1000_median_s_per_digit": round(iw, 4),
               "exact_over_iwae1000": round(ex / iw, 3), "loadavg_at_start": info["loadavg_at_start"]}
    write_json("posterior", {"machine": info, "results": res, "summary": summary})
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
