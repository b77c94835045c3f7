"""cvae-explorer: a convolutional VAE (the TensorFlow tutorial) and tools to explore its latent space."""

__version__ = "0.1.0"
