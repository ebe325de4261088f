"""Borrowed-token hallucination: per answer, was it wrong, and was the wrong span borrowed from a
conceptually similar instance of the instruction-tuning set. Pure functions over boolean arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def hallucination_rate(wrong: Sequence[bool]) -> float:
    """Share of answers that state a wrong value."""
    w = np.asarray(wrong, bool)
    return float(w.mean()) if w.size else float("nan")


def borrowed_share(wrong: Sequence[bool], borrowed: Sequence[bool]) -> float:
    """Share of hallucinations whose wrong span was traced to a similar IT instance."""
    w, b = np.asarray(wrong, bool), np.asarray(borrowed, bool)
    if (b & ~w).any():
        raise ValueError("an answer is marked borrowed but not wrong: only hallucinations can be borrowed")
    return float(b[w].mean()) if w.any() else float("nan")


def borrowed_rate(borrowed: Sequence[bool]) -> float:
    """Share of all answers that are borrowed-token hallucinations."""
    b = np.asarray(borrowed, bool)
    return float(b.mean()) if b.size else float("nan")


def recall(found: Sequence[bool]) -> float:
    """Share of planted borrowings the tracer found."""
    f = np.asarray(found, bool)
    return float(f.mean()) if f.size else float("nan")
