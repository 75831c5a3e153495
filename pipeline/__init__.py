"""Keras training pipeline driven by YAML recipes and a plugin registry.

Importing this package imports no deep-learning framework; `pipeline.train` does, when a run starts.
"""

__version__ = "0.1.0"
