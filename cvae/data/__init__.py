"""Datasets: the IDX format, where data is found, binarization, the bundled sample. No TensorFlow at import."""
