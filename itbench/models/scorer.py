"""The one thin scorer that needs two models at once: teacher-forced logits of a base and a tuned
model over the same response, one batched forward pass per model per batch of sequences.

Full-vocabulary logits are what the token-shift metrics need (KL over the whole vocabulary), which
is why this path is transformers even when generation runs on vLLM: vLLM's prompt_logprobs gives
only a top-k and, on CPU, crashes together with a LoRA adapter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from itbench.errors import ItbenchError
from itbench.models.tokens import encode_continuation, encode_prompt


def check_same_tokenizer(base_tok, tuned_tok, base_name: str, tuned_name: str) -> None:
    if base_tok.get_vocab() != tuned_tok.get_vocab():
        raise ItbenchError(f"base {base_name} and tuned {tuned_name} use different tokenizers "
                           f"({len(base_tok)} vs {len(tuned_tok)} tokens): token-level comparisons need one "
                           "vocabulary; pair a tuned model with the base it was tuned from")


def _batch_logits(model, prompts: Sequence[list[int]], responses: Sequence[list[int]], pad_id: int):
    """The logits that predict each response token, for one batch: a list of [len(response), V]
    tensors. Rows are left-padded so every response ends at the right edge; the LM head then runs
    only at the last max(len(response)) positions (`logits_to_keep`), not over the prompts: for a
    262k vocabulary behind a long in-context prompt the head is most of the cost and memory."""
    import torch

    seqs = [list(p) + list(r) for p, r in zip(prompts, responses, strict=True)]
    if any(len(p) == 0 for p in prompts):
        raise ItbenchError("an empty prompt cannot be teacher-forced: no position predicts the first token")
    width, keep = max(len(s) for s in seqs), max(len(r) for r in responses)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        ids[row, width - len(s):] = torch.tensor(s)
        mask[row, width - len(s):] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    dev = model.device
    logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=positions.to(dev),
                   logits_to_keep=keep + 1).logits  # [B, keep + 1, V]: positions width-keep-1 .. width-1
    return [logits[row, keep - len(r):keep] for row, r in enumerate(responses)]


PREFIX_MIN = 64  # a shared prompt prefix at least this long is run once (an in-context prefix such as URIAL's)


class SharedPrefix:
    """The key/value cache of the prefix every prompt of a scoring call starts with (URIAL's
    in-context examples before each query, ~500 Gemma tokens), computed once; each sequence then
    runs only its own suffix on a copy of it, one at a time (no padding, so sliding-window layers
    see the same distances). Used on the CPU, where the prefix would otherwise be most of the base's
    forward passes; batched left-padded passes are the faster choice on a GPU."""

    def __init__(self, model, prompts: Sequence[list[int]]):
        import torch

        n = 0
        first = prompts[0] if prompts else []
        while prompts and all(len(p) > n + 1 and p[n] == first[n] for p in prompts):  # each prompt keeps >= 1 token
            n += 1
        self.length, self.cache = n, None
        if n >= PREFIX_MIN and len(prompts) > 1 and model.device.type == "cpu":
            self.cache = model(input_ids=torch.tensor([first[:n]], device=model.device), use_cache=True).past_key_values

    def logits(self, model, prompts: Sequence[list[int]], responses: Sequence[list[int]]):
        """As _batch_logits, for prompts that start with the prefix."""
        import copy

        import torch

        out = []
        for p, r in zip(prompts, responses, strict=True):
            seq = list(p[self.length:]) + list(r)
            pos = torch.arange(self.length, self.length + len(seq), device=model.device)
            logits = model(input_ids=torch.tensor([seq], device=model.device),
                           past_key_values=copy.deepcopy(self.cache), position_ids=pos[None], cache_position=pos,
                           use_cache=True, logits_to_keep=len(r) + 1).logits[0]
            out.append(logits[:len(r)])
        return out


LOGITS_BUDGET = 2**30  # bytes of float32 logits one batch may hold per model


def _batches(prompts: Sequence[list[int]], responses: Sequence[list[int]], batch_size: int,
             vocab: int | None = None):
    """Index batches of similar total length (less padding). With `vocab`, a batch also stops
    growing before its response logits (sequences x longest response x vocab, float32) pass
    LOGITS_BUDGET: at Gemma's 262k vocabulary 64 answers of 192 tokens would be 13 GB a model."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(responses[i]))
    batches, cur, longest = [], [], 0
    for i in order:
        grow = max(longest, len(responses[i]) + 1)
        if cur and (len(cur) >= batch_size or (vocab and (len(cur) + 1) * grow * vocab * 4 > LOGITS_BUDGET)):
            batches.append(cur)
            cur, grow = [], len(responses[i]) + 1
        cur.append(i)
        longest = grow
    return batches + ([cur] if cur else [])


def _vocab(model) -> int:
    return model.get_output_embeddings().weight.shape[0]


