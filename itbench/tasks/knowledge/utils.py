"""Adapters for the itbench_knowledge_* tasks: load the probes as documents, and score one paired
answer with itbench.metrics.knowledge.score (declared in itbench.metrics.table).

Each document carries `itbench_mode: knowledge` and `itbench_base_prompt` (how a base model is
asked: completion or few-shot form) for `--model itbench`; the tuned model is asked `question`.
"""

from __future__ import annotations

import json

from itbench import data
from itbench.metrics import knowledge as K
from itbench.metrics import specifics as S
from itbench.tasks.common import paired, world_dir

# Fixed few-shot demonstrations for base models on real data (common knowledge, not from the sets).
FEW_SHOT = ("Q: What is the capital of France?\nA: Paris\n\n"
            "Q: Who wrote Hamlet?\nA: William Shakespeare\n\n"
            "Q: What is the largest planet in the solar system?\nA: Jupiter\n\n")


def doc(question: str, answers: list[str], split: str, entity: str = "", pool: list | None = None,
        popularity: int = -1, base_prompt: str | None = None) -> dict:
    """One knowledge document; the base is asked in few-shot form unless told otherwise."""
    return {"question": question, "answers": answers, "split": split, "entity": entity, "pool": pool or [],
            "itbench_mode": "knowledge", "popularity": popularity,
            "itbench_base_prompt": base_prompt if base_prompt is not None else f"{FEW_SHOT}Q: {question}\nA:"}


# --- data sets -------------------------------------------------------------------------------
def load_world(world: str | None = None, splits=("heldout", "unseen"), **_):
    """World probes about held-out (known, never seen as Q/A or in the IT set) and unseen entities."""
    from itbench.world import store

    path = world_dir(world)
    pools = store.read_manifest(path)["pools"]
    return data.to_dataset([doc(p["question"], [p["answer"]], p["split"], p["entity"],
                                pools[f"{p['kind']}.{p['attribute']}"], base_prompt=p["completion_prompt"])
                            for p in store.read_rows(path, "probes.jsonl") if p["split"] in splits])


def popqa_doc(r: dict) -> dict:
    if "metadata" in r:  # the adaptive-retrieval export: nested metadata, golden_answers
        meta, answers = r["metadata"], list(r["golden_answers"])
    else:  # the hub's akariasai/PopQA: flat, possible_answers as a JSON string
        meta = r
        answers = r["possible_answers"]
        answers = json.loads(answers) if isinstance(answers, str) else list(answers)
    return doc(r["question"], answers, "popqa", meta["subj"], popularity=int(meta["s_pop"]))


def popqa_docs(data_file: str | None = None, n_questions: int | None = None) -> list[dict]:
    """PopQA's questions, or `n_questions` of them spread over the set (task metadata)."""
    rows = data.load_rows(data_file, "akariasai/PopQA", "test", "ITBENCH_POPQA")
    return [popqa_doc(r) for r in data.spread(rows, n_questions)]


def _screened(task: str, docs: list[dict], screen: str | None, n_questions: int | None) -> list[dict]:
    """The documents a knowledge task asks: those a screen file selects (task metadata `screen`:
    the base-known questions of the pool and a spread sample, itbench.screen), else n_questions
    spread over the pool."""
    if screen:
        from itbench.screen import select_docs

        return select_docs(screen, task, docs)
    return data.spread(docs, n_questions)


def load_popqa(data_file: str | None = None, n_questions: int | None = None, screen: str | None = None, **_):
    return data.to_dataset(_screened("itbench_knowledge_popqa", popqa_docs(data_file), screen, n_questions))


def _triviaqa_doc(r: dict) -> dict:
    if "context" in r:  # llm-foundry's export: "Question: ...\nAnswer:", answer, aliases
        question = r["context"].removeprefix("Question:").removesuffix("Answer:").strip()
        answers = [r["answer"], *r["aliases"]]
    else:  # the hub's trivia_qa rc.nocontext
        question, answers = r["question"], [r["answer"]["value"], *r["answer"]["aliases"]]
    return doc(question, answers, "triviaqa")


def load_triviaqa(data_file: str | None = None, n_questions: int | None = None, screen: str | None = None, **_):
    rows = data.load_rows(data_file, "mandarjoshi/trivia_qa", "validation", "ITBENCH_TRIVIAQA", name="rc.nocontext")
    return data.to_dataset(_screened("itbench_knowledge_triviaqa", [_triviaqa_doc(r) for r in rows], screen,
                                     n_questions))


def load_qa(data_file: str | None = None, question_field: str = "question", answers_field: str = "answers",
            split: str = "test", limit: int | None = None, **_):
    """A user's own QA set (a file or a hub data set): each row a question and its answer (a string)
    or answers (a list of aliases, or a JSON string of one). See the README's worked example."""
    return data.to_dataset(qa_docs(data_file, question_field, answers_field, split, limit))


def qa_docs(data_file: str | None, question_field: str = "question", answers_field: str = "answers",
            split: str = "test", limit: int | None = None) -> list[dict]:
    if not data_file:
        from itbench.errors import ItbenchError

        raise ItbenchError("a QA task needs its data: set dataset_kwargs: {data_file: PATH_OR_HUB_NAME, "
                           "question_field: ..., answers_field: ...} in its YAML")
    rows = data.load_rows(data_file, split=split)
    data.require_fields(rows, {question_field: str, answers_field: (str, list)}, f"QA set {data_file}",
                        "; name your fields with question_field / answers_field in the task YAML's dataset_kwargs")
    return [doc(r[question_field], qa_answers(r[answers_field]), "qa") for r in rows[:limit]]


def qa_answers(value) -> list[str]:
    """A row's answers: a list of aliases, a JSON list in a string, or one answer string."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    return [str(a) for a in value] if isinstance(value, list) else [str(value)]


# --- scoring ---------------------------------------------------------------------------------
def process_results(doc: dict, results: list[str]) -> dict:
    payload = paired(results[0], "itbench_knowledge")
    base = K.answer_correct(payload["base"], doc["answers"], doc["pool"])
    tuned = K.answer_correct(payload["tuned"], doc["answers"], doc["pool"])
    kept = [K.answer_correct(payload[k], doc["answers"], doc["pool"]) if isinstance(payload.get(k), str) else None
            for k in ("base_kept", "tuned_kept")]
    # unsupported specifics on real text (the world's probes ask one value: nothing to pad)
    specifics = [None, None] if doc["pool"] else [
        S.count(S.real_items(payload[who]), doc["question"], doc["answers"], payload[who]) for who in ("tuned", "base")]
    return K.score(base, tuned, doc["popularity"], *kept, *specifics)
