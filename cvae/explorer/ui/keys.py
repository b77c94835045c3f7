"""Session-state keys that more than one module (or a page and a module) read: each spelled once, here.

Keys one module owns stay in it (plane_pad.Z_KEY, selection.SELECTED_KEY, presenter.PRESENT_KEY, i18n.LANG_KEY).
"""

from __future__ import annotations

LISTING_KEY = "_cvae_runs_listing"  # this page run's list of runs (run_data.list_runs_ui; chrome.page_setup resets it)

# Latent plane: the page's classic view and the pad (plane_pad) share the code, its memory and the sample seed.
PLANE_SAVED_Z = "lp_saved_z"  # ((run, latent_dim), z): survives page changes (widget state does not)
PLANE_SEED = "lp_seed"  # the seed of the sample x ~ p(x | z)


def plane_z_keys(d: int) -> list[str]:
    """The Latent plane's z sliders, one per dimension (the classic view's and the pad's)."""
    return [f"lp_z{i}" for i in range(d)]


# Reconstruct: its "Choose test digits" radio, which Diagnostics (posterior_ui) switches to "By index".
RECON_MODE = "rc_mode"
