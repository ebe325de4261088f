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
        wrong, case = _judge(doc, payload[who], tracer)
        out[f"hallucination_rate_{who}"] = float(wrong)
        out[f"borrowed_share_{who}"] = float(case is not None) if wrong else NAN
        out[f"borrowed_rate_{who}"] = float(case is not None)
        out[f"borrowed_cases_{who}"] = case
    return out


def count_cases(cases) -> int:
    """How many borrowed cases were logged (each is in the samples JSONL with its source)."""
    return sum(c is not None for c in cases)
