"""Gradients of the data loss with respect to every trainable weight, on one batch, per backend.

Keras 3 has no backend-neutral `gradient` call, so this is the one small per-backend helper the
diagnostics need: JAX (`jax.grad` over `model.stateless_call`), TensorFlow (`GradientTape`) and torch
(`backward`). The regularization penalties are left out: gradient flow is about the data term.
"""

from __future__ import annotations

import numpy as np


def gradients(model, loss_fn, x, y, training: bool = True) -> list[tuple[str, np.ndarray]]:
    """[(variable path, gradient)] for `model.trainable_variables`, in order."""
    import keras

    backend = keras.config.backend()
    compute = {"jax": _jax, "tensorflow": _tensorflow, "torch": _torch}.get(backend)
    if compute is None:
        raise NotImplementedError(f"gradients are not implemented for the '{backend}' backend")
    grads = compute(model, loss_fn, x, y, training)
    return [(v.path, np.asarray(g, dtype=np.float64) if g is not None else np.zeros(v.shape))
            for v, g in zip(model.trainable_variables, grads)]


def _jax(model, loss_fn, x, y, training):
    import jax

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    def loss(weights):
        pred, _ = model.stateless_call(weights, non_trainable, x, training=training)
        return loss_fn(y, pred)

    return [np.asarray(g) for g in jax.grad(loss)(trainable)]


def _tensorflow(model, loss_fn, x, y, training):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=training))
    return [None if g is None else g.numpy() for g in tape.gradient(loss, model.trainable_variables)]


def _torch(model, loss_fn, x, y, training):  # pragma: no cover - torch is not installed by default
    import torch

    for v in model.trainable_variables:
        v.value.grad = None
    loss = loss_fn(torch.as_tensor(y), model(x, training=training))
    loss.backward()
    return [None if v.value.grad is None else v.value.grad.detach().cpu().numpy()
            for v in model.trainable_variables]
