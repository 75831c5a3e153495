"""Preprocessing steps: `fit` on the training split only, `transform` every split alike.

Each fitted step also becomes a Keras layer holding its statistics (`layer()`), which the run
prepends to the model it saves: `model.keras` takes raw inputs and applies exactly the transform
the model was trained on, on any backend, with no pipeline code needed to serve it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from pipeline.data.rows import is_lazy

Per = Literal["feature", "channel", "global"]


def _axes(x: np.ndarray, per: str) -> tuple[int, ...]:
    """Axes a statistic is taken over: examples only (one per feature: the mean image), every
    axis but the last (one per channel), or all (one number)."""
    return {"feature": (0,), "channel": tuple(range(x.ndim - 1)), "global": tuple(range(x.ndim))}[per]


class Affine:
    """`(x - shift) * scale` with shift and scale fitted per feature, per channel or globally."""

    def __init__(self, per: str = "feature"):
        self.per = per
        self.shift: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def _statistics(self, x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def fit(self, x: np.ndarray):
        x = np.asarray(x)
        axes = _axes(x, self.per)
        return self._keep(*self._statistics(x, axes), x.shape, axes)

    def fit_chunks(self, chunks, shape: tuple):
        """Fit on the training split read a chunk of rows at a time (lazy rows, whose `shape` is
        given): one pass, merging each chunk's count, mean, sum of squared deviations (Chan et al.),
        minimum and maximum in float64, so the statistics equal `fit`'s up to float64 rounding."""
        axes = _axes(np.empty((1,) * len(shape)), self.per)
        count, mean, m2, low, high = 0, 0.0, 0.0, None, None
        for chunk in chunks:
            chunk = np.asarray(chunk, dtype=np.float64)
            n = chunk.size // int(np.prod([chunk.shape[a] for a in range(chunk.ndim) if a not in axes], dtype=np.int64))
            chunk_mean = chunk.mean(axis=axes, keepdims=True)
            chunk_m2 = ((chunk - chunk_mean) ** 2).sum(axis=axes, keepdims=True)
            delta, total = chunk_mean - mean, count + n
            mean, m2 = mean + delta * (n / total), m2 + chunk_m2 + delta ** 2 * (count * n / total)
            lo, hi = chunk.min(axis=axes, keepdims=True), chunk.max(axis=axes, keepdims=True)
            low, high, count = (lo, hi, total) if low is None else (np.minimum(low, lo), np.maximum(high, hi), total)
        if not count:
            raise ValueError(f"{type(self).__name__}: no training rows to fit on")
        return self._keep(*self._from_summary(mean, np.sqrt(m2 / count), low, high), shape, axes)

    def _keep(self, shift, scale, shape: tuple, axes: tuple[int, ...]):
        # stored at the shape that broadcasts over a batch: the example's shape (per feature),
        # (channels,), or a scalar (global)
        kept = tuple(1 if a in axes else n for a, n in enumerate(shape))
        stored = {"feature": shape[1:], "channel": shape[-1:], "global": ()}[self.per]
        self.shift = np.broadcast_to(shift, kept).reshape(stored).astype(np.float32)
        self.scale = np.broadcast_to(scale, kept).reshape(stored).astype(np.float32)
        return self

    def _from_summary(self, mean, std, low, high) -> tuple[np.ndarray, np.ndarray]:
        """(shift, scale) from the training split's mean, standard deviation, minimum and maximum."""
        raise NotImplementedError

    def _check_fitted(self):
        if self.shift is None:
            raise RuntimeError(f"{type(self).__name__}.transform called before fit (fit on the training split).")

    def transform(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return ((np.asarray(x, dtype=np.float32) - self.shift) * self.scale).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        """The fitted statistics, stored with the run."""
        return {"shift": self.shift, "scale": self.scale}

    def layer(self):
        """A Keras layer applying the same transform (keras.ops only)."""
        self._check_fitted()
        from pipeline.data.preprocess_keras import Affine as AffineLayer

        return AffineLayer.from_statistics(self.shift, self.scale, name=type(self).__name__.lower())


class Standardize(Affine):
    """Zero mean, unit variance using training statistics (per feature, per channel, or one pair)."""

    def __init__(self, per: str = "feature", epsilon: float = 1e-7):
        super().__init__(per)
        self.epsilon = epsilon

    def _statistics(self, x, axes):
        return self._from_summary(x.mean(axis=axes, dtype=np.float64, keepdims=True),
                                  x.std(axis=axes, dtype=np.float64, keepdims=True), None, None)

    def _from_summary(self, mean, std, low, high):
        # a feature constant on the training split (a blank border pixel) is only centred, as
        # scikit-learn's StandardScaler does: dividing by ~0 would blow up any other value it takes
        return mean, 1.0 / np.where(std > self.epsilon, std, 1.0)

    @property
    def mean(self):
        return self.shift

    @property
    def std(self):
        return None if self.scale is None else (1.0 / self.scale).astype(np.float32)

    def state(self):
        return {"mean": self.shift, "std": self.std, **super().state()}


class MeanSubtraction(Affine):
    """Subtract the training mean: the mean image (per feature) or the per-channel mean."""

    def _statistics(self, x, axes):
        return x.mean(axis=axes, dtype=np.float64, keepdims=True), np.ones(1)

    def _from_summary(self, mean, std, low, high):
        return mean, np.ones(1)


class MinMax(Affine):
    """Scale the training range [min, max] to [low, high]."""

    def __init__(self, per: str = "feature", low: float = 0.0, high: float = 1.0, epsilon: float = 1e-7):
        super().__init__(per)
        self.low, self.high, self.epsilon = low, high, epsilon

    def _statistics(self, x, axes):
        return self._from_summary(None, None, x.min(axis=axes, keepdims=True).astype(np.float64),
                                  x.max(axis=axes, keepdims=True).astype(np.float64))

    def _from_summary(self, mean, std, lo, hi):
        span = hi - lo
        scale = (self.high - self.low) / np.where(span > self.epsilon, span, 1.0)  # constant: only shifted
        # (x - lo) * s + low == (x - (lo - low / s)) * s
        return lo - self.low / scale, scale


class PCA:
    """Project flattened inputs on the training data's principal components (sklearn's PCA);
    `whiten` divides by their standard deviations, so the training covariance becomes identity."""

    def __init__(self, n_components: int | float | None = None, whiten: bool = False):
        self.n_components, self.whiten = n_components, whiten
        self.mean: np.ndarray | None = None
        self.matrix: np.ndarray | None = None
        self.explained_variance_ratio: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> "PCA":
        from sklearn.decomposition import PCA as SkPCA

        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        pca = SkPCA(n_components=self.n_components, whiten=self.whiten, svd_solver="full").fit(flat)
        matrix = pca.components_.T
        if self.whiten:
            matrix = matrix / np.sqrt(pca.explained_variance_)
        self.mean, self.matrix = pca.mean_.astype(np.float32), matrix.astype(np.float32)
        self.explained_variance_ratio = pca.explained_variance_ratio_.astype(np.float32)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.matrix is None:
            raise RuntimeError("PCA.transform called before fit (fit on the training split).")
        flat = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        return ((flat - self.mean) @ self.matrix).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "matrix": self.matrix, "explained_variance_ratio": self.explained_variance_ratio}

    def layer(self):
        if self.matrix is None:
            raise RuntimeError("PCA.layer called before fit (fit on the training split).")
        from pipeline.data.preprocess_keras import Projection

        return Projection.from_statistics(self.mean, self.matrix, name="pca")


