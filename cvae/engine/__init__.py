"""The engine: TensorFlow model, objectives, training loop, checkpoints, evaluation, TensorBoard."""
