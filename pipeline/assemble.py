"""Data and model from a recipe, the same way for `pipeline run`, `show`, `diagnose` and `lr-find`."""

from __future__ import annotations

from pipeline.components import build
from pipeline.data.checks import load_source
from pipeline.data.preprocess import fit_preprocessing
from pipeline.data.split import split_dataset
from pipeline.data.targets import fit_target_scaling
from pipeline.data.training_data import make_long_tailed
from pipeline.model.network import build_model
from pipeline.model.training import compile_model
from pipeline.recipe import LoadedRecipe


def prepare_data(loaded: LoadedRecipe):
    """Build the source, split it, fit preprocessing on the training split only."""
    plan = loaded.plan
    data = load_source(loaded)  # labels as the task reads them, checked: bad data stops here as a recipe error
    split_cfg = plan.recipe.data.split
    splits = split_dataset(data, val=split_cfg.val, test=split_cfg.test, stratify=split_cfg.stratify,
                           seed=plan.recipe.seed if split_cfg.seed is None else split_cfg.seed,
                           kfold=split_cfg.kfold, fold=split_cfg.fold)

    make_long_tailed(splits, plan.recipe.data.imbalance_ratio, plan.recipe.seed)  # demo data only
    fit_preprocessing(splits, [build(p) for p in plan.preprocess], plan.recipe.seed)  # training split only
    fit_target_scaling(splits, plan.recipe.data.standardize_targets)  # regression: training targets' mean, std
    return data, splits


def build_compiled_model(loaded: LoadedRecipe, input_shape, steps_per_epoch: int, target_scaling=None):
    plan = loaded.plan
    model = build_model(plan.layers, plan.outputs, input_shape, name=plan.recipe.name, target_scaling=target_scaling)
    compile_model(model, plan, steps_per_epoch)
    return model
