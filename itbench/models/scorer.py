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


def teacher_forced_logits(model, prompts: Sequence[list[int]], responses: Sequence[list[int]], pad_id: int,
                          batch_size: int = 8) -> list[np.ndarray]:
    """For each (prompt, response) pair: the [len(response), V] logits that predict the response
    tokens, from one forward pass per batch of right-padded sequences."""
    import torch

    out: list[np.ndarray] = [None] * len(prompts)  # type: ignore[list-item]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(responses[i]))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            seqs = [list(prompts[i]) + list(responses[i]) for i in idx]
            width = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for row, s in enumerate(seqs):
                ids[row, :len(s)] = torch.tensor(s)
                mask[row, :len(s)] = 1
            logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits
            for row, i in enumerate(idx):
                p, r = len(prompts[i]), len(responses[i])
                if p == 0:
                    raise ItbenchError("an empty prompt cannot be teacher-forced: no position predicts the first token")
                out[i] = logits[row, p - 1:p - 1 + r].float().cpu().numpy()
    return out


def token_shift(tuned, base, tokenizer, tuned_prompts: Sequence[str], base_prompts: Sequence[str],
                responses: Sequence[list[int]], batch_size: int = 8) -> list[dict]:
    """Per-position shift statistics of each response (see itbench.metrics.token_shift), with the
    response's token texts."""
    from itbench.metrics.token_shift import position_stats

    tp = [encode_prompt(tokenizer, p) for p in tuned_prompts]
    bp = [encode_prompt(tokenizer, p) for p in base_prompts]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    tl = teacher_forced_logits(tuned, tp, responses, pad, batch_size)
    bl = teacher_forced_logits(base, bp, responses, pad, batch_size)
    results = []
    for t, b, r in zip(tl, bl, responses, strict=True):
        stats = position_stats(t, b, r)
        results.append({"rank": stats["rank"].tolist(), "base_prob": stats["base_prob"].tolist(),
                        "kl": stats["kl"].tolist(), "tokens": tokenizer.convert_ids_to_tokens(list(r))})
    return results


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
    logits = teacher_forced_logits(model, [prompt_ids[i] for i, _ in pairs], cand_ids, pad, batch_size)
    best: dict[int, tuple[float, str]] = {}
    for (i, c), ids, lg in zip(pairs, cand_ids, logits, strict=True):
        logp = torch.log_softmax(torch.from_numpy(lg).double(), dim=-1)
        score = float(logp[torch.arange(len(ids)), torch.tensor(ids)].sum())
        if i not in best or score > best[i][0]:
            best[i] = (score, c)
    return [best[i][1] if i in best else "" for i in range(len(prompts))]
