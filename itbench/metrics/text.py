"""Text normalisation shared by the metrics that compare an answer with gold answers."""

from __future__ import annotations

import re
import string

_PUNCT = set(string.punctuation)


def normalize(text: str) -> str:
    """SQuAD-style answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())
