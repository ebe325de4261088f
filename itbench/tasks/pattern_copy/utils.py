"""Adapters for the itbench_pattern_copy_* tasks: both models answer open-ended instructions; the
tuned model's responses are set beside its IT set's (length, template) and, in the world, every
claim they make is checked against the truth."""

from __future__ import annotations

from collections import Counter

import numpy as np

from itbench.metrics import pattern_copy as P
from itbench.tasks.common import it_set_rows, paired, rows_from, to_dataset, tuned_it_set, world_dir
from itbench.world import schema as S

NAN = float("nan")


def load_world(world: str | None = None, **_):
    """Open-ended instructions about held-out entities; the base is asked to continue the
    biography opener it read in pretraining."""
    from itbench.world import store

    path = world_dir(world)
    truth = {e["name"]: {**e["attributes"], **e["hidden"]} for e in store.read_rows(path, "entities.jsonl")}
    rows = [{"instruction": r["instruction"], "entity": r["entity"], "itbench_mode": "knowledge",
             "itbench_base_prompt": S.BIO_OPENER.format(ent=r["entity"]), "truth": truth, "it_set": "",
             "instruction_field": "instruction", "response_field": "response"}
            for r in store.read_rows(path, "open_instructions.jsonl")]
    return to_dataset(rows)


def load_instructions(data_file: str | None = None, it_set: str = "", instruction_field: str = "instruction",
                      response_field: str = "response", limit: int = 200, **_):
    """Real data: just-eval-instruct's regular instructions (or $ITBENCH_JUST_EVAL), compared with
    the IT set named in metadata (`it_set`, with its field names) or by the checkpoint."""
    rows = rows_from(data_file, "re-align/just-eval-instruct", "test", "ITBENCH_JUST_EVAL")
    regular = [r for r in rows if r.get("category", "regular") == "regular"][:limit]
    return to_dataset([{"instruction": r["instruction"], "entity": "", "itbench_mode": "knowledge",
                        "itbench_base_prompt": r["instruction"], "truth": {}, "it_set": it_set,
                        "instruction_field": instruction_field, "response_field": response_field}
                       for r in regular])


def _claims(text: str, truth: dict) -> tuple[int, int]:
    from itbench.world.claims import check_claim, extract_claims

    checks = [check_claim(c, truth) for c in extract_claims(text)]
    return sum(c is True for c in checks), sum(c is not None for c in checks)


def _it_stats(source: str, fi: str, fr: str) -> dict:
    rows = it_set_rows(source, fi, fr)
    responses = [r[fr] for r in rows]
    return {"responses": responses, "lengths": [len(x.split()) for x in responses],
            "openers": Counter(P.opener(x) for x in responses),
            "closers": Counter(P.closer(x) for x in responses),
            "list_rate": float(np.mean([P.structure(x)["list_items"] > 0 for x in responses])),
            "heading_rate": float(np.mean([P.structure(x)["headings"] > 0 for x in responses]))}


_STATS: dict[tuple, dict] = {}


def process_results(doc: dict, results: list[str]) -> dict:
    payload = paired(doc, results[0], "itbench_pattern_copy")
    source = tuned_it_set(payload, doc, "itbench_pattern_copy")
    key = (source, doc["instruction_field"], doc["response_field"])
    if key not in _STATS:
        _STATS[key] = _it_stats(*key)
    it = _STATS[key]
    tuned, base = payload["tuned"], payload["base"]
    out = {"length_tuned": len(tuned.split()), "length_base": len(base.split()),
           "length_pattern": {"len": len(tuned.split()), "it_set": key},
           "length_distance": {"len": len(tuned.split()), "it_set": key},
           "template_similarity": P.template_similarity(tuned, it["responses"]),
           "opener_match": P.opener_match(tuned, it["openers"]),
           "closer_match": P.closer_match(tuned, it["closers"]),
           # (response uses a list) - (share of IT responses that do): 0 when it copies the habit
           "list_use_gap": float(P.structure(tuned)["list_items"] > 0) - it["list_rate"],
           "heading_use_gap": float(P.structure(tuned)["headings"] > 0) - it["heading_rate"]}
    if doc["truth"]:
        ok_t, n_t = _claims(tuned, doc["truth"])
        ok_b, n_b = _claims(base, doc["truth"])
        out.update({"precision_tuned": P.factual_precision(ok_t, n_t), "precision_base": P.factual_precision(ok_b, n_b),
                    "invented_tuned": P.invented_details(n_t - ok_t), "invented_base": P.invented_details(n_b - ok_b),
                    "claims_tuned": n_t, "claims_base": n_b})
    else:  # real data: factuality is left to the world or a judge
        out.update(dict.fromkeys(("precision_tuned", "precision_base", "invented_tuned", "invented_base",
                                  "claims_tuned", "claims_base"), NAN))
    return out


def _lengths(items) -> tuple[list[int], list[int]]:
    keys = {tuple(i["it_set"]) for i in items}
    it_lengths = [n for k in keys for n in _STATS[k]["lengths"]] if all(k in _STATS for k in keys) else []
    return [i["len"] for i in items], it_lengths


def length_ratio(items) -> float:
    """Mean response length over the IT set's mean response length (pooled over documents)."""
    return P.length_ratio(*_lengths(items))


def length_distance(items) -> float:
    """KS statistic between the response lengths and the IT set's."""
    return P.length_distance(*_lengths(items))

