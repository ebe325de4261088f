"""The statistics every part of itbench uses: tasks, comparisons, the leaderboard and the gate.

One z value per confidence level, means with standard errors, intervals that stay inside a
metric's range (Wilson's for proportions, a clipped normal interval otherwise), paired and unpaired
differences, intervals over training seeds as well as items, and the verdict a difference's interval
supports. scipy supplies the distributions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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


def spearman_interval(x: Sequence[float], y: Sequence[float],
                      confidence: float = 0.95) -> tuple[float, float, float, int]:
    """Spearman's rank correlation of the pairs where both are defined, with the interval of
    Fisher's z with Fieller, Hartley and Pearson's variance 1.06 / (n - 3) (inside [-1, 1]):
    (rho, low, high, n). NaN when fewer than 5 pairs remain or either side is constant."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    n = int(a.size)
    if n < 5 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return NAN, NAN, NAN, n
    rho = float(_sp.spearmanr(a, b).statistic)
    z, half = math.atanh(min(max(rho, -0.999999), 0.999999)), z_value(confidence) * math.sqrt(1.06 / (n - 3))
    return rho, math.tanh(z - half), math.tanh(z + half), n


def paired_difference(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, int]:
    """Mean and standard error of the per-document differences a - b, over the documents where both
    are defined (the same items, so item difficulty cancels)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired values differ in length: {x.size} vs {y.size}")
    return mean_stderr(x - y)


def unpaired_difference(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """(a - b, its standard error) from two independent (value, stderr) estimates."""
    return a[0] - b[0], math.hypot(a[1], b[1])  # hypot: no overflow where a standard error is huge


@dataclass(frozen=True)
class SeedEstimate:
    """A metric (or a difference) over training seeds: the seed mean, its interval, and how many
    seeds it rests on. `se` combines item sampling and seed-to-seed variance; `df` is the degrees of
    freedom of the t quantile the interval uses."""

    estimate: float
    low: float
    high: float
    seeds: int
    se: float
    df: float


def seed_interval(estimates: Sequence[float], item_ses: Sequence[float], confidence: float = 0.95,
                  low: float = -math.inf, high: float = math.inf, minus: Sequence[float] = (),
                  minus_ses: Sequence[float] = ()) -> SeedEstimate:
    """The seed mean of a metric with an interval that covers both sources of randomness: the items
    (each seed's standard error) and training (the spread of the seed estimates).

    Every seed answers the same items, so item noise is shared between seeds rather than averaged
    away: its variance is the mean of the seeds' item variances, not divided by the seed count
    (conservative). Seed noise is the sample variance of the seed estimates over the seed count.
    The t quantile takes Welch-Satterthwaite degrees of freedom (items as n = infinity, seeds S-1),
    so three seeds that disagree give a wide interval. With `minus`/`minus_ses` (another
    checkpoint's seeds, trained independently) it is the difference of the two seed means.
    With one seed on a side, that side's seed variance cannot be estimated: the interval is NaN
    (one seed says nothing about training noise)."""
    sides = [(np.asarray(estimates, float), np.asarray(item_ses, float), 1.0)]
    if len(minus):
        sides.append((np.asarray(minus, float), np.asarray(minus_ses, float), -1.0))
    estimate, item_var, parts = 0.0, 0.0, []
    for est, ses, sign in sides:
        if est.size != ses.size or est.size == 0:
            raise ValueError(f"seed_interval: {est.size} estimates but {ses.size} standard errors")
        estimate += sign * float(est.mean())
        item_var += float(np.mean(np.where(np.isnan(ses), 0.0, ses) ** 2))
        seed_var = float(est.var(ddof=1)) / est.size if est.size > 1 else math.nan
        parts.append((seed_var, est.size - 1))
    seeds = min(s[0].size for s in sides)
    if math.isnan(estimate) or any(math.isnan(v) for v, _ in parts):
        return SeedEstimate(estimate, NAN, NAN, seeds, NAN, NAN)
    var = item_var + sum(v for v, _ in parts)
    denom = sum(v * v / df for v, df in parts)  # items contribute v^2 / infinity = 0
    df = var * var / denom if denom > 0 else math.inf
    se = math.sqrt(var)
    q = float(_sp.t.ppf(0.5 + confidence / 2, df)) if math.isfinite(df) else z_value(confidence)
    return SeedEstimate(estimate, max(low, estimate - q * se), min(high, estimate + q * se), seeds, se, df)


def nested_interval(estimates: Sequence[Sequence[float]], item_ses: Sequence[Sequence[float]],
                    confidence: float = 0.95, low: float = -math.inf, high: float = math.inf,
                    minus: Sequence[Sequence[float]] = (), minus_ses: Sequence[Sequence[float]] = ()) -> SeedEstimate:
    """A metric over bases, each with its training seeds (`estimates[b][s]`), with an interval that
    covers items, training seeds and the base itself: a two-stage (nested) estimate. Each base's
    seed mean is one observation; the base means' sample variance over the base count carries both
    base-to-base and seed-to-seed noise (a balanced nested design); item noise, shared by every
    checkpoint that answers the same items, is added whole, as in `seed_interval`. The t quantile
    takes bases - 1 degrees of freedom (conservative: Welch-Satterthwaite's, from a variance
    estimated on 2 degrees of freedom, covered 93% in the synthetic test at 95%). With `minus`
    (another recipe's seeds on the same bases) it is the difference, paired by base: what a base
    does to both recipes cancels. Fewer than two bases: the interval is NaN (one base says nothing
    about the next machine)."""
    def means(rows):
        return np.asarray([np.mean(np.asarray(r, float)) for r in rows], float)

    def item_var(rows):
        return float(np.mean([np.mean(np.where(np.isnan(s), 0.0, np.asarray(s, float)) ** 2) for s in rows]))

    if len(estimates) != len(item_ses) or any(len(e) != len(s) or not len(e)
                                              for e, s in zip(estimates, item_ses, strict=True)):
        raise ValueError("nested_interval: every base needs as many standard errors as seed estimates, and one seed")
    per_base = means(estimates)
    ivar = item_var(item_ses)
    if len(minus):
        if len(minus) != len(estimates):
            raise ValueError(f"nested_interval: {len(estimates)} bases on one side, {len(minus)} on the other")
        per_base = per_base - means(minus)
        ivar += item_var(minus_ses)
    bases = per_base.size
    seeds = min(len(r) for r in [*estimates, *minus])
    estimate = float(per_base.mean())
    if bases < 2 or math.isnan(estimate):
        return SeedEstimate(estimate, NAN, NAN, seeds, NAN, NAN)
    base_var = float(per_base.var(ddof=1)) / bases
    var = ivar + base_var
    df = bases - 1  # not Welch-Satterthwaite: with 3 bases its df, from a 2-df variance, undercover (0.93)
    se = math.sqrt(var)
    q = float(_sp.t.ppf(0.5 + confidence / 2, df))
    return SeedEstimate(estimate, max(low, estimate - q * se), min(high, estimate + q * se), seeds, se, df)


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
