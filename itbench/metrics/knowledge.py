"""Knowledge retention of a tuned model against its base, one document at a time.

Two forms. *Expressed*: the tuned model asked in chat form against the base in its best form
(completion or few-shot): what a user gets. *Kept*: both asked in the same base form (a choice over
the answer's value pool by log-likelihood on the world): what the weights still hold. A tuned model
that kept a fact but fails to say it in chat shows as forgotten only in the expressed form.

Per document: did the base know the fact, does the tuned model. Over documents: accuracy is the
mean; retention = P(tuned right | base right) is the mean over the documents the base knew (NaN on
the others); forgetting = 1 - retention; knowledge gained = P(tuned right | base wrong). The paired
test is McNemar's exact test on the discordant documents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from itbench import stats
from itbench.metrics import specifics
from itbench.metrics.text import normalize

NAN = float("nan")
POP_BUCKETS = (("low", 0, 1_000), ("mid", 1_000, 10_000), ("high", 10_000, math.inf))


def answer_correct(response: str, answers: Sequence[str], pool: Sequence[str] = ()) -> bool:
    """With a value pool (the world): the first word of the pool in the response is an answer.
    Without (real data): a normalised answer alias occurs as whole words in the normalised response."""
    if pool:
        members = set(pool)
        first = next((w for w in response.split() if w in members), None)
        return first in answers
    resp = f" {normalize(response)} "
    return any(f" {a} " in resp for a in (normalize(x) for x in answers) if a)


def score(base_right: bool, tuned_right: bool, popularity: float = -1, kept_base: bool | None = None,
          kept_tuned: bool | None = None, specifics_tuned: tuple[int, int] | None = None,
          specifics_base: tuple[int, int] | None = None) -> dict:
    """The per-document values of every knowledge metric (NaN where a metric does not apply).

    `base_right`/`tuned_right`: knowledge *expressed* (tuned model in chat form, base in its best
    form). `kept_base`/`kept_tuned`: knowledge *kept* (both asked in the same base form); None when
    the run did not ask it (NaN). `specifics_*`: (unsupported specific items, words) of each
    model's expressed answer (itbench.metrics.specifics), None where not counted (NaN)."""

    b, t = bool(base_right), bool(tuned_right)
    out = {"acc_base": float(b), "acc_tuned": float(t),
           "retention": float(t) if b else NAN, "forgetting": float(not t) if b else NAN,
           "knowledge_gained": float(t) if not b else NAN, "mcnemar_p": [b, t],
           "n_base_right": int(b), "n_base_wrong": int(not b)}
    kb, kt = kept_base, kept_tuned
    asked = kb is not None and kt is not None
    out.update({"kept_acc_base": float(kb) if asked else NAN, "kept_acc_tuned": float(kt) if asked else NAN,
                "kept_retention": float(kt) if asked and kb else NAN,
                "kept_forgetting": float(not kt) if asked and kb else NAN})
    for name, lo, hi in POP_BUCKETS:
        inside = lo <= popularity < hi
        out[f"retention_pop_{name}"] = float(t) if (b and inside) else NAN
        out[f"acc_tuned_pop_{name}"] = float(t) if inside else NAN
    out.update(specifics.score(specifics_tuned, specifics_base))
    return out


def mcnemar(pairs: Sequence[Sequence[bool]]) -> float:
    """Exact McNemar p-value over documents' (base right, tuned right) pairs."""
    lost = sum(bool(b) and not bool(t) for b, t in pairs)
    won = sum(bool(t) and not bool(b) for b, t in pairs)
    return stats.mcnemar_exact_p(lost, won)
