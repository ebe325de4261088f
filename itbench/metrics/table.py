"""Every itbench metric, declared once (lighteval's metric table): its family, direction, range,
the per-document function that computes it and the corpus-level aggregation over documents.

A family is one per-document function that returns the values of all its metrics at once
(lighteval's sample-level metric grouping): the tasks' `process_results` return exactly what it
returns, and their YAML `metric_list` names these metrics with these aggregations (a test builds
every task and checks both). Aggregations named "mean" and "nanmean" are lm-eval's own, which also
give the standard error; the others are functions here with golden cases.

Everything that reads a metric by name (comparisons, the leaderboard, the gate) asks this table
for its direction, its range and whether it is a proportion (Wilson intervals).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from itbench import stats
from itbench.metrics import borrowed, count_logged, judge, knowledge, pattern_copy, token_shift

INF = math.inf


@dataclass(frozen=True)
class Metric:
    name: str
    family: str
    higher_is_better: bool
    low: float
    high: float
    corpus: str | Callable  # "mean" / "nanmean" (lm-eval's, with stderr) or a corpus-level function
    proportion: bool = False  # per-document values are 0 or 1: Wilson intervals

    def interval(self, value: float, se: float, n: int, z: float = stats.Z95) -> tuple[float, float]:
        """This metric's confidence interval, inside its range."""
        return stats.interval(value, se, n, z, self.low, self.high, proportion=self.proportion)


@dataclass(frozen=True)
class Family:
    name: str
    sample: Callable[..., dict]  # the per-document function
    metrics: tuple[Metric, ...]


def _m(family, name, better, low=0.0, high=1.0, corpus="nanmean", proportion=False) -> Metric:
    return Metric(name, family, better, low, high, corpus, proportion)


def _knowledge() -> Family:
    f = "knowledge"
    ms = [_m(f, "acc_base", True, corpus="mean", proportion=True),
          _m(f, "acc_tuned", True, corpus="mean", proportion=True),
          _m(f, "retention", True, proportion=True), _m(f, "forgetting", False, proportion=True),
          _m(f, "knowledge_gained", True, proportion=True),
          _m(f, "mcnemar_p", True, corpus=knowledge.mcnemar),
          _m(f, "n_base_right", True, high=INF, corpus=stats.total),
          _m(f, "n_base_wrong", False, high=INF, corpus=stats.total),
          _m(f, "kept_acc_base", True, proportion=True), _m(f, "kept_acc_tuned", True, proportion=True),
          _m(f, "kept_retention", True, proportion=True), _m(f, "kept_forgetting", False, proportion=True)]
    for bucket, *_ in knowledge.POP_BUCKETS:
        ms += [_m(f, f"retention_pop_{bucket}", True, proportion=True),
               _m(f, f"acc_tuned_pop_{bucket}", True, proportion=True)]
    return Family(f, knowledge.score, tuple(ms + _specifics(f)))


def _specifics(f: str) -> list[Metric]:
    """Unsupported specific items per answer and per word (itbench.metrics.specifics), both sides."""
    return [_m(f, f"{name}_{who}", False, high=INF) for name in ("unsupported", "unsupported_per_word")
            for who in ("tuned", "base")]


# token shift: (metric, higher is better, low, high) of each per-response metric
_SHIFT = {"unshifted_share": (True, 0, 1), "marginal_share": (False, 0, 1), "shifted_share": (False, 0, 1),
          "mean_kl": (False, 0, INF), "mean_base_rank": (False, 1, INF), "mean_base_rank0": (False, 0, INF),
          "mean_base_prob": (True, 0, 1), "kl_sentence_start": (False, 0, INF), "kl_sentence_rest": (False, 0, INF),
          "kl_response_start": (False, 0, INF), "kl_response_rest": (False, 0, INF),
          "shifted_style_share": (False, 0, 1), "mean_kl_topk": (False, 0, INF)}


def _token_shift() -> Family:
    f = "token_shift"
    ms = []
    for name, (better, low, high) in _SHIFT.items():
        ms += [_m(f, name, better, low, high),
               _m(f, f"{name}_pooled", better, low, high, corpus=getattr(token_shift, f"pooled_{name}"))]
    ms += [_m(f, "n_tokens", True, high=INF, corpus=stats.total),
           _m(f, "empty_responses", False, high=INF, corpus=stats.total)]
    return Family(f, token_shift.score, tuple(ms))


