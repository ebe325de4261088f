"""Adapters for the itbench_knowledge_* tasks: load the probes, score one paired answer, aggregate.

Each document carries `itbench_mode: knowledge` and `itbench_base_prompt` (how a base model is
asked: completion or few-shot form) for `--model itbench`; the tuned model is asked `question`.
"""

from __future__ import annotations

import json
import math
import re
import string

from itbench.metrics import knowledge as K
from itbench.tasks.common import paired, rows_from, to_dataset, world_dir

NAN = float("nan")

# Fixed few-shot demonstrations for base models on real data (common knowledge, not from the sets).
FEW_SHOT = ("Q: What is the capital of France?\nA: Paris\n\n"
            "Q: Who wrote Hamlet?\nA: William Shakespeare\n\n"
            "Q: What is the largest planet in the solar system?\nA: Jupiter\n\n")
POP_BUCKETS = (("low", 0, 1_000), ("mid", 1_000, 10_000), ("high", 10_000, math.inf))


# --- data sets -------------------------------------------------------------------------------
def load_world(world: str | None = None, splits=("heldout", "unseen"), **_):
    """World probes about held-out (known, never seen as Q/A or in the IT set) and unseen entities."""
    from itbench.world import store

    path = world_dir(world)
    pools = store.read_manifest(path)["pools"]
    rows = [{"question": p["question"], "answers": [p["answer"]], "split": p["split"], "entity": p["entity"],
             "pool": pools[f"{p['kind']}.{p['attribute']}"], "itbench_mode": "knowledge",
             "itbench_base_prompt": p["completion_prompt"], "popularity": -1}
            for p in store.read_rows(path, "probes.jsonl") if p["split"] in splits]
    return to_dataset(rows)


def _popqa_row(r: dict) -> dict:
    if "metadata" in r:  # the adaptive-retrieval export: nested metadata, golden_answers
        meta, answers = r["metadata"], list(r["golden_answers"])
    else:  # the hub's akariasai/PopQA: flat, possible_answers as a JSON string
        meta = r
        answers = r["possible_answers"]
        answers = json.loads(answers) if isinstance(answers, str) else list(answers)
    return {"question": r["question"], "answers": answers, "split": "popqa", "entity": meta["subj"],
            "pool": [], "itbench_mode": "knowledge", "popularity": int(meta["s_pop"]),
            "itbench_base_prompt": f"{FEW_SHOT}Q: {r['question']}\nA:"}


def load_popqa(data_file: str | None = None, **_):
    return to_dataset([_popqa_row(r) for r in rows_from(data_file, "akariasai/PopQA", "test", "ITBENCH_POPQA")])


def _triviaqa_row(r: dict) -> dict:
    if "context" in r:  # llm-foundry's export: "Question: ...\nAnswer:", answer, aliases
        question = r["context"].removeprefix("Question:").removesuffix("Answer:").strip()
        answers = [r["answer"], *r["aliases"]]
    else:  # the hub's trivia_qa rc.nocontext
        question, answers = r["question"], [r["answer"]["value"], *r["answer"]["aliases"]]
    return {"question": question, "answers": answers, "split": "triviaqa", "entity": "", "pool": [],
            "itbench_mode": "knowledge", "popularity": -1, "itbench_base_prompt": f"{FEW_SHOT}Q: {question}\nA:"}


def load_triviaqa(data_file: str | None = None, **_):
    rows = rows_from(data_file, "mandarjoshi/trivia_qa", "validation", "ITBENCH_TRIVIAQA", name="rc.nocontext")
    return to_dataset([_triviaqa_row(r) for r in rows])


# --- scoring ---------------------------------------------------------------------------------
def normalize(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def is_correct(doc: dict, response: str) -> bool:
    """World: the first word of the asked attribute's value pool in the response is the value.
    Real data: a normalised alias occurs in the normalised response."""
    if doc["pool"]:
        pool = set(doc["pool"])
        first = next((w for w in response.split() if w in pool), None)
        return first in doc["answers"]
    resp = f" {normalize(response)} "
    return any(f" {a} " in resp for a in (normalize(x) for x in doc["answers"]) if a)


def process_results(doc: dict, results: list[str]) -> dict:
    payload = paired(doc, results[0], "itbench_knowledge")
    b, t = is_correct(doc, payload["base"]), is_correct(doc, payload["tuned"])
    out = {"acc_base": float(b), "acc_tuned": float(t),
           "retention": float(t) if b else NAN, "forgetting": float(not t) if b else NAN,
           "knowledge_gained": float(t) if not b else NAN, "mcnemar_p": (b, t),
           "n_base_right": int(b), "n_base_wrong": int(not b)}
    for name, lo, hi in POP_BUCKETS:
        inside = lo <= doc["popularity"] < hi
        out[f"retention_pop_{name}"] = float(t) if (b and inside) else NAN
        out[f"acc_tuned_pop_{name}"] = float(t) if inside else NAN
    return out


# --- corpus-level aggregations ----------------------------------------------------------------
def mcnemar(pairs) -> float:
    base, tuned = zip(*pairs, strict=True) if pairs else ((), ())
    return K.mcnemar_exact_p(base, tuned)


def total(values) -> int:
    return int(sum(values))
