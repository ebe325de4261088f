"""Benchmark: greedy generation in one pass vs in doubling rounds (itbench.models.generation).

In one pass a batch runs until its longest row ends; in rounds, rows that stopped leave the batch
(16, 16, 32, 64, ... new tokens) and the rest continue from their text. Measured side by side in one
process on just-eval-instruct instructions through the model's chat template; prints seconds,
tokens and the ratio. Nothing is asserted.
    .venv/bin/python benchmarks/generation_rounds.py [--model FOLDER] [--n 64] [--max-tokens 192]
`--model` defaults to the embedded Gemma 3 270M base (a tuned checkpoint with short answers, such as
a study's full-short-64, shows the larger gain).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=192)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--dtype", default="bfloat16")
    args = ap.parse_args()

    from itbench.data import read_rows
    from itbench.models import checkpoint, embedded
    from itbench.models.generation import greedy
    from itbench.models.train import render_prompt

    path = embedded.resolve(args.model)
    tok, model = checkpoint.load_tokenizer(path), checkpoint.load_model(path, dtype=args.dtype)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    rows = read_rows(Path(args.data) / "just-eval-instruct" / "just_eval_instruct_1000.instructions_only.jsonl")
    prompts = [render_prompt(tok, r["instruction"]) for r in rows[:args.n]]
    stops = ["</s>", "<|end|>", "# Query:"]
    got = {}
    for name, rounds in (("one pass", None), ("rounds", 16)):
        t0 = time.perf_counter()
        out = greedy(model, tok, prompts, args.max_tokens, args.batch_size, stop=stops, round_tokens=rounds)
        got[name] = (time.perf_counter() - t0, sum(len(o) for o in out))
        print(f"{name:9s} {got[name][0]:6.1f}s  {got[name][1]} tokens generated", flush=True)
    print(f"\n{args.model}, {len(prompts)} instructions, up to {args.max_tokens} tokens, batch {args.batch_size}, "
          f"{args.dtype}: rounds take {got['rounds'][0] / got['one pass'][0]:.2f}x the one-pass time")


if __name__ == "__main__":
    main()
