"""Benchmark: token shift from vLLM's prompt_logprobs against the exact transformers path, on the
same prompts and responses, side by side in one run (float32 both).

Prints the time of each path (the vLLM one includes its two engine starts and, for an adapter,
the merge), how often the base's rank of each response token agrees, the largest difference in the
base's probability, and the top-k KL with its tail bucket against the full-vocabulary KL (mean of
each, mean absolute error, share of positions within 0.05 nats or 10%).
    world zoo:  .venv/bin/python benchmarks/vllm_scoring.py --zoo $ITBENCH_HOME/zoo --tuned lora-short-4x
    Gemma:      .venv/bin/python benchmarks/vllm_scoring.py --base gemma-3-270m \\
                    --tuned STUDY/checkpoints/lora-short-64 \\
                    --just-eval ../shared/data/just-eval-instruct/just_eval_instruct_1000.instructions_only.jsonl
vLLM on CPU needs this `__main__` guard (its workers start with spawn).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, help="a world zoo: its base/ and the world beside it")
    ap.add_argument("--base", help="the base (a folder or an embedded name) when not a world zoo")
    ap.add_argument("--tuned", required=True, help="a zoo checkpoint name, or a checkpoint / adapter folder")
    ap.add_argument("--just-eval", help="just-eval instructions (JSONL); the base gets the URIAL prompt beside it")
    ap.add_argument("--n", type=int, default=32, help="responses scored")
    ap.add_argument("--k", type=int, default=20, help="top-k of prompt_logprobs")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--token-budget", type=int, default=2048)
    args = ap.parse_args()

    import torch

    from itbench.models import checkpoint, embedded, scorer, vllm_scoring
    from itbench.models.generation import greedy
    from itbench.models.tokens import encode_prompt
    from itbench.models.train import render_prompt

    if args.zoo:
        from itbench.tasks.token_shift.utils import load_world

        base = args.zoo / "base"
        tuned = args.zoo / args.tuned
        docs = list(load_world(world=str(args.zoo.parent / "world"))["test"])[:args.n]
    else:
        from itbench.tasks.token_shift.utils import load_just_eval

        base, tuned = Path(embedded.resolve(args.base)), Path(args.tuned)
        docs = list(load_just_eval(data_file=args.just_eval, n_instructions=args.n)["test"])
    tok = checkpoint.load_tokenizer(base)
    adapter = tuned if checkpoint.is_adapter(tuned) else None
    hf_tuned = checkpoint.load_model(base, adapter=adapter, dtype="float32") if adapter else \
        checkpoint.load_model(tuned, dtype="float32")
    hf_base = checkpoint.load_model(base, dtype="float32")
    tuned_text = [render_prompt(tok, d["instruction"]) for d in docs]
    base_text = [d.get("itbench_base_prompt") or t for d, t in zip(docs, tuned_text, strict=True)]
    tp = [encode_prompt(tok, p) for p in tuned_text]
    bp = [encode_prompt(tok, p) for p in base_text]
    with torch.no_grad():
        responses = [r for r in greedy(hf_tuned, tok, tuned_text, args.max_tokens, 8)]
    keep = [i for i, r in enumerate(responses) if r]
    tp, bp, responses = [tp[i] for i in keep], [bp[i] for i in keep], [responses[i] for i in keep]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    t0 = time.perf_counter()
    exact = scorer.token_shift_ids(hf_tuned, hf_base, tp, bp, responses, pad, batch_size=8)
    t_hf = time.perf_counter() - t0
    del hf_tuned, hf_base
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        full = vllm_scoring.merged(str(base), str(adapter), Path(tmp)) if adapter else tuned
        t_merge = time.perf_counter() - t0
        got = vllm_scoring.score(str(base), str(full), bp, tp, responses, k=args.k, token_budget=args.token_budget,
                                 dtype="float32")
        t_vllm = time.perf_counter() - t0

    def flat(rows, key):
        return np.concatenate([np.asarray(r[key], float) for r in rows])

    rank_e, rank_v = flat(exact, "rank"), flat(got, "rank")
    kl_e, kl_v = flat(exact, "kl"), flat(got, "kl_topk")
    err = np.abs(kl_v - kl_e)
    close = np.mean((err <= 0.05) | (err <= 0.1 * kl_e))
    print(f"{tuned.name} vs {base.name}: {len(responses)} responses, {rank_e.size} tokens, top-{args.k}")
    print(f"time: transformers {t_hf:.1f}s; vLLM {t_vllm:.1f}s (merge {t_merge:.1f}s, two engine starts included)")
    dprob = np.max(np.abs(flat(exact, "base_prob") - flat(got, "base_prob")))
    print(f"base rank of the response token: same at {np.mean(rank_e == rank_v):.1%} of tokens; "
          f"largest base-probability difference {dprob:.2e}")
    print(f"KL: full-vocabulary mean {kl_e.mean():.4f}, top-{args.k} + tail mean {kl_v.mean():.4f} "
          f"(ratio {kl_v.mean() / max(kl_e.mean(), 1e-12):.3f}); mean absolute error {err.mean():.4f}, "
          f"largest {err.max():.4f}; within 0.05 nats or 10%: {close:.1%}; above the full KL by more than 1e-3: "
          f"{np.mean(kl_v > kl_e + 1e-3):.1%} (a lower bound up to float error)")


if __name__ == "__main__":
    main()
