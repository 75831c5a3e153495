"""Data: in-memory datasets, honest splits and preprocessing fitted on training data only."""

from pipeline.data.dataset import Dataset

__all__ = ["Dataset"]
