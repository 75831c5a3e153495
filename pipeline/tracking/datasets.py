"""A run's splits as MLflow datasets (the run page's "Datasets"): one per split, with its context.

Each split is an MLflow `Dataset` described, not copied: name, source (the recipe's `data.source`
and the recipe file), digest, schema (one raw example's shape and dtype, as the logged model takes
it, and the labels'), and profile (rows). No array is held, so logging costs nothing for big data.

The digest starts with the run's data fingerprint (tag `data.fingerprint`: the source's content)
and ends with a hash of how the split was cut (split name, size, `data.split`, `data.imbalance_ratio`):
MLflow keeps one record per (name, digest) in an experiment, so two runs that cut the same data
differently must not share one (its size would be the first run's).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: the split -> MLflow's input context (what the UI shows beside the dataset)
CONTEXTS = {"train": "train", "val": "validation", "test": "test"}
SOURCE_TYPE = "pipeline_recipe"


def _source_class():
    """A `DatasetSource` for data a recipe names (a generated set, a package's, a folder): its spec."""
    from mlflow.data.dataset_source import DatasetSource
    from mlflow.data.dataset_source_registry import get_registered_sources, register_dataset_source

    class RecipeDataSource(DatasetSource):
        def __init__(self, source: Any, recipe: str | None = None):
            self.spec, self.recipe = source, recipe

        @staticmethod
        def _get_source_type() -> str:
            return SOURCE_TYPE

        def load(self, **kwargs):
            raise NotImplementedError("run the recipe to load its data (`pipeline run RECIPE`)")

        @staticmethod
        def _can_resolve(raw_source: Any) -> bool:
            return False

        @classmethod
        def _resolve(cls, raw_source: Any):
            raise NotImplementedError

        def to_dict(self) -> dict[str, Any]:
            return {"source": self.spec, "recipe": self.recipe}

        @classmethod
        def from_dict(cls, source_dict: dict[Any, Any]):
            return cls(source_dict.get("source"), source_dict.get("recipe"))

    for known in get_registered_sources():  # registered once per process (`mlflow.data.get_source` reads it)
        if known._get_source_type() == SOURCE_TYPE:
            return known
    register_dataset_source(RecipeDataSource)
    return RecipeDataSource


def _dataset_class():
    from mlflow.data.dataset import Dataset

    class SplitDataset(Dataset):
        """A split described by its shapes, dtypes and size."""

        def __init__(self, source, name: str, digest: str, schema, profile: dict):
            self._schema, self._profile = schema, profile
            super().__init__(source=source, name=name, digest=digest)

        def _compute_digest(self) -> str:  # always given
            return self._digest

        def to_dict(self) -> dict[str, str]:
            return {**super().to_dict(), "schema": json.dumps(self._schema.to_dict()),
                    "profile": json.dumps(self._profile)}

        @property
        def profile(self) -> dict:
            return self._profile

        @property
        def schema(self):
            return self._schema

    return SplitDataset


def _spec(shape: tuple, dtype) -> Any:
    import numpy as np
    from mlflow.types import Schema, TensorSpec

    return Schema([TensorSpec(np.dtype(dtype), (-1, *shape))])


def _how_cut(recipe) -> dict:
    """The settings that decide which examples each split holds (hashed into the digests)."""
    split = recipe.data.split
    how = {**split.model_dump(), "seed": recipe.seed if split.seed is None else split.seed}
    if recipe.data.imbalance_ratio is not None:  # a long-tailed training subset, drawn with the recipe's seed
        how |= {"imbalance_ratio": recipe.data.imbalance_ratio, "imbalance_seed": recipe.seed}
    return how


def split_datasets(loaded, name: str, fingerprint: str, splits) -> list[tuple[Any, str]]:
    """[(MLflow dataset, context)] for each non-empty split of `splits` (a `pipeline.data.split.Splits`)
    of the recipe `loaded`, whose data source named `name` has the fingerprint `fingerprint`."""
    from mlflow.data.schema import TensorDatasetSchema

    source = _source_class()(loaded.resolved["data"]["source"], loaded.file)
    how = _how_cut(loaded.plan.recipe)
    make = _dataset_class()
    out = []
    for split, size in splits.sizes().items():
        if not size:  # a k-fold fold holds no test split
            continue
        y = getattr(splits, f"y_{split}")
        cut = hashlib.sha256(json.dumps([split, size, how], sort_keys=True, default=str).encode()).hexdigest()
        schema = TensorDatasetSchema(features=_spec(tuple(splits.raw_shape), splits.raw_dtype),
                                     targets=_spec(tuple(y.shape[1:]), y.dtype))
        profile = {"num_rows": size, "features_shape": [size, *splits.raw_shape],
                   "targets_shape": [size, *y.shape[1:]]}
        out.append((make(source, f"{name}-{CONTEXTS[split]}", f"{fingerprint}-{cut[:8]}", schema, profile),
                    CONTEXTS[split]))
    return out
