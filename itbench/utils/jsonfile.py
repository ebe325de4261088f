"""JSON read from files itbench does not trust (results, samples, manifests, findings, data sets).

Python's json keeps the last of two equal keys in one object without a word, while a person (or
another tool) reading the file sees the first: `{"retention,none": 0.1, "retention,none": 0.99}`
would pass a gate that a reviewer saw fail. Here a repeated key is a decode error."""

from __future__ import annotations

import json


class DuplicateKeyError(json.JSONDecodeError):
    """A JSONDecodeError (callers that catch those report it with their file), naming the key."""

    def __init__(self, key: str):
        ValueError.__init__(self, f"the key {key!r} appears twice in one object (readers disagree on its value)")
        self.msg, self.doc, self.pos, self.lineno, self.colno = str(self), "", 0, 0, 0

    def __reduce__(self):
        return DuplicateKeyError, (self.msg,)


def _unique(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


def loads(text: str | bytes):
    """json.loads, with a repeated key in any object refused (DuplicateKeyError)."""
    return json.loads(text, object_pairs_hook=_unique)
