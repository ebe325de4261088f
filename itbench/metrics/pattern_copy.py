"""Pattern copying: how closely a model's responses copy its instruction-tuning set's response
pattern (length, template, openers, closings, lists, headings), and what that costs in factual
precision.

Pure functions over texts and numbers. A response's claims are checked elsewhere (the world's
claims module); here they arrive as counts. The IT set arrives summarised by `it_set_stats`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from itbench import stats
from itbench.metrics import specifics
from itbench.metrics.token_shift import is_style_token

MASK = "<c>"
NAN = float("nan")


def length_ratio(response_lengths: Sequence[int], it_lengths: Sequence[int]) -> float:
    """Mean response length over the IT set's mean response length (1 = copies its length)."""
    if not len(response_lengths) or not len(it_lengths) or np.mean(it_lengths) == 0:
        return NAN
    return float(np.mean(response_lengths) / np.mean(it_lengths))


def length_distance(response_lengths: Sequence[int], it_lengths: Sequence[int]) -> float:
    """Kolmogorov-Smirnov statistic between the two length distributions (0 = identical)."""
    return stats.ks_statistic(response_lengths, it_lengths)


def mask_content(text: str) -> list[str]:
    """Words with every content word replaced by one placeholder: what is left is the template."""
    return [w.lower() if is_style_token(w) else MASK for w in text.split()]


def _bigrams(words: Sequence[str]) -> set[tuple[str, str]]:
    return set(zip(words, words[1:], strict=False)) if len(words) > 1 else {(w, "") for w in words}


def template_similarity(response: str, it_responses: Sequence[str]) -> float:
    """Highest Jaccard similarity of masked-word bigrams between a response and any IT response."""
    r = _bigrams(mask_content(response))
    if not r or not it_responses:
        return NAN
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
        return NAN
    common = {o for o, _ in it_openers.most_common(top)}
    return float(opener(response) in common)


def closer_match(response: str, it_closers: Counter, top: int = 3) -> float:
    """1.0 when the response closes like one of the IT set's `top` most common closings."""
    if not it_closers:
        return NAN
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
    return correct / checkable if checkable else NAN


def it_set_stats(responses: Sequence[str]) -> dict:
    """What a response is compared with: the IT set's responses, their length histogram (word
    count -> responses), openers, closings, and how often they use lists and headings."""
    lengths = Counter(len(x.split()) for x in responses)
    return {"responses": list(responses),
            "length_hist": [[int(k), int(v)] for k, v in sorted(lengths.items())],
            "openers": Counter(opener(x) for x in responses), "closers": Counter(closer(x) for x in responses),
            "list_rate": float(np.mean([structure(x)["list_items"] > 0 for x in responses])) if responses else NAN,
            "heading_rate": float(np.mean([structure(x)["headings"] > 0 for x in responses])) if responses else NAN}


def score(tuned: str, base: str, it: dict, claims_tuned: tuple[int, int] | None = None,
          claims_base: tuple[int, int] | None = None, specifics_tuned: tuple[int, int] | None = None,
          specifics_base: tuple[int, int] | None = None) -> dict:
    """Per-document values of every pattern-copy metric. `it` is `it_set_stats` of the tuned
    model's IT set; `claims_*` are (true, checkable) claim counts, None where there is no truth;
    `specifics_*` (unsupported specific items, words) of each answer (itbench.metrics.specifics)."""

    n = len(tuned.split())
    shape = structure(tuned)
    out = {"length_tuned": n, "length_base": len(base.split()),
           "length_pattern": {"len": n, "it_hist": it["length_hist"]},
           "length_distance": {"len": n, "it_hist": it["length_hist"]},
           "template_similarity": template_similarity(tuned, it["responses"]),
           "opener_match": opener_match(tuned, it["openers"]),
           "closer_match": closer_match(tuned, it["closers"]),
           # (response uses a list) - (share of IT responses that do): 0 when it copies the habit
           "list_use_gap": float(shape["list_items"] > 0) - it["list_rate"],
           "heading_use_gap": float(shape["headings"] > 0) - it["heading_rate"]}
    for who, claims in (("tuned", claims_tuned), ("base", claims_base)):
        ok, checkable = claims if claims is not None else (NAN, NAN)
        out[f"precision_{who}"] = factual_precision(ok, checkable) if claims is not None else NAN
        out[f"invented_{who}"] = checkable - ok  # claims stated as fact that are false
        out[f"claims_{who}"] = checkable
    out.update(specifics.score(specifics_tuned, specifics_base))
    return out


def _pooled_lengths(items: Sequence[dict]) -> tuple[list[int], list[int]]:
    """Response lengths and the IT set's lengths (one IT set per task run) from per-document items."""
    hists = {tuple(map(tuple, i["it_hist"])) for i in items}
    if len(hists) != 1:
        return [i["len"] for i in items], []  # no items, or responses compared with several IT sets
    it_lengths = [length for length, count in next(iter(hists)) for _ in range(count)]
    return [i["len"] for i in items], it_lengths


def pooled_length_ratio(items: Sequence[dict]) -> float:
    """length_ratio over all documents of a run."""
    return length_ratio(*_pooled_lengths(items))


def pooled_length_distance(items: Sequence[dict]) -> float:
    """length_distance over all documents of a run."""
    return length_distance(*_pooled_lengths(items))
