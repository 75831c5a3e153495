"""Data: in-memory datasets, honest splits and preprocessing fitted on training data only."""

from pipeline.data.dataset import Dataset, from_arguments

__all__ = ["Dataset", "from_arguments"]
