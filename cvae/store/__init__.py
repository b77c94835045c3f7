"""The run store: config, run directories, atomic file I/O, locks, weights and metrics files. No TensorFlow."""
