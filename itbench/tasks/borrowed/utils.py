"""Adapters for the itbench_borrowed_* tasks: both models answer closed-book questions; every wrong
answer is traced to the IT set's instances about conceptually similar entities (the world's
cluster), and each borrowed case is logged with its source instance."""

from __future__ import annotations

from itbench.tasks.common import it_set_rows, paired, to_dataset, tuned_it_set, world_dir
from itbench.tracing import WorldTracer

NAN = float("nan")
_TRACERS: dict[tuple, WorldTracer] = {}


def load_world(world: str | None = None, **_):
    from itbench.world import store

    path = world_dir(world)
    pools = store.read_manifest(path)["pools"]
    rows = [{"question": p["question"], "answer": p["answer"], "entity": p["entity"], "world": str(path),
             "pool": pools[f"{p['kind']}.{p['attribute']}"], "itbench_mode": "knowledge",
             "itbench_base_prompt": p["completion_prompt"], "it_set": ""}
            for p in store.read_rows(path, "probes.jsonl") if p["split"] == "heldout"]
    return to_dataset(rows)


def _tracer(source: str, world: str) -> WorldTracer:
    from itbench.world import store

    key = (source, world)
    if key not in _TRACERS:
        _TRACERS[key] = WorldTracer(it_set_rows(source), store.read_rows(world, "entities.jsonl"))
    return _TRACERS[key]


def _answer(doc: dict, response: str) -> str | None:
    pool = set(doc["pool"])
    return next((w for w in response.split() if w in pool), None)


def _judge(doc: dict, response: str, tracer: WorldTracer) -> tuple[bool, dict | None]:
    answer = _answer(doc, response)
    wrong = answer is not None and answer != doc["answer"]
    if not wrong:
        return False, None
    trace = tracer.trace(answer, doc["question"], doc["entity"])
    case = None if trace is None else {"question": doc["question"], "response": response, **trace.to_dict()}
    return True, case


def process_results(doc: dict, results: list[str]) -> dict:
    payload = paired(doc, results[0], "itbench_borrowed")
    tracer = _tracer(tuned_it_set(payload, doc, "itbench_borrowed"), doc["world"])
    out = {}
    for who in ("tuned", "base"):
        out.update(_record(who, *_judge(doc, payload[who], tracer)))
    return out


def _record(who: str, wrong: bool, case: dict | None) -> dict:
    """The per-document metrics of one model's answer: wrong or not, and its borrowed case."""
    return {f"hallucination_rate_{who}": float(wrong),
            f"borrowed_share_{who}": float(case is not None) if wrong else NAN,
            f"borrowed_rate_{who}": float(case is not None),
            f"borrowed_cases_{who}": case}


def count_cases(cases) -> int:
    """How many borrowed cases were logged (each is in the samples JSONL with its source)."""
    return sum(c is not None for c in cases)


# --- real data: PopQA questions, a real IT set, retrieval --------------------------------------
_RETRIEVERS: dict[tuple, object] = {}


def load_popqa(data_file: str | None = None, it_set: str = "", instruction_field: str = "instruction",
               response_field: str = "response", retriever: str = "bm25", **_):
    """PopQA questions; the IT set is the checkpoint's own or `it_set` in task metadata."""
    from itbench.tasks.common import rows_from
    from itbench.tasks.knowledge.utils import _popqa_row

    rows = [_popqa_row(r) for r in rows_from(data_file, "akariasai/PopQA", "test", "ITBENCH_POPQA")]
    return to_dataset([{**r, "it_set": it_set, "instruction_field": instruction_field,
                        "response_field": response_field, "retriever": retriever} for r in rows])


def _retrieval_tracer(source: str, fi: str, fr: str, retriever: str):
    from itbench.cli import home
    from itbench.tracing import EmbeddingIndex, RetrievalTracer, cached_index

    key = (source, fi, fr, retriever)
    if key not in _RETRIEVERS:
        rows = it_set_rows(source, fi, fr)
        if retriever == "bm25":
            index = cached_index(rows, home() / "index", fi)
        elif retriever == "embeddings":
            index = EmbeddingIndex([r[fi] for r in rows])
        else:
            raise ValueError(f"retriever must be bm25 or embeddings, not {retriever!r}")
        _RETRIEVERS[key] = RetrievalTracer(rows, index, k=20, instruction_field=fi, response_field=fr)
    return _RETRIEVERS[key]


def answer_span(response: str, max_words: int = 4) -> str:
    """The claimed answer of a free-text response: the first content words of its first line."""
    from itbench.metrics.token_shift import is_style_token

    first = response.strip().split("\n")[0]
    content = [w.strip(".,;:!?\"'()") for w in first.split() if not is_style_token(w)]
    return " ".join([w for w in content if w][:max_words])


def process_results_real(doc: dict, results: list[str]) -> dict:
    from itbench.tasks.knowledge.utils import is_correct

    payload = paired(doc, results[0], "itbench_borrowed")
    tracer = _retrieval_tracer(tuned_it_set(payload, doc, "itbench_borrowed"), doc["instruction_field"],
                               doc["response_field"], doc["retriever"])
    out = {}
    for who in ("tuned", "base"):
        span = answer_span(payload[who])
        wrong = bool(span) and not is_correct(doc, payload[who])
        trace = tracer.trace(span, doc["question"]) if wrong else None
        case = None if trace is None else {"question": doc["question"], "response": payload[who], **trace.to_dict()}
        out.update(_record(who, wrong, case))
    return out
