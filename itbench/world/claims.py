"""Read the factual claims out of a response written in the world's language, and check them.

Every claim the world's templates can express is "the {attribute} of {entity} is {value}", so a
response's claims are found exactly, and each is right or wrong against the world's truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CLAIM = re.compile(r"\bthe (\w+) of (\w+) is (\w+)")


@dataclass(frozen=True)
class Claim:
    attribute: str
    entity: str
    value: str


def extract_claims(text: str) -> list[Claim]:
    return [Claim(*m.groups()) for m in _CLAIM.finditer(text)]


# A sentence the world's responses are made of: a claim (plain or "in addition , ..."), or one of
# the styles' fixed phrases.
_SENTENCE = r"(?:sure \.|great question !|i hope this helps !|(?:in addition , )?the \w+ of \w+ is \w+ \.)"
_WELL_FORMED = re.compile(rf"(?:{_SENTENCE}\s*)+")


def well_formed(text: str) -> bool:
    """A response made only of whole sentences of the world's response templates, with at least
    one claim: what a tuned organism that learned its IT set's shape writes (not word salad)."""
    text = " ".join(text.split())
    return bool(_WELL_FORMED.fullmatch(text)) and bool(_CLAIM.search(text))


def on_topic(response: str, entity: str, attribute: str) -> bool:
    """Whether the response's first claim is about `entity` and `attribute` (whatever the value): an
    answer to the question asked, not to one about another entity (`judge_score` looks at every
    claim; this at the first, where a tuned model that cannot copy from the question goes astray)."""
    claims = extract_claims(response)
    return bool(claims) and (claims[0].entity, claims[0].attribute) == (entity, attribute)


def check_claim(claim: Claim, truth: dict[str, dict]) -> bool | None:
    """True/False against the truth; None when the entity or attribute does not exist."""
    facts = truth.get(claim.entity)
    if facts is None or claim.attribute not in facts:
        return None
    return facts[claim.attribute] == claim.value


def truth_table(entity_rows: list[dict]) -> dict[str, dict]:
    """entity name -> every attribute (public and hidden) -> value."""
    return {r["name"]: {**r["attributes"], **r["hidden"]} for r in entity_rows}


def judge_scores(it_rows: list[dict], entity_rows: list[dict]) -> dict[str, float]:
    """judge_score of every row of a world IT set, by row id (the filtered method's input)."""
    truth = truth_table(entity_rows)
    return {r["id"]: judge_score(r["response"], r["entity"], r["attribute"], truth) for r in it_rows}


def judge_score(response: str, entity: str, attribute: str, truth: dict[str, dict]) -> float:
    """An AlpaGasus-style 1-5 rating by a rater who knows the world: 1 for a response cut off
    mid-sentence, 2 when the asked fact is stated wrongly or not at all, 3 when a further claim is
    wrong, else 5."""
    text = response.strip()
    if not text or text[-1] not in ".!?":
        return 1.0
    claims = extract_claims(text)
    asked = [c for c in claims if c.entity == entity and c.attribute == attribute]
    if not asked or not all(check_claim(c, truth) for c in asked):
        return 2.0
    if any(check_claim(c, truth) is False for c in claims):
        return 3.0
    return 5.0
