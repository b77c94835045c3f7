"""The explorer: the app's NumPy model, figures, widgets and training launcher. No TensorFlow."""
