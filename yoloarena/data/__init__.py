"""Data: image sources, dataset readers, transforms, synthetic data."""
