"""Your own images (#22): images decoded per second and peak memory when a folder of N generated 64x64 colour PNGs
is prepared: the product's loader (cold: decode + cache write; warm: the cached .npz) against the naive way (a list
of decoded arrays, then np.stack), each in a fresh process. Last line: one JSON object.

    .venv/bin/python -m bench.own_data --n 10000 100000 [--reps 1] [--dir /tmp/cvae-bench-own]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import ROOT, cpu_info, median, write_json

SIZE = 64


def generate(folder: Path, n: int) -> float:
    """n 64x64 colour PNGs of random coloured shapes in three class folders (once: reused when complete)."""
    from PIL import Image, ImageDraw

    done = folder / ".complete"
    if done.exists():
        return 0.0
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for c in ("circle", "square", "triangle"):
        (folder / c).mkdir(parents=True)
    for i in range(n):
        kind = ("circle", "square", "triangle")[i % 3]
        im = Image.new("RGB", (SIZE, SIZE), tuple(int(v) for v in rng.integers(150, 256, 3)))
        d = ImageDraw.Draw(im)
        x0, y0 = (int(v) for v in rng.integers(2, 24, 2))
        x1, y1 = (int(v) for v in rng.integers(40, 62, 2))
        fill = tuple(int(v) for v in rng.integers(0, 120, 3))
        if kind == "circle":
            d.ellipse((x0, y0, x1, y1), fill=fill)
        elif kind == "square":
            d.rectangle((x0, y0, x1, y1), fill=fill)
        else:
            d.polygon([((x0 + x1) // 2, y0), (x0, y1), (x1, y1)], fill=fill)
        im.save(folder / kind / f"{i:06d}.png")
    done.touch()
    return time.perf_counter() - t0


def _rss_kb() -> int:
    """Resident set size now (kB), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(mode: str, folder: Path, cache: Path) -> dict:
    """One measurement in this fresh process: seconds, images, peak RSS over the RSS before loading."""
    from PIL import Image

    from cvae.data.own_data import load_folder

    before = _rss_kb()
    t0 = time.perf_counter()
    if mode == "naive":
        files = sorted(p for p in folder.rglob("*.png"))
        arrays = [np.asarray(Image.open(p).convert("RGB")) for p in files]
        x = np.stack(arrays)
        n = len(x)
    else:
        ds = load_folder(folder, size=SIZE, channels=3, cache_dir=cache)
        assert ds.from_cache == (mode == "warm"), (mode, ds.from_cache)
        n = len(ds.train_images) + len(ds.test_images)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return {"mode": mode, "images": n, "seconds": seconds, "images_per_s": n / seconds,
            "peak_rss_mb": peak / 1024, "peak_over_start_mb": (peak - before) / 1024,
            "uint8_mb": n * SIZE * SIZE * 3 / 2**20}


def run_child(mode: str, folder: Path, cache: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.own_data", "--child", mode, str(folder), str(cache)],
                         cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--dir", default="/tmp/cvae-bench-own")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "FOLDER", "CACHE"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), Path(args.child[2]))))
        return
    print(f"== own data: {cpu_info()}", flush=True)
    results = {}
    for n in args.n:
        folder, cache = Path(args.dir) / f"png{n}", Path(args.dir) / f"cache{n}"
        gen = generate(folder, n)
        print(f"{n} PNGs in {folder} (generated in {gen:.0f} s)" if gen else f"{n} PNGs reused in {folder}", flush=True)
        rows: dict[str, list[dict]] = {"naive": [], "cold": [], "warm": []}
        for r in range(args.reps):
            shutil.rmtree(cache, ignore_errors=True)
            for mode in ("naive", "cold", "warm"):
                row = run_child(mode, folder, cache)
                rows[mode].append(row)
                print(f"  rep {r + 1} {mode}: {row['images_per_s']:.0f} images/s, {row['seconds']:.1f} s, "
                      f"peak RSS +{row['peak_over_start_mb']:.0f} MB (uint8 {row['uint8_mb']:.0f} MB)", flush=True)
        summary = {}
        for mode, rs in rows.items():
            summary[mode] = {"images_per_s": median([x["images_per_s"] for x in rs]),
                             "seconds": median([x["seconds"] for x in rs]),
                             "peak_over_start_mb": median([x["peak_over_start_mb"] for x in rs]),
                             "peak_over_uint8": median([x["peak_over_start_mb"] / x["uint8_mb"] for x in rs])}
        summary["cold_vs_naive_speed"] = summary["cold"]["images_per_s"] / summary["naive"]["images_per_s"]
        summary["warm_vs_cold_speed"] = summary["warm"]["images_per_s"] / summary["cold"]["images_per_s"]
        summary["images"] = rows["cold"][0]["images"]
        results[str(n)] = summary
    payload = {"bench": "own_data", "loadavg_end": list(os.getloadavg()), "results": results}
    write_json("own_data", payload)
    print(json.dumps(payload))


if __name__ == "__main__":
    main()
