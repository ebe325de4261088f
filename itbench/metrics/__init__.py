"""Pure metric functions over arrays: no model calls, no file I/O."""

from collections.abc import Sequence


def count_logged(items: Sequence[object | None]) -> int:
    """How many documents logged a case (the per-document value is the case itself, None where
    there was none): the corpus count behind the borrowed-case and judged-verdict columns, whose
    cases are in the samples."""
    return sum(x is not None for x in items)
