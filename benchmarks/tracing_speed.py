"""Benchmark: the borrowed-token tracer on real IT sets (Dolly 15k plus Alpaca 14k together).

Prints the BM25 index build time (target < 30 s), the memory the build allocated at its peak, and
traces per second (target >= 1,000) on this machine. The index is bm25s's; the hand-written
sparse-matrix BM25 it replaced measured 0.88 s and 974 traces/s here (2026-11-23). Each trace
retrieves the top 20 instructions similar to a question and looks for a span in their responses.
Run: .venv/bin/python benchmarks/tracing_speed.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from itbench.tracing import BM25Index, RetrievalTracer, words


def load(data: Path) -> list[dict]:
    rows = [json.loads(x) for x in (data / "dolly-15k" / "databricks-dolly-15k.jsonl").read_text().split("\n") if x]
    for name in ("alpaca_5000.json", "random_9k.json"):
        rows += [{"instruction": r["instruction"], "response": r["output"]}
                 for r in json.loads((data / "alpaca" / name).read_text())]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--traces", type=int, default=5000)
    args = ap.parse_args()
    rows = load(Path(args.data))
    import tracemalloc

    t0 = time.perf_counter()
    index = BM25Index([r["instruction"] for r in rows])
    build = time.perf_counter() - t0
    tracemalloc.start()  # a second build, traced (tracing slows it, so it is not the one timed)
    BM25Index([r["instruction"] for r in rows])
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    tracer = RetrievalTracer(rows, index, k=20)
    rng = random.Random(0)
    # Questions: IT instructions reworded by dropping words; spans: a word of a random response
    # (half of them planted in a similar instance's response, half arbitrary).
    queries = []
    for _ in range(args.traces):
        r = rows[rng.randrange(len(rows))]
        q = [w for w in words(r["instruction"]) if rng.random() > 0.3] or words(r["instruction"])
        resp = words(r["response"]) or ["none"]
        queries.append((" ".join(q), rng.choice(resp)))
    t0 = time.perf_counter()
    found = sum(tracer.trace(span, q) is not None for q, span in queries)
    rate = len(queries) / (time.perf_counter() - t0)
    print(f"IT instances: {len(rows)}")
    print(f"BM25 index build: {build:.2f}s (target < 30 s), peak memory allocated {peak:.0f} MiB")
    print(f"traces: {len(queries)} at {rate:,.0f} per second (target >= 1,000); {found} found a source")


if __name__ == "__main__":
    main()