def _pattern_copy() -> Family:
    f = "pattern_copy"
    ms = [_m(f, "length_tuned", False, high=INF), _m(f, "length_base", False, high=INF),
          _m(f, "template_similarity", False), _m(f, "opener_match", False, proportion=True),
          _m(f, "closer_match", False, proportion=True), _m(f, "list_use_gap", False, low=-1),
          _m(f, "heading_use_gap", False, low=-1),
          _m(f, "precision_tuned", True), _m(f, "precision_base", True),
          _m(f, "invented_tuned", False, high=INF), _m(f, "invented_base", False, high=INF),
          _m(f, "claims_tuned", True, high=INF), _m(f, "claims_base", True, high=INF),
          _m(f, "length_pattern", False, high=INF, corpus=pattern_copy.pooled_length_ratio),
          _m(f, "length_distance", True, corpus=pattern_copy.pooled_length_distance)]
    return Family(f, pattern_copy.score, tuple(ms + _specifics(f)))


def _borrowed() -> Family:
    f = "borrowed"
    ms = []
    for who in ("tuned", "base"):
        ms += [_m(f, f"hallucination_rate_{who}", False, corpus="mean", proportion=True),
               _m(f, f"borrowed_share_{who}", False, proportion=True),
               _m(f, f"borrowed_rate_{who}", False, corpus="mean", proportion=True),
               _m(f, f"from_it_set_rate_{who}", False, corpus="mean", proportion=True),
               _m(f, f"borrowed_cases_{who}", False, high=INF, corpus=count_logged)]
    return Family(f, borrowed.score, tuple(ms))


def _judge() -> Family:
    f = "judge"
    ms = []
    for who in ("tuned", "base"):
        ms += [_m(f, f"{a}_{who}", True, low=1.0, high=5.0) for a in judge.ASPECTS]
        ms += [_m(f, f"judge_unparseable_{who}", False, corpus="mean", proportion=True)]
    ms += [_m(f, "exact_precision_tuned", True),  # the world's exact truth beside the judge's factuality
           _m(f, "judge_verdicts", True, high=INF, corpus=count_logged)]
    return Family(f, judge.score, tuple(ms))


FAMILIES: dict[str, Family] = {f.name: f for f in (_knowledge(), _token_shift(), _pattern_copy(), _borrowed(),
                                                   _judge())}
METRICS: dict[tuple[str, str], Metric] = {(f.name, m.name): m for f in FAMILIES.values() for m in f.metrics}


def family_of(task: str) -> str | None:
    """A task's family from its name: itbench_<family>_<variant> (a user's task named that way too)."""
    rest = task.removeprefix("itbench_")
    return next((f for f in sorted(FAMILIES, key=len, reverse=True) if rest.startswith(f + "_") or rest == f), None)


def lookup(task: str, metric: str) -> Metric | None:
    """The declaration of a task's metric; for a paired metric's shared name (e.g. "precision" of
    precision_tuned/precision_base), the tuned side's; None when undeclared."""
    fam = family_of(task)
    if fam is None:
        return None
    return METRICS.get((fam, metric)) or METRICS.get((fam, f"{metric}_tuned"))


def estimate_range(task: str, metric: str, minus: str | float | None = None,
                   difference: bool = False) -> tuple[float, float]:
    """The range of an estimate built from a task's metric: the metric's own, shifted by a constant
    `minus`, or that of a difference (minus another metric of the same run; or `difference`: the
    same metric of two checkpoints, or tuned minus base). Unbounded when a metric is undeclared."""
    m = lookup(task, metric)
    other = lookup(task, minus) if isinstance(minus, str) else m
    if m is None or other is None:
        return -INF, INF
    if isinstance(minus, str) or difference:
        return m.low - other.high, m.high - other.low
    return m.low - (minus or 0.0), m.high - (minus or 0.0)


def higher_is_better(task: str, metric: str) -> bool | None:
    m = lookup(task, metric)
    return None if m is None else m.higher_is_better
