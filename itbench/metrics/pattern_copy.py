"""Pattern copying: how closely a model's responses copy its instruction-tuning set's response
pattern (length, template), and what that costs in factual precision.

Pure functions over texts and numbers. A response's claims are checked elsewhere (the world's
claims module); here they arrive as counts.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from itbench.metrics.token_shift import is_style_token

MASK = "<c>"


def length_ratio(response_lengths: Sequence[int], it_lengths: Sequence[int]) -> float:
    """Mean response length over the IT set's mean response length (1 = copies its length)."""
    if not len(response_lengths) or not len(it_lengths) or np.mean(it_lengths) == 0:
        return float("nan")
    return float(np.mean(response_lengths) / np.mean(it_lengths))


def length_distance(response_lengths: Sequence[int], it_lengths: Sequence[int]) -> float:
    """Kolmogorov-Smirnov statistic between the two length distributions (0 = identical)."""
    a, b = np.sort(np.asarray(response_lengths, float)), np.sort(np.asarray(it_lengths, float))
    if not a.size or not b.size:
        return float("nan")
    grid = np.union1d(a, b)
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.abs(cdf_a - cdf_b).max())


def mask_content(text: str) -> list[str]:
    """Words with every content word replaced by one placeholder: what is left is the template."""
    return [w.lower() if is_style_token(w) else MASK for w in text.split()]


def _bigrams(words: Sequence[str]) -> set[tuple[str, str]]:
    return set(zip(words, words[1:], strict=False)) if len(words) > 1 else {(w, "") for w in words}


def template_similarity(response: str, it_responses: Sequence[str]) -> float:
    """Highest Jaccard similarity of masked-word bigrams between a response and any IT response."""
    r = _bigrams(mask_content(response))
    if not r or not it_responses:
        return float("nan")
    best = 0.0
    for it in it_responses:
        t = _bigrams(mask_content(it))
        if t:
            best = max(best, len(r & t) / len(r | t))
    return best


def opener(text: str, n: int = 2) -> str:
    return " ".join(text.lower().split()[:n])


def closer(text: str, n: int = 3) -> str:
    return " ".join(text.lower().split()[-n:])


def opener_match(response: str, it_openers: Counter, top: int = 3) -> float:
    """1.0 when the response opens like one of the IT set's `top` most common openers."""
    if not it_openers:
        return float("nan")
    common = {o for o, _ in it_openers.most_common(top)}
    return float(opener(response) in common)


def closer_match(response: str, it_closers: Counter, top: int = 3) -> float:
    """1.0 when the response closes like one of the IT set's `top` most common closings."""
    if not it_closers:
        return float("nan")
    common = {c for c, _ in it_closers.most_common(top)}
    return float(closer(response) in common)


_LIST_MARK = re.compile(r"^(\d+[.)]|[-*])\s+")
_SENTENCE_END = re.compile(r"[.!?](\s|$)")


def structure(text: str) -> dict:
    """List items, headings and sentences of one response (a list marker ends no sentence)."""
    lines = [ln.strip() for ln in text.split("\n")]
    return {"list_items": sum(bool(_LIST_MARK.match(ln)) for ln in lines),
            "headings": sum(ln.startswith("#") for ln in lines),
            "sentences": sum(len(_SENTENCE_END.findall(_LIST_MARK.sub("", ln))) for ln in lines)}


def factual_precision(correct: int, checkable: int) -> float:
    """Share of a response's checkable claims that are true; NaN with no checkable claim."""
    return correct / checkable if checkable else float("nan")


def invented_details(claims_wrong: int) -> int:
    """Claims stated as fact that are false: the invented details of one response."""
    return int(claims_wrong)


def mean_with_stderr(values: Sequence[float]) -> tuple[float, float, int]:
    v = np.asarray([x for x in values if not math.isnan(x)], float)
    if not v.size:
        return float("nan"), float("nan"), 0
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else float("nan")
    return float(v.mean()), se, int(v.size)
