"""Data loading that knows nothing of models: sequence datasets, padding, splits."""
