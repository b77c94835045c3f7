"""The explorer app's browser-side pieces (the latent pad)."""
