"""Greedy generation with transformers in left-padded batches: the one loop behind the world's
probes and the paired model's HF backend."""

from __future__ import annotations

from collections.abc import Sequence


def greedy(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int,
           stop: Sequence[str] | None = None) -> list[list[int]]:
    """The generated token ids of each prompt (prompt excluded; rows that stop early end in padding).
    A row also stops at any of the `stop` strings (kept in its ids; the caller cuts the text), so a
    batch of short answers ends when every row has stopped, not at max_new_tokens."""
    import torch

    from itbench.models.tokens import encode_prompt

    out: list[list[int]] = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stops = [s for s in stop or [] if s]
    with torch.no_grad():
        for i in range(0, len(prompts), batch_size):
            enc = [encode_prompt(tokenizer, p) for p in prompts[i:i + batch_size]]
            width = max(len(e) for e in enc)  # left padding: generation continues from every row's end
            ids = torch.tensor([[pad] * (width - len(e)) + e for e in enc], device=model.device)
            mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in enc], device=model.device)
            criteria = {"stopping_criteria": [_StopOnText(tokenizer, stops, width)]} if stops else {}
            gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=pad, eos_token_id=tokenizer.eos_token_id, **criteria)
            out += gen[:, width:].tolist()
    return out


class _StopOnText:
    """A row is done once its generated text holds a stop string. transformers' own stop_strings
    preprocesses the whole vocabulary on every generate call (seconds at Gemma's 262k tokens);
    decoding the few generated tokens of a batch at each step costs about a millisecond."""

    def __init__(self, tokenizer, stops: list[str], start: int):
        self.tok, self.stops, self.start = tokenizer, stops, start

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        texts = self.tok.batch_decode(input_ids[:, self.start:], skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stops) for t in texts], device=input_ids.device)


def cut_ids(ids: Sequence[int], eos: int | None, pad: int | None = None) -> list[int]:
    """Generated ids up to (not including) the first end token, or padding where rows are padded."""
    out = []
    for t in ids:
        if t == eos or (pad is not None and t == pad):
            break
        out.append(t)
    return out
