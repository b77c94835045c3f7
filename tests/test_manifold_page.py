"""The Manifold page for latent_dim > 2: its default plane is the two dimensions with the most KL, and the other
dimensions are held at the Latent plane's current z (or 0)."""

from __future__ import annotations

import numpy as np

from cvae.explorer.maths import diagnostics
from cvae.explorer.ui import plane_pad
from cvae.explorer.maths.numpy_model import load_numpy_model

from test_app import app_test, make_run, no_exceptions


def test_default_plane_is_the_two_dimensions_with_the_most_kl_and_the_rest_follow_the_plane_z(root):
    run = make_run(root, "d4", latent_dim=4)
    at = app_test().run()
    at.switch_page("app_pages/4_Manifold.py").run()
    no_exceptions(at)
    # The same test digits the page encodes (the bundled sample here), ordered by KL independently.
    from cvae.data.sample import load_test_split

    images = load_test_split("mnist", None, allow_download=False)[0]
    means, logvars = load_numpy_model(run).encode((images[:2000] > 127).astype(np.float32))
    kl = diagnostics.kl_per_dim(means, logvars)
    want = [int(i) for i in np.argsort(-kl)[:2]]
    assert want != [0, 1]  # a run where the old default (z1, z2) would be wrong
    assert [at.selectbox(key="mf_dx").value, at.selectbox(key="mf_dy").value] == want
    assert any("fixed at 0" in c.value for c in at.caption)
    # With a code on the Latent plane, the other two dimensions are held there.
    at.session_state[plane_pad.Z_KEY] = [0.5, -1.0, 1.5, 2.0]
    at.session_state[plane_pad.ZOWNER_KEY] = ("d4", 4)
    at.run()
    no_exceptions(at)
    held = [c.value for c in at.caption if "held at the Latent plane" in c.value]
    others = [i for i in range(4) if i not in want]
    assert held and all(f"z{i + 1} = {[0.5, -1.0, 1.5, 2.0][i]:.2f}" in held[0] for i in others)
