"""Benchmark: the borrowed-token tracer on real IT sets (Dolly 15k + Alpaca 5k + Alpaca 9k +
Alpaca-GPT4, 30,239 instances).

Prints, measured side by side in one run: the BM25 index build (target <= 5 s) and the response
index build, the memory each allocated at its peak, and traces per second (target >= 10,000):
bm25s's own scorer with a sort of the top k and a regex per response (how itbench traced until
2026-12-06), and itbench's tracer one at a time and in batches (the exact top 20 from a compiled
kernel that scores only the instructions able to reach it, itbench.tracing_kernel; the responses
holding the span from an inverted index), and how many instructions a trace scores. Also how
often old and new find the same source (they differ only where scores tie at the top-k edge, which
the old sort broke arbitrarily). Each trace ranks the IT set's instructions against a question and
finds the best-ranked of the top 20 whose response holds a span.
Run: .venv/bin/python benchmarks/tracing_speed.py [--data ../shared/data] [--traces 20000]
"""

from __future__ import annotations

import argparse
import json
import random
import time
import tracemalloc
from pathlib import Path

import numpy as np

from itbench.tracing import BM25Index, ResponseIndex, RetrievalTracer, contains_span, words


def load(data: Path) -> list[dict]:
    rows = [json.loads(x) for x in (data / "dolly-15k" / "databricks-dolly-15k.jsonl").read_text().split("\n") if x]
    for name in ("alpaca/alpaca_5000.json", "alpaca/random_9k.json", "alpaca-gpt4/alpaca_en_demo.json"):
        rows += [{"instruction": r["instruction"], "response": r["output"]}
                 for r in json.loads((data / name).read_text())]
    return rows


def old_trace(index: BM25Index, rows: list[dict], span: str, question: str, k: int = 20) -> int | None:
    """The tracer as it was: bm25s's get_scores, a partial sort of the top k, a regex per response."""
    terms = [w for w in words(question) if w in index._ids]
    if not terms:
        return None
    scores = index.retriever.get_scores(terms)
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return next((int(i) for i in top if scores[i] > 0 and contains_span(rows[i]["response"], span)), None)


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def peak_mib(fn, *args) -> float:
    tracemalloc.start()  # a second build, traced (tracing slows it, so it is not the one timed)
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--traces", type=int, default=20000)
    args = ap.parse_args()
    rows = load(Path(args.data))
    instructions, responses = [r["instruction"] for r in rows], [r["response"] for r in rows]
    index, build = timed(BM25Index, instructions)
    held, held_build = timed(ResponseIndex, responses)
    print(f"IT instances: {len(rows)} (Dolly 15k, Alpaca 5k + 9k, Alpaca-GPT4 1k)")
    print(f"BM25 index over the instructions: {build:.2f}s (target <= 5 s), peak "
          f"{peak_mib(BM25Index, instructions):.0f} MiB allocated")
    print(f"response index (which responses hold a span): {held_build:.2f}s, peak "
          f"{peak_mib(ResponseIndex, responses):.0f} MiB allocated")
    tracer = RetrievalTracer.__new__(RetrievalTracer)  # the indexes built above, not built again
    tracer.rows, tracer.index, tracer.k, tracer.any_response = rows, index, 20, held
    tracer.fi, tracer.fr, tracer.fid = "instruction", "response", None
    rng = random.Random(0)
    # Questions: IT instructions reworded by dropping words; spans: a word or two of a random response.
    pairs = []
    for _ in range(args.traces):
        r = rows[rng.randrange(len(rows))]
        q = [w for w in words(r["instruction"]) if rng.random() > 0.3] or words(r["instruction"])
        resp = words(r["response"]) or ["none"]
        at = rng.randrange(len(resp))
        pairs.append((" ".join(resp[at:at + rng.choice((1, 2))]), " ".join(q)))
    n_old = min(len(pairs), 3000)
    old, t_old = timed(lambda: [old_trace(index, rows, s, q) for s, q in pairs[:n_old]])
    index.search("warm")  # the dense rows of frequent words and the compiled kernel, at the first query
    one, t_one = timed(lambda: [tracer.trace(s, q) for s, q in pairs[:n_old]])
    new, t_new = timed(lambda: [t for i in range(0, len(pairs), 256) for t in tracer.trace_many(pairs[i:i + 256])])
    ids = [None if t is None else int(t.source_id) for t in new]
    print(f"traces per second ({len(pairs)} traces; old and one at a time on the first {n_old}): "
          f"old {n_old / t_old:,.0f}, itbench one at a time {n_old / t_one:,.0f}, itbench in batches of 256 "
          f"{len(pairs) / t_new:,.0f} (target >= 10,000): {t_old / n_old / (t_new / len(pairs)):.1f}x the old; "
          "dense rows of frequent words "
          f"{index._dense.nbytes / 2**20:.0f} MiB ({index._dense.shape[0]} words)")
    assert [None if t is None else int(t.source_id) for t in one] == ids[:n_old], "one at a time != batched"
    print(f"instructions scored per trace (the rest cannot reach the top 20): "
          f"{index.scored / max(index.queries, 1):,.0f} of {len(rows):,}")
    print(f"same source as the old way: {sum(a == b for a, b in zip(old, ids[:n_old], strict=True))} of {n_old}; "
          f"{sum(i is not None for i in ids)} of {len(pairs)} traces found a source")

if __name__ == "__main__":
    main()
