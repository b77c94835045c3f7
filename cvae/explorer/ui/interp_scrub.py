"""Interpolate page: scrub along the path from A to B with the decoder running in the browser (the latent pad).

The path is sampled densely on the server (the same lerp/slerp as the strips); the pad then moves only along it —
drag on the map, the slider under the images, or the arrow keys — and decodes every frame in the browser. The
server hears nothing while scrubbing (no reruns). No TensorFlow here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import run_data
from ..maths.numpy_model import NumpyCVAE
from ..maths.latent import PCA2, lerp, slerp
from ...store.runs import RunInfo

from .latent_pad import latent_pad, map_blob, version_string
from .plane_pad import model_entry

PAD_KEY = "ip_pad"
SAMPLES = 121  # points of the path the browser interpolates between (piecewise linear: smooth at this density)


def scrub_ui(info: RunInfo, model: NumpyCVAE, z_a: np.ndarray, z_b: np.ndarray, kind: str, xy: np.ndarray,
             labels: np.ndarray, names: Sequence[str], source: str, pca: PCA2 | None,
             axis_titles: tuple[str, str], ranges) -> None:
    """The scrubber: a pad on the path `kind` ('lerp' or 'slerp') from z_a to z_b (latent_dim >= 2 only)."""
    d = model.latent_dim
    if d < 2:
        return
    path = (slerp if kind == "slerp" else lerp)(np.asarray(z_a, np.float32), np.asarray(z_b, np.float32), SAMPLES)
    rev = version_string("path", np.round(path, 5).tobytes())  # a new path: the pad starts again at A
    stamp = run_data.weights_stamp(info.path)
    map_version = version_string("map", str(info.path), stamp, len(xy), d, source, info.config.dataset)
    plane = {} if pca is None else {"mean": [float(v) for v in pca.mean],
                                    "components": [[float(v) for v in row] for row in pca.components]}
    latent_pad(key=PAD_KEY, models=[model_entry(model, info, info.name)], map_version=map_version,
               map_factory=lambda: map_blob(xy, labels), z=path[0], z_rev=int(rev[:8], 16), plane=plane,
               ranges=ranges, axis_titles=axis_titles, names=names, low=-1e6, high=1e6, seed=0, path=path,
               report=False)
