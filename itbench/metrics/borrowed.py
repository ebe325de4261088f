"""Borrowed-token hallucination, one answer at a time: was it wrong, and was the wrong span traced
to a conceptually similar instance of the instruction-tuning set (its `case`).

Over answers: the hallucination rate and the borrowed rate are means; the borrowed share (of
hallucinations) is the mean over the wrong answers only. The from-IT-set rate counts a wrong answer
whose span occurs in any response of the IT set, similar instance or not: the paper's tracing asks
for a conceptually similar source, which misses a name the model repeats for every question after
seeing it once in tuning (the base's rate is its chance level).
"""

from __future__ import annotations

NAN = float("nan")


def score(who: str, wrong: bool, case: dict | None, in_it_set: bool = False) -> dict:
    """Per-document values of one model's (`who`: tuned or base) answer. A case is a traced
    borrowing and so needs a wrong answer; `in_it_set`: the wrong span occurs somewhere in the IT
    set's responses (a traced case always does)."""
    if case is not None and not wrong:
        raise ValueError("an answer is marked borrowed but not wrong: only hallucinations can be borrowed")
    if in_it_set and not wrong:
        raise ValueError("an answer is marked as found in the IT set but not wrong: only a wrong span is looked up")
    return {f"hallucination_rate_{who}": float(wrong),
            f"borrowed_share_{who}": float(case is not None) if wrong else NAN,
            f"borrowed_rate_{who}": float(case is not None),
            f"from_it_set_rate_{who}": float(in_it_set or case is not None),
            f"borrowed_cases_{who}": case}
