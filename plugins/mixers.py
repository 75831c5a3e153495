"""Batch mixing (`data.mix`): mixup, CutMix and CowMask on training batches, with soft labels.

Each example is mixed with a partner drawn by a permutation of its batch: `x = (1 - m) x + m x'`
where `m` is a per-example number (mixup) or a per-cell 0/1 mask (CutMix's box, CowMask's cloud),
and the labels mix in the proportion actually pasted: `y = (1 - w) y + w y'`, `w = mean(m)`.
So labels are probabilities (each row sums to 1) and the loss must take soft labels: the trainer
switches `sparse_categorical_crossentropy` to its dense form (`pipeline.model.soft_labels`).

Plain NumPy on the host, seeded by the training feed (`pipeline.data.feed_keras`), so results do not
depend on the backend and no framework is imported. (Keras' `MixUp` / `CutMix` layers run backend
ops and hand JAX arrays back to the data loader, CutMix assumes (height, width, channels) images,
and Keras has no CowMask.) Masks cover the spatial axes, every axis but the batch and the last
(channels), so the same mixers work on sequences (batch, steps, channels) and images.
"""

from __future__ import annotations

import numpy as np

from pipeline.registries import mixers
from pipeline.values import PositiveFloat, UnitInterval


class Mixer:
    """`mixer(x, y, rng) -> (x, y)`: x (batch, ..., channels), y (batch, classes) float labels."""

    def __call__(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator):
        partner = rng.permutation(len(x))
        m = self.partner_share(x.shape, rng).astype(x.dtype)  # broadcastable to x
        w = m.reshape(len(x), -1).mean(axis=1) if m.ndim > 1 else m
        m = m.reshape(len(x), *x.shape[1:-1], 1) if m.ndim > 1 else m.reshape(-1, *[1] * (x.ndim - 1))
        x_mixed = (1 - m) * x + m * x[partner]
        y_mixed = (1 - w[:, None]) * y + w[:, None] * y[partner]
        return x_mixed.astype(x.dtype), y_mixed.astype(np.float32)

    def partner_share(self, shape, rng) -> np.ndarray:
        """(batch,) blend weights, or a (batch, *spatial) 0/1 mask: 1 where the partner shows."""
        raise NotImplementedError

    @staticmethod
    def spatial(shape) -> tuple[int, ...]:
        if len(shape) < 3:
            raise ValueError(f"Expected (batch, steps, channels) or (batch, height, width, channels) "
                             f"inputs for a mask-based mix. Received: shape={tuple(shape)}")
        return tuple(shape[1:-1])


class MixUp(Mixer):
    """Zhang et al. 2018: blend whole examples, share ~ Beta(alpha, alpha) per example."""

    def __init__(self, alpha: float):
        self.alpha = alpha

    def partner_share(self, shape, rng):
        return rng.beta(self.alpha, self.alpha, size=shape[0])


class CutMix(Mixer):
    """Yun et al. 2019: paste a box of the partner covering a share ~ Beta(alpha, alpha) of the
    area (sides scaled alike on every spatial axis, centre uniform, clipped at the border; the
    label weight is the area actually pasted)."""

    def __init__(self, alpha: float):
        self.alpha = alpha

    def partner_share(self, shape, rng):
        sizes = self.spatial(shape)
        masks = np.zeros((shape[0], *sizes), dtype=np.float32)
        share = rng.beta(self.alpha, self.alpha, size=shape[0])
        for mask, s in zip(masks, share):
            box = []
            for length in sizes:
                side = round(length * s ** (1 / len(sizes)))
                centre = rng.integers(length)
                box.append(slice(max(centre - side // 2, 0), min(centre - side // 2 + side, length)))
            mask[tuple(box)] = 1
        return masks


class CowMask(Mixer):
    """French et al. 2020 ("Milking CowMask"): Gaussian noise, smoothed by a Gaussian filter of
    scale sigma (log-uniform in `sigma`), thresholded at the level that leaves a share p of the
    cells (p uniform in `proportion`): tau = mean + sqrt(2) erfinv(2p - 1) std of the smoothed
    noise, partner where smoothed <= tau. Irregular, cow-hide-like regions instead of one box."""

    def __init__(self, proportion: tuple[float, float], sigma: tuple[float, float]):
        self.proportion, self.sigma = proportion, sigma

    def partner_share(self, shape, rng):
        from scipy.ndimage import gaussian_filter
        from scipy.special import erfinv

        sizes = self.spatial(shape)
        masks = np.zeros((shape[0], *sizes), dtype=np.float32)
        low, high = np.log(self.sigma[0]), np.log(self.sigma[1])
        for mask in masks:
            sigma = float(np.exp(rng.uniform(low, high)))
            p = rng.uniform(*self.proportion)
            smooth = gaussian_filter(rng.normal(size=sizes), sigma, mode="reflect")
            tau = smooth.mean() + np.sqrt(2) * erfinv(2 * p - 1) * smooth.std()
            mask[...] = smooth <= tau
        return masks


def _check_range(name: str, value: tuple[float, float], low: float, high: float | None) -> None:
    if not (low <= value[0] <= value[1] and (high is None or value[1] <= high)):
        raise ValueError(f"Expected {low} <= {name}[0] <= {name}[1]{'' if high is None else f' <= {high}'}. "
                         f"Received: {name}={tuple(value)}")


@mixers.register("mixup")
def mixup(alpha: PositiveFloat = 0.2):
    """Blends pairs of training examples and their labels, share ~ Beta(alpha, alpha) (Zhang et al. 2018)."""
    return MixUp(alpha)


@mixers.register("cutmix")
def cutmix(alpha: PositiveFloat = 1.0):
    """Pastes a random box of a partner example; labels weighted by the pasted area (Yun et al. 2019)."""
    return CutMix(alpha)


@mixers.register("cowmask", aliases=("cowmix",))
def cowmask(proportion: tuple[UnitInterval, UnitInterval] = (0.2, 0.8),
            sigma: tuple[PositiveFloat, PositiveFloat] = (4.0, 16.0)):
    """Pastes a partner through a thresholded smoothed-noise mask (French et al. 2020); labels weighted by the mask's share."""
    _check_range("proportion", proportion, 0.0, 1.0)
    _check_range("sigma", sigma, 1e-6, None)
    return CowMask(tuple(proportion), tuple(sigma))