#: rows of the training split a step without `fit_chunks` (PCA, a plugin's) is fitted on when the
#: split is lazy rows (streamed, memory-mapped): a seeded random sample, so memory stays bounded
SAMPLE_ROWS = 10_000


def fit_preprocessing(splits, steps: list, seed: int = 0) -> None:
    """Fit each step on the training split only (after the steps before it), then transform every
    split alike; the fitted steps stay on `splits.preprocessors` for saving with the model.

    Lazy rows (`pipeline.data.rows.Rows`) are never transformed whole: each split gets the fitted
    step to apply when its rows are read. A step with `fit_chunks` (standardize, mean subtraction,
    min-max) is fitted by one streaming pass over the training split, exactly; any other on a
    random sample of at most `SAMPLE_ROWS` training rows."""
    splits.raw_shape, splits.raw_dtype = tuple(splits.x_train.shape[1:]), str(splits.x_train.dtype)
    for step in steps:
        if not is_lazy(splits.x_train):
            step.fit(splits.x_train)
            splits.x_train, splits.x_val, splits.x_test = (
                step.transform(splits.x_train), step.transform(splits.x_val), step.transform(splits.x_test))
            continue
        x = splits.x_train
        if _fits_in_chunks(step):
            step.fit_chunks((chunk for _, chunk in x.chunks()), x.shape)
        else:
            sample = np.random.default_rng(seed).choice(len(x), size=min(SAMPLE_ROWS, len(x)), replace=False)
            step.fit(x[np.sort(sample)])
        splits.x_train, splits.x_val, splits.x_test = (x.then(step), splits.x_val.then(step),
                                                       splits.x_test.then(step))
    splits.preprocessors = list(steps)


def _fits_in_chunks(step) -> bool:
    """A step that can be fitted a chunk at a time (an `Affine` subclass that defines `_from_summary`)."""
    if isinstance(step, Affine):
        return type(step)._from_summary is not Affine._from_summary
    return callable(getattr(step, "fit_chunks", None))


def preprocessing_artifacts(steps: list) -> dict[str, bytes]:
    """Each step's fitted statistics as {`preprocess/<i>-<step>.npz`: file contents}, for the run."""
    import io

    out = {}
    for i, step in enumerate(steps):
        if not hasattr(step, "state"):  # a third-party step that keeps no statistics to show
            continue
        buffer = io.BytesIO()
        np.savez(buffer, **{k: v for k, v in step.state().items() if v is not None})
        out[f"preprocess/{i}-{type(step).__name__.lower()}.npz"] = buffer.getvalue()
    return out
