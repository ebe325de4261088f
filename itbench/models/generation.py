"""Greedy generation with transformers in left-padded batches: the one loop behind the world's
probes and the paired model's HF backend.

Rows of a batch rarely stop together: a batch of short answers waits for its longest row, and on a
CPU a finished row costs as much as a live one. With `round_tokens`, generation runs in rounds of
that many new tokens; a row that stopped (end token, stop string, length) leaves, and the rest are
re-batched by length and continue from their prompt plus what they generated (a prefill of that
text, several times cheaper per token than a decoding step). Rounds double in length (16, 16, 32,
64, ...), so a long answer is re-read a few times, not once per round. vLLM's continuous batching
does the same per step.
"""

from __future__ import annotations

from collections.abc import Sequence


def greedy(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int,
           stop: Sequence[str] | None = None, round_tokens: int | None = None) -> list[list[int]]:
    """The generated token ids of each prompt (prompt excluded, ending at the end token where one
    was generated). A row also stops at any of the `stop` strings (the caller cuts the text), so a
    batch of short answers ends when every row has stopped, not at max_new_tokens. Rows are batched
    by prompt length (less padding); `round_tokens` as in the module's docstring."""
    import torch

    from itbench.models.tokens import encode_prompt

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ends = {t for t in (tokenizer.eos_token_id, pad) if t is not None}
    stops = [s for s in stop or [] if s]
    enc = [encode_prompt(tokenizer, p) for p in prompts]
    gen: list[list[int]] = [[] for _ in prompts]
    live = list(range(len(prompts)))
    done = 0  # tokens every live row has generated so far (a live row never stopped early)
    step = min(round_tokens or max_new_tokens, max_new_tokens)
    with torch.no_grad():
        while live and done < max_new_tokens:
            n = min(max(step, done), max_new_tokens - done)  # rounds double: re-reading costs at most ~2x
            still = []
            live.sort(key=lambda i: (len(enc[i]), i))
            for b in range(0, len(live), batch_size):
                rows = live[b:b + batch_size]
                seqs = [enc[i] + gen[i] for i in rows]
                width = max(len(s) for s in seqs)  # left padding: generation continues from every row's end
                ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], device=model.device)
                mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=model.device)
                # the stop check reads this row's whole answer (a stop string may span two rounds)
                criteria = {"stopping_criteria": [_StopOnText(tokenizer, stops, width - done)]} if stops else {}
                out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, do_sample=False,
                                     pad_token_id=pad, eos_token_id=tokenizer.eos_token_id, **criteria)
                for i, row in zip(rows, out[:, width:].tolist(), strict=True):
                    new = cut_ids(row, tokenizer.eos_token_id, pad)
                    ended = len(new) < len(row) and row[len(new)] in ends
                    gen[i] += new + ([row[len(new)]] if ended and row[len(new)] == tokenizer.eos_token_id else [])
                    if ended or len(new) < n or _holds(tokenizer, gen[i], stops):
                        continue
                    still.append(i)
            live, done = still, done + n
    return gen


def _holds(tokenizer, ids: list[int], stops: list[str]) -> bool:
    if not stops:
        return False
    text = tokenizer.decode(ids, skip_special_tokens=True)
    return any(s in text for s in stops)


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
