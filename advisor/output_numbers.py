"""Numbers in pasted model output: the innermost number lists of a printed tensor or
list, and the softmax / sigmoid that turn logits into probabilities (numerically
stable, tolerant of inf and NaN). Used by :mod:`advisor.explainer`; reads no files.
"""

from __future__ import annotations

import math
import re

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan"
_BRACKET = re.compile(r"\[([^\[\]]{1,20000})\]")
_NUM_RX = re.compile(rf"^(?:{_NUM})$", re.I)


def parse_number_lists(text: str) -> list[list[float]]:
    """Every innermost ``[...]`` whose items are all numbers, as float lists.

    ``tensor([[-1.2, 3.4]])`` -> ``[[-1.2, 3.4]]``; ``array([0.1 0.9])`` (space
    separated) works too. Lists with anything non-numeric are skipped.
    """
    out: list[list[float]] = []
    for m in _BRACKET.finditer(text):
        items = [x for x in re.split(r"[,\s]+", m.group(1).strip()) if x]
        if not items or not all(_NUM_RX.match(x) for x in items):
            continue
        try:
            out.append([float(x) for x in items])
        except ValueError:  # pragma: no cover - the regex already checked
            continue
    return out


def softmax(values: list[float]) -> list[float]:
    """Numerically stable softmax; ``+inf`` entries share all the mass, NaN -> NaN."""
    if not values:
        return []
    if any(math.isnan(v) for v in values):
        return [math.nan] * len(values)
    pos_inf = [v == math.inf for v in values]
    if any(pos_inf):
        n = sum(pos_inf)
        return [1.0 / n if p else 0.0 for p in pos_inf]
    finite = [v for v in values if v != -math.inf]
    if not finite:
        return [1.0 / len(values)] * len(values)
    top = max(finite)
    exps = [0.0 if v == -math.inf else math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def sigmoid(v: float) -> float:
    if math.isnan(v):
        return math.nan
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def is_int_like(v: float) -> bool:
    return math.isfinite(v) and v == int(v)
