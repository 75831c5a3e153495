"""Loss and metrics for soft labels (rows of class probabilities), which batch mixing produces.

With `data.mix` the training feed yields one-hot/soft label rows, and validation and test labels
are one-hot encoded alike (one compiled loss serves them all). The sparse (integer-label) forms
are swapped for their dense twins here; losses that already take label rows (categorical
cross-entropy, focal) are kept. Which losses qualify is checked when the recipe is validated
(`pipeline.recipe.lint.check_soft_labels`), so this never meets one that does not.
"""

from __future__ import annotations


def dense_loss(loss):
    """`loss`, or its form for label rows when it expects integer labels."""
    import keras

    if isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        return keras.losses.CategoricalCrossentropy(from_logits=loss.get_config()["from_logits"])
    return loss


def dense_metrics(metrics: list) -> list:
    """`metrics` with the integer-label Keras metrics replaced by their one-hot twins."""
    import keras

    out = []
    for metric in metrics:
        if isinstance(metric, keras.metrics.SparseTopKCategoricalAccuracy):
            metric = keras.metrics.TopKCategoricalAccuracy(k=metric.k, name=metric.name)
        elif isinstance(metric, keras.metrics.SparseCategoricalAccuracy):
            metric = keras.metrics.CategoricalAccuracy(name=metric.name)
        out.append(metric)
    return out
