"""Benchmark: itbench's token-shift scoring against its physical floor, one bare batched forward
pass of each model over the same sequences (full logits, nothing else), at a 32k and at Gemma's
262k vocabulary. Random Llama pairs, 16 sequences of 32 prompt + 96 response tokens, float32, both
measured side by side in one process, in turn, median of 5. Prints the ratio (target: <= 1.3x).
    .venv/bin/python benchmarks/token_shift_floor.py [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def pair(vocab: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=vocab, hidden_size=256, intermediate_size=768, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256)
    torch.manual_seed(0)
    a = LlamaForCausalLM(cfg).eval()
    torch.manual_seed(1)
    b = LlamaForCausalLM(cfg).eval()
    return a, b


def median_times(fns, repeats: int = 5) -> list[float]:
    """Each function's median time, the functions run in turn (so a slow spell of the machine
    falls on all of them)."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def measure(vocab: int, n: int) -> tuple[float, float]:
    """(floor seconds, itbench seconds), medians of 5 taken in turn after a warm-up of each."""
    from itbench.models.scorer import token_shift_ids

    tuned, base = pair(vocab)
    g = torch.Generator().manual_seed(2)
    prompts = [torch.randint(3, vocab, (32,), generator=g).tolist() for _ in range(n)]
    responses = [torch.randint(3, vocab, (96,), generator=g).tolist() for _ in range(n)]
    ids = torch.tensor([p + r for p, r in zip(prompts, responses, strict=True)])

    def floor():
        with torch.no_grad():
            for start in range(0, n, 8):
                for model in (tuned, base):
                    _ = model(input_ids=ids[start:start + 8]).logits

    def ours():
        token_shift_ids(tuned, base, prompts, prompts, responses, pad_id=0, batch_size=8)

    floor()
    ours()
    f, o = median_times([floor, ours])
    return f, o


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import numba

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))  # the statistics kernel's threads
    for vocab in (32000, 262144):
        f, o = measure(vocab, args.n)
        print(f"vocab {vocab:>6}: floor (bare forward of both models) {f:.3f}s, itbench token shift {o:.3f}s, "
              f"ratio {o / f:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
