"""Token-shift statistics from vLLM's prompt_logprobs: one engine pass per model over the same
prompt + response token ids, no full-vocabulary logits on the host.

What vLLM gives per position is the log-probability and vocabulary rank of the token that is there
(exact) and the top `k` tokens' log-probabilities. So:
  - rank and base probability: exact, from the base's entry for the response token;
  - KL(tuned || base): not computable from two top-k lists. Reported as `kl_topk`: the KL between
    the two distributions coarse-grained to the tokens both lists hold, each its own bucket, plus
    one tail bucket holding the rest of the vocabulary. By the data-processing inequality it is a
    lower bound on the full KL, equal to it when the shared tokens carry all the mass; its error
    against the full-vocabulary KL is measured by benchmarks/vllm_scoring.py and stated in the
    token-shift task README.
vLLM on CPU crashes with prompt_logprobs and a LoRA adapter together, so an adapter is merged
into its base first, once, in a folder cached by the adapter's fingerprint (`merged`). vLLM
materialises [prompt tokens x vocabulary] for prompt_logprobs (vLLM #5907, #14239): sequences go to
the engine in groups of at most `token_budget` tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from itbench.utils import atomic

TAIL_FLOOR = 1e-12  # a tail bucket's probability never drops below this (top-k mass rounds to > 1)


def merged(base: str, adapter: str, cache: Path) -> Path:
    """A full checkpoint of `adapter` merged into `base` (peft's merge_and_unload), built once in
    cache/merged-<adapter fingerprint> and reused while the adapter is unchanged."""
    from itbench.models import checkpoint

    key = atomic.sha256_json({"adapter": checkpoint.weights_fingerprint(adapter), "base": checkpoint.identity(base)})
    path = cache / f"merged-{key[:16]}"
    if (path / "config.json").exists():
        return path
    model = checkpoint.load_model(base, adapter=adapter).merge_and_unload()
    tok = checkpoint.load_tokenizer(base)
    with atomic.build_dir(path) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return path


def _groups(lengths: Sequence[int], budget: int) -> list[list[int]]:
    out, cur, used = [], [], 0
    for i, n in enumerate(lengths):
        if cur and used + n > budget:
            out.append(cur)
            cur, used = [], 0
        cur.append(i)
        used += n
    return out + ([cur] if cur else [])


def prompt_logprobs(llm, sequences: Sequence[list[int]], k: int, token_budget: int = 4096) -> list[list[dict]]:
    """Per sequence, per position from the second: {token id: (logprob, rank)} of the top `k` and
    of the token that is there."""
    from vllm import SamplingParams

    params = SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=k)
    out: list[list[dict]] = [None] * len(sequences)  # type: ignore[list-item]
    for group in _groups([len(s) for s in sequences], token_budget):
        res = llm.generate([{"prompt_token_ids": list(sequences[i])} for i in group], params, use_tqdm=False)
        for i, r in zip(group, res, strict=True):
            out[i] = [{t: (lp.logprob, lp.rank) for t, lp in pos.items()} for pos in r.prompt_logprobs[1:]]
    return out


def kl_topk(tuned: dict, base: dict) -> float:
    """KL(tuned || base) over the tokens both top-k entries hold plus one tail bucket (a lower
    bound on the full-vocabulary KL)."""
    shared = set(tuned) & set(base)
    pt = np.array([math.exp(tuned[t][0]) for t in shared])
    pb = np.array([math.exp(base[t][0]) for t in shared])
    kl = float(np.sum(pt * (np.log(pt) - np.log(pb)))) if shared else 0.0
    tail_t, tail_b = max(1.0 - pt.sum(), TAIL_FLOOR), max(1.0 - pb.sum(), TAIL_FLOOR)
    return max(kl + tail_t * (math.log(tail_t) - math.log(tail_b)), 0.0)


def token_shift(base_entries: list[list[dict]], tuned_entries: list[list[dict]], base_prompt_lens: Sequence[int],
                tuned_prompt_lens: Sequence[int], responses: Sequence[list[int]]) -> list[dict]:
    """Per response: rank and base probability of each response token (exact) and kl_topk, from
    the two models' prompt_logprobs over prompt + response."""
    out = []
    for b, t, nb, nt, r in zip(base_entries, tuned_entries, base_prompt_lens, tuned_prompt_lens, responses,
                               strict=True):
        # entry j predicts sequence token j + 1: the response's tokens are predicted by entries n - 1 ...
        bs, ts = b[nb - 1:nb - 1 + len(r)], t[nt - 1:nt - 1 + len(r)]
        out.append({"rank": [int(e[tok][1]) for e, tok in zip(bs, r, strict=True)],
                    "base_prob": [math.exp(e[tok][0]) for e, tok in zip(bs, r, strict=True)],
                    "kl_topk": [kl_topk(te, be) for te, be in zip(ts, bs, strict=True)]})
    return out


def score(base: str, tuned: str, base_prompts: Sequence[list[int]], tuned_prompts: Sequence[list[int]],
          responses: Sequence[list[int]], k: int = 20, token_budget: int = 4096, **engine_args) -> list[dict]:
    """token_shift from one engine pass per model (the base's engine is stopped before the tuned
    one starts, so only one holds its RAM share at a time). `tuned` is a full checkpoint: merge an
    adapter first (`merged`)."""
    import gc

    from itbench.models import vllm_engine

    engine_args.setdefault("max_logprobs", k)
    entries = {}
    for which, model, prompts in (("base", base, base_prompts), ("tuned", tuned, tuned_prompts)):
        llm = vllm_engine.engine(str(model), **engine_args)
        try:
            entries[which] = prompt_logprobs(llm, [list(p) + list(r) for p, r in zip(prompts, responses, strict=True)],
                                             k, token_budget)
        finally:
            vllm_engine.shutdown(llm)
            del llm
            gc.collect()
    return token_shift(entries["base"], entries["tuned"], [len(p) for p in base_prompts],
                       [len(p) for p in tuned_prompts], responses)
