"""Knowledge retention of a tuned model against its base, from paired per-item correctness.

Inputs are two boolean arrays over the same items: did the base know the fact, does the tuned
model. Retention = P(tuned right | base right); forgetting = 1 - retention; knowledge gained =
P(tuned right | base wrong). The paired test is McNemar's exact test on the discordant items.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _bools(x: Sequence) -> np.ndarray:
    return np.asarray(x, dtype=bool)


def accuracy(right: Sequence[bool]) -> float:
    r = _bools(right)
    return float(r.mean()) if r.size else float("nan")


def retention(base_right: Sequence[bool], tuned_right: Sequence[bool]) -> float:
    """P(tuned right | base right); NaN when the base knew nothing."""
    b, t = _bools(base_right), _bools(tuned_right)
    return float(t[b].mean()) if b.any() else float("nan")


def forgetting(base_right: Sequence[bool], tuned_right: Sequence[bool]) -> float:
    """P(tuned wrong | base right)."""
    r = retention(base_right, tuned_right)
    return 1.0 - r if not math.isnan(r) else float("nan")


def knowledge_gained(base_right: Sequence[bool], tuned_right: Sequence[bool]) -> float:
    """P(tuned right | base wrong); NaN when the base knew everything."""
    b, t = _bools(base_right), _bools(tuned_right)
    return float(t[~b].mean()) if (~b).any() else float("nan")


def proportion_stderr(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n) if n > 0 and not math.isnan(p) else float("nan")


def mcnemar_exact_p(base_right: Sequence[bool], tuned_right: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value: under H0 the discordant items split 50/50."""
    b, t = _bools(base_right), _bools(tuned_right)
    lost = int((b & ~t).sum())
    won = int((~b & t).sum())
    n = lost + won
    if n == 0:
        return 1.0
    k = min(lost, won)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)
