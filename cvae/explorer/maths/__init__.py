"""NumPy maths of the explorer (no Streamlit, no plotting): the model's forward pass, latent codes, diagnostics, the true posterior and the inference gaps."""