def teacher_forced_logits(model, prompts: Sequence[list[int]], responses: Sequence[list[int]], pad_id: int,
                          batch_size: int = 8) -> list[np.ndarray]:
    """For each (prompt, response) pair: the [len(response), V] logits that predict the response
    tokens (float32), from one forward pass per batch of sequences."""
    import torch

    out: list[np.ndarray] = [None] * len(prompts)  # type: ignore[list-item]
    with torch.no_grad():
        for idx in _batches(prompts, responses, batch_size, _vocab(model)):
            todo = [i for i in idx if responses[i]]
            for i in set(idx) - set(todo):
                out[i] = np.zeros((0, 0), dtype=np.float32)
            if todo:
                got = _batch_logits(model, [prompts[i] for i in todo], [responses[i] for i in todo], pad_id)
                for i, lg in zip(todo, got, strict=True):
                    out[i] = lg.float().cpu().numpy()
    return out


def token_shift_ids(tuned, base, tuned_prompts: Sequence[list[int]], base_prompts: Sequence[list[int]],
                    responses: Sequence[list[int]], pad_id: int, batch_size: int = 8) -> list[dict]:
    """Per-position rank, base probability and KL of each response, from token ids. Both models
    score one batch at a time and the statistics are computed on the models' device
    (position_stats_torch), so memory holds one batch's response logits and only O(T) numbers per
    response leave the device."""
    import torch

    from itbench.metrics.token_shift import position_stats_torch

    results: list[dict] = [None] * len(responses)  # type: ignore[list-item]
    with torch.no_grad():
        shared = SharedPrefix(base, [base_prompts[i] for i, r in enumerate(responses) if r])
        for idx in _batches(base_prompts, responses, batch_size, _vocab(base)):
            todo = [i for i in idx if responses[i]]
            for i in set(idx) - set(todo):
                results[i] = {"rank": [], "base_prob": [], "kl": []}
            if not todo:
                continue
            rs = [list(responses[i]) for i in todo]
            tl = _batch_logits(tuned, [tuned_prompts[i] for i in todo], rs, pad_id)
            bp = [base_prompts[i] for i in todo]
            bl = shared.logits(base, bp, rs) if shared.cache is not None else _batch_logits(base, bp, rs, pad_id)
            for i, t, b, r in zip(todo, tl, bl, rs, strict=True):
                stats = position_stats_torch(t, b, r)
                results[i] = {k: stats[k].tolist() for k in ("rank", "base_prob", "kl")}
    return results


def token_shift(tuned, base, tokenizer, tuned_prompts: Sequence[str], base_prompts: Sequence[str],
                responses: Sequence[list[int]], batch_size: int = 8) -> list[dict]:
    """Per-position shift statistics of each response (see itbench.metrics.token_shift), with the
    response's token texts."""
    tp = [encode_prompt(tokenizer, p) for p in tuned_prompts]
    bp = [encode_prompt(tokenizer, p) for p in base_prompts]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stats = token_shift_ids(tuned, base, tp, bp, responses, pad, batch_size)
    return [{**s, "tokens": tokenizer.convert_ids_to_tokens(list(r))} for s, r in zip(stats, responses, strict=True)]


def choose(model, tokenizer, prompts: Sequence[str], candidates: Sequence[Sequence[str]],
           batch_size: int = 64) -> list[str]:
    """For each prompt, the candidate continuation (" " + candidate) the model gives the highest
    log-likelihood: a choice over an attribute's value pool, with no generation (how "kept"
    knowledge is asked of base and tuned model alike)."""
    import torch

    pairs = [(i, c) for i, cands in enumerate(candidates) for c in cands]
    prompt_ids = [encode_prompt(tokenizer, p) for p in prompts]
    cand_ids = [encode_continuation(tokenizer, " " + c) for _, c in pairs]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if all(len(ids) == 1 for ids in cand_ids):
        # every candidate is one token (the world's values): the logits after the prompt score them
        # all, so one sequence per prompt instead of one per candidate (the pool's size times fewer)
        first = {i: ids for (i, _), ids in reversed(list(zip(pairs, cand_ids, strict=True)))}
        asked = sorted(first)
        after = dict(zip(asked, teacher_forced_logits(model, [prompt_ids[i] for i in asked],
                                                      [first[i] for i in asked], pad, batch_size), strict=True))
        logits = [after[i] for i, _ in pairs]
    else:
        logits = teacher_forced_logits(model, [prompt_ids[i] for i, _ in pairs], cand_ids, pad, batch_size)
    best: dict[int, tuple[float, str]] = {}
    for (i, c), ids, lg in zip(pairs, cand_ids, logits, strict=True):
        logp = torch.log_softmax(torch.from_numpy(lg).double(), dim=-1)
        score = float(logp[torch.arange(len(ids)), torch.tensor(ids)].sum())
        if i not in best or score > best[i][0]:
            best[i] = (score, c)
    return [best[i][1] if i in best else "" for i in range(len(prompts))]
