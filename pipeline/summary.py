"""A plain-text per-layer table of a model: name, type, output shape, parameters.

Keras' `model.summary` draws a Rich table cut to the terminal's width, which drops the parameter
column when the output is piped or captured; this table is plain text of any width.
"""

from __future__ import annotations


def _shape(layer) -> str:
    try:
        output = layer.output
    except (AttributeError, ValueError):
        return "?"
    shapes = [output] if not isinstance(output, (list, tuple)) else output
    return ", ".join(str(tuple(s.shape)) for s in shapes)


def layer_table(model) -> str:
    """One row per layer (parameters counted as Keras does: trainable and not, e.g. BN statistics)."""
    rows = [("layer", "type", "output shape", "params", "trainable")]
    for layer in model.layers:
        trainable = sum(int(_size(w)) for w in layer.trainable_weights)
        rows.append((layer.name, type(layer).__name__, _shape(layer), f"{layer.count_params():,}",
                     f"{trainable:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    total = model.count_params()
    trainable = sum(int(_size(w)) for w in model.trainable_weights)
    lines.insert(1, "-" * len(lines[0]))
    lines.append(f"total parameters: {total:,} (trainable {trainable:,}, non-trainable {total - trainable:,})")
    return "\n".join(lines)


def _size(weight) -> int:
    size = 1
    for d in weight.shape:
        size *= int(d)
    return size
