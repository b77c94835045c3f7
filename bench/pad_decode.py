"""The latent pad's decoder in headless Chromium: WebAssembly SIMD vs plain JavaScript (float32, blocked loops).

    .venv/bin/python -m bench.pad_decode [--reps 15]

For the tutorial's network, 128/128, 512/512 filters and CIFAR-10 colour (32/64, discretized logistic), with random
weights: one decode p50/p90 (ms) for each kernel, the wasm/plain ratio measured in the same page, the drag
preview's linearization and per-frame cost, and the largest difference from NumpyCVAE.decode (must be < 1e-5).
No server: the module is loaded into a blank page. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys

import numpy as np

from .common import ROOT, cpu_info, write_json

sys.path.insert(0, str(ROOT / "tests"))
import browser_support as bs  # noqa: E402

from cvae.explorer.ui import latent_pad as lp  # noqa: E402
from cvae.explorer.maths.numpy_model import NumpyCVAE  # noqa: E402
from cvae.store.arch import Architecture  # noqa: E402

NETWORKS = {"tutorial 32/64": Architecture(), "128/128": Architecture(filters1=128, filters2=128),
            "512/512": Architecture(filters1=512, filters2=512),
            "colour 32/64": Architecture(size=32, channels=3, likelihood="discretized_logistic")}
TIMING_JS = """([blob, reps]) => {
  const d = __cvaeLatentPad.loadBlob(blob), t = [];
  for (let i = 0; i < reps; i++) {
    const z = Float32Array.from([Math.sin(i), Math.cos(i)]), t0 = performance.now();
    d.decode(z); t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  const t0 = performance.now();
  const lin = d.linearize(Float32Array.from([0.1, 0.2]), [Float32Array.from([1, 0]), Float32Array.from([0, 1])]);
  const tl = performance.now() - t0, t1 = performance.now();
  for (let i = 0; i < 50; i++) d.preview(lin, Float32Array.from([0.1 + i * 0.01, 0.2]));
  return {simd: d.simd, p50: t[t.length >> 1], p90: t[Math.floor(0.9 * (t.length - 1))], linearize_ms: tl,
          preview_ms: (performance.now() - t1) / 50};
}"""


def random_weights(arch: Architecture, seed: int = 1) -> dict[str, np.ndarray]:
    """Fan-in scaled random weights (the outputs vary instead of saturating)."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, shape in arch.weight_shapes(2).items():
        fan_in = 9 * shape[3 if k.startswith("dec_") else 2] if len(shape) == 4 else shape[0]
        out[k] = rng.normal(0.1 if k.endswith("bias") else 0.0, 0.1 if k.endswith("bias") else 1.4 / np.sqrt(fan_in),
                            shape).astype(np.float32)
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    js = (lp.STATIC / "latent_pad.js").read_text().split("export default")[0]
    out: dict = {"benchmark": "pad_decode", "date": datetime.datetime.now().isoformat(timespec="seconds"),
                 "machine": cpu_info(), "networks": {}}
    with sync_playwright() as p:
        browser = bs.launch_browser(p)
        out["chromium"] = browser.version
        page = browser.new_page()
        page.set_content("<html><body></body></html>")
        page.add_script_tag(content=js)
        for name, arch in NETWORKS.items():
            arrays = random_weights(arch)
            blob = lp.model_blob(arrays, 2, arch)
            codes = np.random.default_rng(0).normal(0, 1, (3, 2)).astype(np.float32)
            want = NumpyCVAE(arrays, 2, arch).decode(codes, apply_sigmoid=True).reshape(3, -1)
            row: dict = {"macs_per_image": arch.macs_per_image(2)}
            # Alternate the two kernels (wasm, plain, wasm, plain) and keep the faster of each pair of medians.
            for rep in range(2):
                for kernel, flag in (("wasm_simd", "true"), ("plain_js", "false")):
                    page.evaluate(f"() => {{ globalThis.__cvaeLatentPadUseWasm = {flag}; }}")
                    got = np.array(page.evaluate("([b, c]) => __cvaeLatentPad.decodeWith(b, c)", [blob, codes.tolist()]))
                    r = page.evaluate(TIMING_JS, [blob, args.reps])
                    prev = row.get(kernel)
                    if prev is None or r["p50"] < prev["p50_ms"]:
                        row[kernel] = {"p50_ms": round(r["p50"], 2), "p90_ms": round(r["p90"], 2),
                                       "linearize_ms": round(r["linearize_ms"], 1),
                                       "preview_ms": round(r["preview_ms"], 3),
                                       "max_abs_diff_vs_numpy": float(np.abs(got - want).max())}
            row["plain_over_wasm"] = round(row["plain_js"]["p50_ms"] / row["wasm_simd"]["p50_ms"], 1)
            out["networks"][name] = row
            print(name, json.dumps(row), flush=True)
        browser.close()
    write_json("pad_decode", out)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
