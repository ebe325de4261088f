"""Benchmark: token-shift scoring as one batched teacher-forced pass per sequence (itbench's scorer)
against a loop that re-runs both models once per response token (how the reference analysis code
does it), on the same models and responses.

Prints both times (float32, as the scorer runs) and the speed ratio (target: at least 50x), then
checks that both give the same ranks and KL to 1e-5 with the models in float64, where the only
difference left is the algorithm (padding, masks, positions); float32 rounding alone moves KL by
about 1e-5 at these magnitudes, which is printed too. Run after `itbench demo`:
    .venv/bin/python benchmarks/token_shift_speed.py [--zoo DIR] [--tuned full-long-4x] [--n 48]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from itbench.metrics.token_shift import position_stats
from itbench.models import checkpoint
from itbench.models.scorer import token_shift
from itbench.models.tokens import encode_prompt
from itbench.models.train import render_prompt
from itbench.paths import home
from itbench.world import store


def per_token_loop(tuned, base, tok, prompts, responses):
    """One full forward pass of each model per response token, no batching, no cache."""
    out = []
    with torch.no_grad():
        for prompt, resp in zip(prompts, responses, strict=True):
            p = encode_prompt(tok, prompt)
            tl, bl = [], []
            for t in range(len(resp)):
                ids = torch.tensor([p + resp[:t]])
                tl.append(tuned(input_ids=ids).logits[0, -1].numpy())
                bl.append(base(input_ids=ids).logits[0, -1].numpy())
            stats = position_stats(np.array(tl), np.array(bl), resp) if resp else None
            out.append(stats)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", default=str(home() / "zoo"))
    ap.add_argument("--world", default=str(home() / "world"))
    ap.add_argument("--tuned", default="full-long-4x", help="a checkpoint with long answers (default)")
    ap.add_argument("--n", type=int, default=48, help="responses to score")
    args = ap.parse_args()
    torch.set_num_threads(2)
    base, tok = checkpoint.load(f"{args.zoo}/base")
    tuned, _ = checkpoint.load(f"{args.zoo}/{args.tuned}")
    instr = [r["instruction"] for r in store.read_rows(args.world, "open_instructions.jsonl")][: args.n]
    prompts = [render_prompt(tok, q) for q in instr]
    tok.padding_side = "left"
    enc = tok(prompts, add_special_tokens=False, return_tensors="pt", padding=True)
    with torch.no_grad():
        gen = tuned.generate(**enc, max_new_tokens=64, do_sample=False, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id)
    tok.padding_side = "right"
    responses = []
    for row in gen[:, enc["input_ids"].shape[1]:].tolist():
        cut = [t for t in row]
        if tok.eos_token_id in cut:
            cut = cut[: cut.index(tok.eos_token_id)]
        responses.append([t for t in cut if t != tok.pad_token_id])
    n_tokens = sum(len(r) for r in responses)

    t0 = time.perf_counter()
    batched = token_shift(tuned, base, tok, prompts, prompts, responses, batch_size=16)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    looped = per_token_loop(tuned, base, tok, prompts, responses)
    t_loop = time.perf_counter() - t0

    print(f"responses {len(responses)}, response tokens {n_tokens}")
    print(f"batched teacher-forced: {t_batched:.3f}s   per-token loop: {t_loop:.3f}s   "
          f"speed ratio {t_loop / t_batched:.1f}x (target >= 50x)")
    ranks32, kl32 = agreement(batched, looped)
    print(f"float32: same ranks {ranks32}, max |KL difference| {kl32:.2e}")
    tuned.double()
    base.double()
    ranks64, kl64 = agreement(token_shift(tuned, base, tok, prompts, prompts, responses, batch_size=16),
                              per_token_loop(tuned, base, tok, prompts, responses))
    print(f"float64: same ranks {ranks64}, max |KL difference| {kl64:.2e} (must be <= 1e-5)")
    if not ranks64 or kl64 > 1e-5:
        raise SystemExit("the batched scorer disagrees with the per-token loop")


def agreement(batched, looped) -> tuple[bool, float]:
    max_kl_diff, ranks_equal = 0.0, True
    for b, lp in zip(batched, looped, strict=True):
        if lp is None:
            continue
        ranks_equal &= b["rank"] == lp["rank"].tolist()
        max_kl_diff = max(max_kl_diff, float(np.abs(np.array(b["kl"]) - lp["kl"]).max()))
    return ranks_equal, max_kl_diff


if __name__ == "__main__":
    main()
