"""`streamlit` for bench/app_latency.py: optionally import TensorFlow first, and time every script run.

    python bench/_serve.py run app.py --server.port 8600 ...      (the arguments of the `streamlit` command)

Environment:
  CVAE_BENCH_IMPORT_TF=1      import tensorflow and keras into the server process before Streamlit starts. That is
                              the "before" world of issue 3: with keras in sys.modules, Streamlit calls
                              keras.backend.clear_session() after every script run (script_runner's
                              _clean_problem_modules), and the ~300k objects of TensorFlow make every
                              gc.collect(2) of runner.postScriptGC slower.
  CVAE_BENCH_TIMINGS=<file>   append JSON lines per ScriptRunner._run_script call: {"event": "start"} when it
                              begins, and at its end {"event": "end"} with total seconds, the parts spent in
                              _on_script_finished (which runs gc.collect(2) when runner.postScriptGC is true) and
                              in _clean_problem_modules (keras clear_session), the time spent in garbage
                              collection (gc.callbacks) in all and inside those two, and "runs": the script runs
                              inside the call (a rerun request interrupting a run continues in the same call).

Benchmark-only instrumentation: the app itself is not changed.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

# Run as a script, this file's folder (bench/) heads sys.path: drop it, so the app sees the usual import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

if os.environ.get("CVAE_BENCH_IMPORT_TF") == "1":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

_TIMINGS = os.environ.get("CVAE_BENCH_TIMINGS")


def _instrument(path: str) -> None:
    import gc

    from streamlit.runtime.scriptrunner import script_runner as sr

    local = threading.local()
    lock = threading.Lock()
    gc_time = {"total": 0.0, "t0": 0.0}  # seconds inside any garbage collection (automatic or forced)
    run_script, on_finished, clean = sr.ScriptRunner._run_script, sr.ScriptRunner._on_script_finished, \
        sr._clean_problem_modules

    def on_gc(phase, info):
        if phase == "start":
            gc_time["t0"] = time.perf_counter()
        else:
            gc_time["total"] += time.perf_counter() - gc_time["t0"]

    gc.callbacks.append(on_gc)

    def write(rec):
        with lock, open(path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def timed_run_script(self, rerun_data):
        local.finish = local.clean = local.gc_post = 0.0
        local.runs = 0
        t_start = time.time()
        write({"event": "start", "t_start": t_start})
        gc0 = gc_time["total"]
        t0 = time.perf_counter()
        try:
            return run_script(self, rerun_data)
        finally:
            write({"event": "end", "t_start": t_start, "total_s": time.perf_counter() - t0,
                   "finish_s": local.finish, "clean_s": local.clean, "runs": local.runs,
                   "gc_s": gc_time["total"] - gc0, "gc_post_s": local.gc_post,
                   "fragment": bool(getattr(rerun_data, "fragment_id_queue", None))})

    def timed_on_finished(self, *args, **kwargs):
        t0, gc0 = time.perf_counter(), gc_time["total"]
        try:
            return on_finished(self, *args, **kwargs)
        finally:
            local.finish = getattr(local, "finish", 0.0) + time.perf_counter() - t0
            local.gc_post = getattr(local, "gc_post", 0.0) + gc_time["total"] - gc0
            local.runs = getattr(local, "runs", 0) + 1

    def timed_clean():
        t0, gc0 = time.perf_counter(), gc_time["total"]
        try:
            return clean()
        finally:
            local.clean = getattr(local, "clean", 0.0) + time.perf_counter() - t0
            local.gc_post = getattr(local, "gc_post", 0.0) + gc_time["total"] - gc0

    sr.ScriptRunner._run_script = timed_run_script
    sr.ScriptRunner._on_script_finished = timed_on_finished
    sr._clean_problem_modules = timed_clean  # looked up as a module global at call time


if __name__ == "__main__":
    if _TIMINGS:
        _instrument(_TIMINGS)
    from streamlit.web import cli

    sys.exit(cli.main(args=sys.argv[1:], prog_name="streamlit"))
