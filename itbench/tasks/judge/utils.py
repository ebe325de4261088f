"""Adapters for the itbench_judge_* tasks: both models answer open-ended instructions (the same
generations as pattern copying, shared within a run), then a filter sends every answer to the judge
at once (itbench.judge: `workers` requests in flight, verdicts cached by content) and
process_results turns each verdict into the five aspect scores of each model
(itbench.metrics.judge.score, declared in itbench.metrics.table). On the world, each answer's exact
factual precision is recorded beside the judge's factuality, for `itbench judge audit`."""

from __future__ import annotations

import json

from itbench import data, judge
from itbench.metrics import judge as J
from itbench.models.payload import parse_payload
from itbench.tasks.common import paired
from itbench.tasks.pattern_copy import utils as pattern_copy

VERDICTS = "itbench_judge"  # the key the filter adds to each paired payload


def _with_judge(rows: list[dict], n_judged: int | None, judge_url: str | None, judge_model: str | None):
    """`n_judged` rows spread over the set, each naming the judge given in metadata (else the
    environment's, read when the filter runs)."""
    return data.to_dataset([{**r, "judge_url": judge_url or "", "judge_model": judge_model or ""}
                            for r in data.spread(rows, n_judged)])


def load_world(world: str | None = None, n_judged: int | None = None, judge_url: str | None = None,
               judge_model: str | None = None, **kw):
    """The world's open instructions about held-out entities (as pattern copying asks them)."""
    return _with_judge(list(pattern_copy.load_world(world, **kw)["test"]), n_judged, judge_url, judge_model)


def load_instructions(data_file: str | None = None, n_judged: int | None = 50, judge_url: str | None = None,
                      judge_model: str | None = None, **kw):
    """just-eval-instruct's regular instructions (or any file of `instruction` rows): `n_judged` of
    those pattern copying asks (so the answers are generated once per run)."""
    rows = list(pattern_copy.load_instructions(data_file, **kw)["test"])
    return _with_judge(rows, n_judged, judge_url, judge_model)


def judge_all(resps: list[list[str]], docs: list[dict]) -> list[list[str]]:
    """lm-eval custom filter: every paired answer of the task judged (tuned and base), the verdicts
    added to each payload; an unpaired response passes through (process_results says what to do)."""
    first = docs[0] if docs else {}
    config = judge.JudgeConfig.from_env(url=first.get("judge_url") or None, model=first.get("judge_model") or None)
    j = judge.Judge(config)
    payloads = [parse_payload(r[0]) if r else None for r in resps]
    items = [(doc["instruction"], p[who]) for doc, p in zip(docs, payloads, strict=True) if p is not None
             for who in ("tuned", "base")]
    verdicts = iter(j.judge_many(items))
    out = []
    for r, p in zip(resps, payloads, strict=True):
        if p is None:
            out.append(r)
            continue
        p[VERDICTS] = {"judge": config.label, "tuned": next(verdicts).to_dict(), "base": next(verdicts).to_dict()}
        out.append([json.dumps(p)])
    return out


def process_results(doc: dict, results: list[str]) -> dict:
    payload = paired(results[0], "itbench_judge")
    verdicts = payload.get(VERDICTS)
    if not isinstance(verdicts, dict):
        raise ValueError("itbench_judge: the payload has no verdicts; the task's filter (judge_all) did not run")
    # the world: exact factual precision beside the judge's factuality (None without a checkable
    # claim, and on real data, which has no exact truth)
    correct, checked = pattern_copy._claims(payload["tuned"], doc["truth"]) if doc.get("truth") else (0, 0)
    return J.score(verdicts["tuned"], verdicts["base"], correct / checked if checked else None,
                   str(verdicts.get("judge", "")))
