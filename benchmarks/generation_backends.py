"""Benchmark: greedy generation on the hf backend (batched, in rounds) vs vLLM, side by side.

The same chat-templated prompts (PopQA questions, as the knowledge tasks ask them in chat form, and
just-eval-instruct instructions) go through transformers (itbench.models.generation.greedy, the
study's batch and rounds) and through one vLLM engine, in one process, in the same dtype. Prints
each backend's seconds and tokens, vLLM's engine start apart, the ratio, and how many greedy
answers agree token for token. Nothing is asserted.
    .venv/bin/python benchmarks/generation_backends.py [--model gemma-3-270m] [--n 128]
        [--max-tokens 48] [--dtype bfloat16] [--task popqa|just_eval]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--task", choices=("popqa", "just_eval"), default="popqa")
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.3)
    ap.add_argument("--max-model-len", type=int, default=2048)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from itbench.data import read_rows
    from itbench.models import checkpoint, embedded, vllm_engine
    from itbench.models.generation import greedy
    from itbench.models.train import render_prompt

    path = embedded.resolve(args.model)
    tok = checkpoint.load_tokenizer(path)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if args.task == "popqa":
        rows = read_rows(Path(args.data) / "popqa" / "popqa_1000.jsonl")
        prompts = [render_prompt(tok, r["question"]) for r in rows[:args.n]]
    else:
        rows = read_rows(Path(args.data) / "just-eval-instruct" / "just_eval_instruct_1000.instructions_only.jsonl")
        prompts = [render_prompt(tok, r["instruction"]) for r in rows[:args.n]]

    model = checkpoint.load_model(path, dtype=args.dtype)
    t0 = time.perf_counter()
    hf = greedy(model, tok, prompts, args.max_tokens, args.batch_size, stop=None, round_tokens=16)
    t_hf = time.perf_counter() - t0
    hf = [[t for t in row if t not in (tok.pad_token_id,)] for row in hf]
    n_hf = sum(len(r) for r in hf)
    print(f"hf    {t_hf:7.1f}s  {n_hf} tokens  {n_hf / t_hf:6.1f} tok/s", flush=True)
    del model

    t0 = time.perf_counter()
    llm = vllm_engine.engine(str(path), dtype=args.dtype, gpu_memory_utilization=args.gpu_memory_utilization,
                             max_model_len=args.max_model_len)
    t_start = time.perf_counter() - t0
    from vllm import SamplingParams

    from itbench.models.tokens import encode_prompt

    t0 = time.perf_counter()
    outs = llm.generate([{"prompt_token_ids": encode_prompt(tok, p)} for p in prompts],
                        SamplingParams(temperature=0.0, max_tokens=args.max_tokens), use_tqdm=False)
    t_vllm = time.perf_counter() - t0
    vl = [list(o.outputs[0].token_ids) for o in outs]
    n_vl = sum(len(r) for r in vl)
    print(f"vllm  {t_vllm:7.1f}s  {n_vl} tokens  {n_vl / t_vllm:6.1f} tok/s  (engine start {t_start:.0f}s)")

    def cut(row):
        return row[:row.index(tok.eos_token_id) + 1] if tok.eos_token_id in row else row

    same = sum(cut(a) == cut(b) for a, b in zip(hf, vl, strict=True))
    print(f"\n{args.model}, {len(prompts)} {args.task} chat prompts, up to {args.max_tokens} tokens, {args.dtype}, "
          f"{args.threads} threads: vLLM generation takes {t_vllm / t_hf:.2f}x the hf time "
          f"({(t_vllm + t_start) / t_hf:.2f}x with its engine start); greedy answers identical on {same} of "
          f"{len(prompts)}")


if __name__ == "__main__":
    main()
