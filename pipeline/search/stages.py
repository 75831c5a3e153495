"""Coarse -> fine: the next stage's space, narrowed around the best trials of the previous stage.

Each continuous range becomes the span of the top-k values, padded by `margin` of the old range on
each side and clipped to it; log ranges are narrowed in log space (so 1e-4..1e-1 around 3e-3 stays
centred on 3e-3, not dragged towards 1e-1). Choices keep the values the top-k trials used.
"""

from __future__ import annotations

import math

from pipeline.search.space import Dimension


def _narrow_range(dim: Dimension, seen: list[float], margin: float) -> tuple[float, float]:
    log = dim.kind == "log_uniform"
    fwd = math.log if log else float
    back = math.exp if log else float
    lo, hi = fwd(dim.low), fwd(dim.high)
    pad = margin * (hi - lo)
    new_lo = max(lo, min(fwd(v) for v in seen) - pad)
    new_hi = min(hi, max(fwd(v) for v in seen) + pad)
    return back(new_lo), back(new_hi)


def narrow(dims: list[Dimension], top: list[dict], margin: float = 0.1) -> dict:
    """The space entries (recipe form) for the next stage, from the best trials' values, best first."""
    space: dict = {}
    for dim in dims:
        seen = [t[dim.name] for t in top if dim.name in t]
        entry = dim.spec()
        if not seen:  # never active among the best (a condition unused): keep as it was
            space[dim.name] = entry
            continue
        if dim.kind == "choice":
            entry["choice"] = [v for v in dim.values if v in seen]
        else:
            lo, hi = _narrow_range(dim, seen, margin)
            if dim.kind == "int":
                step = dim.step or 1
                lo = dim.low + step * math.floor((lo - dim.low) / step)
                hi = dim.low + step * math.ceil((hi - dim.low) / step)
                if lo == hi:
                    lo, hi = max(dim.low, lo - step), min(dim.high, hi + step)
            elif hi - lo <= 1e-12 * max(1.0, abs(hi)):  # one value: keep a sliver of room around it
                lo, hi = (lo * 0.9, lo * 1.1) if dim.kind == "log_uniform" else (lo - 1e-6, lo + 1e-6)
            entry[dim.kind] = [_tidy(lo), _tidy(hi)]
        space[dim.name] = entry
    # a conditional entry whose enabling choice was dropped can never be active: drop it too
    for name, entry in list(space.items()):
        when = entry.get("when")
        if when:
            (parent, allowed), = when.items()
            kept = [v for v in allowed if v in space.get(parent, {}).get("choice", [])]
            if kept:
                entry["when"] = {parent: kept}
            else:
                del space[name]
    return space


def _tidy(value):
    if isinstance(value, int):
        return value
    return float(f"{value:.6g}")
