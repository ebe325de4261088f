"""The k best of a score vector, best first, ties in index order: the one ranking rule of the
tracer's retrievers."""

from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int, among: np.ndarray | None = None) -> list[tuple[int, float]]:
    """The k highest positive scores (index, score), best first, ties in index order; with `among`
    (sorted indices), of those indices only."""
    ids = np.arange(scores.size) if among is None else among
    values = scores[ids]
    k = min(k, values.size)
    if k <= 0:
        return []
    if k < values.size:
        kth = np.partition(values, values.size - k)[values.size - k]
        keep = values >= kth  # every tie at the edge, cut below in index order
        ids, values = ids[keep], values[keep]
    order = np.lexsort((ids, -values))[:k]
    return [(i, v) for i, v in zip(ids[order].tolist(), values[order].tolist(), strict=True) if v > 0]
