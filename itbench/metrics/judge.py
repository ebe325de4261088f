"""The judged aspects, one answer pair at a time: each model's five scores (1-5) from its verdict,
whether the verdict was unparseable, and on the world the exact factual precision beside them.

A verdict is {"scores": {aspect: 1-5 or None}, ...}; an aspect it did not score is NaN (left out
of the mean), and a verdict missing any aspect counts as unparseable (kept, never dropped).
"""

from __future__ import annotations

import math

ASPECTS = ("helpfulness", "clarity", "factuality", "depth", "engagement")
NAN = float("nan")


def is_score(x) -> bool:
    """A judged score: a whole number from 1 to 5 (not a bool, not 4.5)."""
    return type(x) is int and 1 <= x <= 5


def aspect_value(verdict: dict, aspect: str) -> float:
    """One aspect's score of a verdict as a metric value: NaN when it was not scored."""
    x = (verdict.get("scores") or {}).get(aspect)
    return float(x) if is_score(x) else NAN


def parsed(verdict: dict) -> bool:
    """All five aspects have a score from 1 to 5."""
    return all(not math.isnan(aspect_value(verdict, a)) for a in ASPECTS)


def score(tuned: dict, base: dict, exact_precision: float | None = None, judge: str = "") -> dict:
    """Per-document values of both models' verdicts; `exact_precision` is the world's exact factual
    precision of the tuned answer (None: no checkable claim, or real data)."""
    out: dict = {}
    for who, verdict in (("tuned", tuned), ("base", base)):
        for a in ASPECTS:
            out[f"{a}_{who}"] = aspect_value(verdict, a)
        out[f"judge_unparseable_{who}"] = float(not parsed(verdict))
    out["exact_precision_tuned"] = NAN if exact_precision is None or math.isnan(exact_precision) else exact_precision
    out["judge_verdicts"] = {"judge": judge, "tuned": tuned, "base": base}
    return out
