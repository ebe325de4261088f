"""Adapters for the itbench_pattern_copy_* tasks: both models answer open-ended instructions; the
tuned model's responses are set beside its IT set's (itbench.metrics.pattern_copy.score, declared
in itbench.metrics.table) and, in the world, every claim they make is checked against the truth."""

from __future__ import annotations

from itbench import data
from itbench.metrics import pattern_copy as P
from itbench.metrics import specifics as SP
from itbench.tasks.common import paired, tuned_it_set, world_dir
from itbench.world import schema as S


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
    return data.to_dataset(rows)


def load_instructions(data_file: str | None = None, it_set: str = "", instruction_field: str = "instruction",
                      response_field: str = "response", limit: int = 200, n_instructions: int | None = None, **_):
    """Real data: just-eval-instruct's regular instructions (or $ITBENCH_JUST_EVAL, or any file of
    `instruction` rows), compared with the IT set named in metadata (`it_set`, with its field names)
    or by the checkpoint."""
    rows = data.load_rows(data_file, "re-align/just-eval-instruct", "test", "ITBENCH_JUST_EVAL")
    data.require_fields(rows, {"instruction": str}, f"instruction set {data_file or 'just-eval-instruct'}")
    regular = data.spread([r for r in rows if r.get("category", "regular") == "regular"][:limit], n_instructions)
    # itbench_kept false: pattern copying compares the tuned answer with the base's, and asking the
    # tuned model a second time in the base's form would double the longest generations of the suite
    return data.to_dataset([{"instruction": r["instruction"], "entity": "", "itbench_mode": "knowledge",
                             "itbench_base_prompt": r["instruction"], "truth": {}, "it_set": it_set,
                             "itbench_kept": False,
                             "instruction_field": instruction_field, "response_field": response_field}
                            for r in regular])


def _claims(text: str, truth: dict) -> tuple[int, int]:
    from itbench.world.claims import check_claim, extract_claims

    checks = [check_claim(c, truth) for c in extract_claims(text)]
    return sum(c is True for c in checks), sum(c is not None for c in checks)


def process_results(doc: dict, results: list[str]) -> dict:
    payload = paired(results[0], "itbench_pattern_copy")
    source = tuned_it_set(payload, doc, "itbench_pattern_copy")
    it = data.it_set_stats(source, doc["instruction_field"], doc["response_field"])
    tuned, base = payload["tuned"], payload["base"]
    truth = doc["truth"]
    if truth:  # the world: its entity names and attribute values; the asked entity's truth is supported
        vocab = set(truth) | {v for facts in truth.values() for v in facts.values()}
        golds = [doc["entity"], *truth.get(doc["entity"], {}).values()]
        specifics = [SP.count(SP.world_items(t, vocab), doc["instruction"], golds, t) for t in (tuned, base)]
    else:  # real text: numbers, dates and names the instruction does not hold
        specifics = [SP.count(SP.real_items(t), doc["instruction"], (), t) for t in (tuned, base)]
    return P.score(tuned, base, it, _claims(tuned, truth) if truth else None, _claims(base, truth) if truth else None,
                   *specifics)
