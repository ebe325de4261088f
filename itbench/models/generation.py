"""Greedy generation with transformers in left-padded batches: the one loop behind the world's
probes and the paired model's HF backend."""

from __future__ import annotations

from collections.abc import Sequence


def greedy(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int) -> list[list[int]]:
    """The generated token ids of each prompt (prompt excluded; rows that stop early end in padding)."""
    import torch

    out: list[list[int]] = []
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation continues from the last position of every row
    try:
        with torch.no_grad():
            for i in range(0, len(prompts), batch_size):
                enc = tokenizer(list(prompts[i:i + batch_size]), add_special_tokens=False, return_tensors="pt",
                                padding=True).to(model.device)
                gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
                out += gen[:, enc["input_ids"].shape[1]:].tolist()
    finally:
        tokenizer.padding_side = side
    return out


def cut_ids(ids: Sequence[int], eos: int | None, pad: int | None = None) -> list[int]:
    """Generated ids up to (not including) the first end token, or padding where rows are padded."""
    out = []
    for t in ids:
        if t == eos or (pad is not None and t == pad):
            break
        out.append(t)
    return out
