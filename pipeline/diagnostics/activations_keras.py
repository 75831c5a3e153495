"""The activation/gradient statistics callback (behind `plugins/diagnostics.py`)."""

from __future__ import annotations

import keras
import numpy as np

from pipeline.diagnostics.activations import activation_kind, format_table, histograms, layer_stats
from pipeline.diagnostics.gradients import gradients
from pipeline.keras_compat import sync_jax_state

CSV = "diagnostics/activations.csv"
TABLE = "diagnostics/activations.txt"
HISTOGRAM_SAMPLE = 20000  # values per layer drawn into a histogram


def watched_layers(model) -> list:
    """Layers with weights or an activation (dense, conv, norms, activation layers)."""
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)
            and (layer.weights or activation_kind(layer) is not None)]


class ActivationStatistics(keras.callbacks.Callback):
    """Per-layer activation statistics on a fixed probe batch at init and every `every` epochs, with the
    gradient norm of each layer's weights on that batch and the update/weight ratio of one training step.

    The update/weight ratio ||W_after - W_before|| / ||W_before|| of the first step of a recorded epoch
    is read from the weights themselves (backend-agnostic); the course's rule of thumb is ~1e-3.
    The probe batch comes from the trainer (`set_probe`, the first training examples), and the run
    (`set_run`): each recorded epoch's histogram image (`diagnostics/activations_epoch_NNN.png`) is
    logged when it is drawn, the table (`diagnostics/activations.csv` and `.txt`) at the end of
    training; its rows are part of the run's epoch checkpoint (`get_state`), so a resumed run's table
    is whole. The statistics at initialization are taken before the first step of epoch 0 (a resumed
    or later `fit` starts past it).
    """

    def __init__(self, every: int = 5, histograms: bool = True, gradients: bool = True):
        super().__init__()
        if every < 1:
            raise ValueError(f"Expected every >= 1. Received: every={every}")
        self.every = int(every)
        self.draw = histograms
        self.with_gradients = gradients
        self.x = self.y = None
        self.run_logger = None
        self.rows: list[dict] = []
        self.figures: dict[int, object] = {}
        self._before = None
        self._ratios: dict[str, float] = {}
        self._epoch = 0

    def set_probe(self, x, y):
        self.x, self.y = x, y

    def set_run(self, run_logger, folder=None):
        self.run_logger = run_logger

    def get_state(self) -> dict:
        return {"rows": self.rows}

    def set_state(self, state: dict) -> None:
        self.rows = [dict(row) for row in state["rows"]]

    # -- measuring -----------------------------------------------------------------------------
    def snapshot(self, model, epoch: int) -> list[dict]:
        """Statistics of every watched layer on the probe batch; appended to `rows` and returned."""
        layers = watched_layers(model)
        probe = keras.Model(model.inputs, [layer.output for layer in layers])
        outputs = probe.predict_on_batch(self.x)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        norms = self._gradient_norms(model, layers) if self.with_gradients and self.y is not None else {}
        rows, samples = [], {}
        rng = np.random.default_rng(0)
        for layer, out in zip(layers, outputs):
            out = np.asarray(out)
            kind = activation_kind(layer)
            rows.append({"epoch": epoch, "layer": layer.name, "kind": kind, **layer_stats(out, kind),
                         "grad_norm": norms.get(layer.name), "update_ratio": self._ratios.get(layer.name)})
            flat = out.reshape(-1)
            samples[layer.name] = flat if flat.size <= HISTOGRAM_SAMPLE else rng.choice(flat, HISTOGRAM_SAMPLE)
        if self.draw:
            figure = histograms(samples, f"activations on the probe batch, epoch {epoch}")
            if self.run_logger is not None:
                self.run_logger.log_figure(figure, f"diagnostics/activations_epoch_{epoch:03d}.png")
            else:
                self.figures[epoch] = figure
        self.rows.extend(rows)
        self._ratios = {}
        return rows

    def _gradient_norms(self, model, layers) -> dict[str, float]:
        loss = getattr(model, "loss", None)
        if loss is None or isinstance(loss, str):
            loss = keras.losses.get(loss) if isinstance(loss, str) else None
        if loss is None:
            return {}
        try:
            grads = dict(gradients(model, loss, self.x, self.y))
        except NotImplementedError:
            return {}
        out = {}
        for layer in layers:
            parts = [grads[w.path] for w in layer.trainable_weights if w.path in grads]
            if parts:
                out[layer.name] = float(np.sqrt(sum(np.sum(g * g) for g in parts)))
        return out

    def _weights(self) -> dict[str, list[np.ndarray]]:
        return {layer.name: [np.asarray(keras.ops.convert_to_numpy(w)) for w in layer.trainable_weights]
                for layer in watched_layers(self.model) if layer.trainable_weights}

    # -- Keras hooks ---------------------------------------------------------------------------
    def _records(self, epoch: int) -> bool:
        return (epoch + 1) % self.every == 0

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0 and self._epoch == 0 and self.x is not None and not self.rows:
            self.snapshot(self.model, 0)  # at initialization: the weights before the first step
        if self._before is None and batch == 0 and self._records(self._epoch):
            self._before = self._weights()  # the state is synced at an epoch's start

    def on_train_batch_end(self, batch, logs=None):
        if self._before is None:
            return
        sync_jax_state(self.model)
        after = self._weights()
        for name, before in self._before.items():
            w = float(np.sqrt(sum(np.sum(b * b) for b in before)))
            d = float(np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(after[name], before))))
            self._ratios[name] = d / w if w > 0 else float("nan")
        self._before = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._before = None

    def on_epoch_end(self, epoch, logs=None):
        if self.x is not None and self._records(epoch):
            self.snapshot(self.model, epoch + 1)

    def on_train_end(self, logs=None):
        if self.run_logger is None or not self.rows:
            return
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(self.rows[0]))
        writer.writeheader()
        writer.writerows(self.rows)
        self.run_logger.log_text(buffer.getvalue(), CSV)
        self.run_logger.log_text(format_table(self.rows), TABLE)
