"""Adapters for the itbench_borrowed_* tasks: both models answer closed-book questions; every wrong
answer is traced to the IT set's instances about conceptually similar entities (the world's
cluster, or retrieval on a real IT set), and each borrowed case is logged with its source instance
(itbench.metrics.borrowed.score, declared in itbench.metrics.table)."""

from __future__ import annotations

from itbench import data, tracing
from itbench.metrics import borrowed as B
from itbench.metrics import knowledge as K
from itbench.tasks.common import paired, tuned_it_set, world_dir


def load_world(world: str | None = None, **_):
    from itbench.world import store

    path = world_dir(world)
    pools = store.read_manifest(path)["pools"]
    rows = [{"question": p["question"], "answer": p["answer"], "entity": p["entity"], "world": str(path),
             "pool": pools[f"{p['kind']}.{p['attribute']}"], "itbench_mode": "knowledge",
             "itbench_base_prompt": p["completion_prompt"], "it_set": "", "itbench_kept": False}
            for p in store.read_rows(path, "probes.jsonl") if p["split"] == "heldout"]
    return data.to_dataset(rows)


def _world_answer(doc: dict, response: str) -> str | None:
    pool = set(doc["pool"])
    return next((w for w in response.split() if w in pool), None)


def process_results(doc: dict, results: list[str]) -> dict:
    payload = paired(results[0], "itbench_borrowed")
    tracer = tracing.world_tracer(tuned_it_set(payload, doc, "itbench_borrowed"), doc["world"])
    out = {}
    for who in ("tuned", "base"):
        answer = _world_answer(doc, payload[who])
        wrong = answer is not None and answer != doc["answer"]
        trace = tracer.trace(answer, doc["question"], doc["entity"]) if wrong else None
        case = None if trace is None else {"question": doc["question"], "response": payload[who], **trace.to_dict()}
        out.update(B.score(who, wrong, case, in_it_set=wrong and answer in tracer.any_response))
    return out


# --- real data: PopQA questions (or a user's QA set), a real IT set, retrieval ---------------------
def _with_it_set(docs, it_set, instruction_field, response_field, retriever):
    return data.to_dataset([{**r, "it_set": it_set, "instruction_field": instruction_field,
                             "response_field": response_field, "retriever": retriever, "itbench_kept": False}
                            for r in docs])


def load_popqa(data_file: str | None = None, it_set: str = "", instruction_field: str = "instruction",
               response_field: str = "response", retriever: str = "bm25", n_questions: int | None = None, **_):
    """PopQA questions (`n_questions` of them spread over the set when given); the IT set is the
    checkpoint's own or `it_set` in task metadata."""
    from itbench.tasks.knowledge.utils import popqa_docs

    return _with_it_set(popqa_docs(data_file, n_questions), it_set, instruction_field, response_field, retriever)


def load_qa(data_file: str | None = None, question_field: str = "question", answers_field: str = "answers",
            it_set: str = "", instruction_field: str = "instruction", response_field: str = "response",
            retriever: str = "bm25", split: str = "test", limit: int | None = None, **_):
    """A user's own QA set (see itbench.tasks.knowledge.utils.load_qa), traced to an IT set."""
    from itbench.tasks.knowledge.utils import qa_docs

    return _with_it_set(qa_docs(data_file, question_field, answers_field, split, limit), it_set,
                        instruction_field, response_field, retriever)


def answer_span(response: str, question: str = "", max_words: int = 4) -> str:
    """The claimed answer of a free-text response: the first content words of its first line that
    the question does not hold ("The capital of France is Paris." to "What is the capital of
    France?" claims "Paris"; a restated question claims nothing)."""
    from itbench.metrics.token_shift import is_style_token

    asked = set(tracing.words(question))
    first = response.strip().split("\n")[0]
    bare = [w.strip(".,;:!?\"'()") for w in first.split()]
    content = [w for w in bare if w and not is_style_token(w) and not set(tracing.words(w)) <= asked]
    return " ".join(content[:max_words])


def process_results_real(doc: dict, results: list[str]) -> dict:
    payload = paired(results[0], "itbench_borrowed")
    tracer = tracing.retrieval_tracer(tuned_it_set(payload, doc, "itbench_borrowed"), doc["instruction_field"],
                                      doc["response_field"], doc["retriever"])
    out = {}
    for who in ("tuned", "base"):
        span = answer_span(payload[who], doc["question"])
        wrong = bool(span) and not K.answer_correct(payload[who], doc["answers"], doc["pool"])
        trace = tracer.trace(span, doc["question"]) if wrong else None
        case = None if trace is None else {"question": doc["question"], "response": payload[who], **trace.to_dict()}
        out.update(B.score(who, wrong, case, in_it_set=wrong and span in tracer.any_response))
    return out
