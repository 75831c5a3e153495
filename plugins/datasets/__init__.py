"""Dataset sources: each returns a `pipeline.data.Dataset` of NumPy arrays."""
