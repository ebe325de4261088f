"""The statistics every part of itbench uses: tasks, comparisons, the leaderboard and the gate.

One z value per confidence level, means with standard errors, intervals that stay inside a
metric's range (Wilson's for proportions, a clipped normal interval otherwise), paired and unpaired
differences, and the verdict a difference's interval supports. scipy supplies the distributions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as _sp

NAN = float("nan")


def z_value(confidence: float = 0.95) -> float:
    """The two-sided normal quantile for `confidence` (1.959964 for 0.95)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, not {confidence!r}")
    return float(_sp.norm.ppf(0.5 + confidence / 2))


Z95 = z_value(0.95)


def finite(values: Sequence[float]) -> np.ndarray:
    """The values that are numbers (NaN means "not applicable to this document")."""
    v = np.asarray(values, dtype=float)
    return v[~np.isnan(v)]


def mean_stderr(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, standard error of the mean, n) over the finite values; stderr NaN below two values."""
    v = finite(values)
    if not v.size:
        return NAN, NAN, 0
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else NAN
    return float(v.mean()), se, int(v.size)


def normal_interval(value: float, se: float, z: float = Z95, low: float = -math.inf,
                    high: float = math.inf) -> tuple[float, float]:
    """value +- z * se, clipped to the metric's range [low, high]; NaN when either is NaN."""
    if math.isnan(value) or math.isnan(se):
        return NAN, NAN
    return max(low, value - z * se), min(high, value + z * se)


def wilson_interval(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion p of n trials: inside [0, 1], sensible at 0 and 1."""
    if n <= 0 or math.isnan(p):
        return NAN, NAN
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # the interval holds p; min/max keep rounding (1e-17 at p = 0 or 1) from putting it outside
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))


def interval(value: float, se: float, n: int, z: float = Z95, low: float = -math.inf, high: float = math.inf,
             proportion: bool = False) -> tuple[float, float]:
    """The interval of one metric: Wilson's for a proportion (per-document values 0 or 1), else the
    normal interval clipped to the metric's range."""
    if proportion:
        return wilson_interval(value, n, z)
    return normal_interval(value, se, z, low, high)


def paired_difference(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, int]:
    """Mean and standard error of the per-document differences a - b, over the documents where both
    are defined (the same items, so item difficulty cancels)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired values differ in length: {x.size} vs {y.size}")
    return mean_stderr(x - y)


def unpaired_difference(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """(a - b, its standard error) from two independent (value, stderr) estimates."""
    return a[0] - b[0], math.sqrt(a[1] ** 2 + b[1] ** 2)


def verdict(low: float, high: float) -> str:
    """What an interval of a difference (expected positive) supports."""
    if math.isnan(low) or math.isnan(high):
        return "not measurable"
    if low > 0:
        return "yes"
    if high < 0:
        return "no (reversed)"
    return "not significant"


def mcnemar_exact_p(lost: int, won: int) -> float:
    """Two-sided exact McNemar p-value: under H0 the discordant items split 50/50."""
    n = lost + won
    if n == 0:
        return 1.0
    return float(_sp.binomtest(min(lost, won), n, 0.5).pvalue)


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """Kolmogorov-Smirnov distance between two samples (0 = the same distribution)."""
    if not len(a) or not len(b):
        return NAN
    return float(_sp.ks_2samp(np.asarray(a, float), np.asarray(b, float)).statistic)


def total(values: Sequence[float]) -> int:
    """A count summed over documents."""
    return int(sum(values))
