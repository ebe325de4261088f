"""Token distribution shift (URIAL's analysis, as Ghosh et al. use it), over the full vocabulary.

The tuned model answers greedily; the base is teacher-forced over the same prompt and response.
At each response position t:
  - the base's rank of the tuned token, 1-based: 1 + the number of tokens the base scores strictly
    higher (a tie with the top token is rank 1); the 0-based rank is this minus one;
  - the base's probability of the tuned token;
  - KL(tuned || base) over the whole vocabulary (never only over tokens two top-k lists share:
    the reference code's shortcut, see PAPER.md). Scored through vLLM (`scoring=vllm`), which
    gives only top-k log-probabilities, the KL is `kl_topk` instead (itbench.models.vllm_scoring:
    the shared top-k tokens plus a tail bucket, a lower bound), reported as `mean_kl_topk`; the
    full-vocabulary KL metrics are then NaN, as `mean_kl_topk` is under the exact path.
Classes: unshifted (rank 1), marginal (rank 2-3), shifted (rank > 3).

Per-response summaries are sums and counts, so a corpus-level (pooled) value is a named
aggregation over them, distinct from the mean of per-response values.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence

import numpy as np

UNSHIFTED, MARGINAL, SHIFTED = 0, 1, 2

# Style tokens: function words, punctuation and discourse openers/closers; the rest is content.
STYLE_WORDS = frozenset("""
a an the of is are was were be been it its this that these those there here and or but so in on at to for
with by as from into about also not no yes i you we my your our me us he she they his her their them
sure certainly absolutely okay ok great question hope helps happy help glad thanks thank please
however typically generally usually overall additionally addition furthermore moreover finally first
firstly second secondly lastly well note know let me can could would should will may might do does
did has have had if then than which what who when where why how
""".split())
_PUNCT = re.compile(r"^[\W_]+$")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def position_stats(tuned_logits: np.ndarray, base_logits: np.ndarray, tokens: Sequence[int]) -> dict:
    """Per-position base rank (1-based), base probability and KL(tuned || base).

    `tuned_logits`, `base_logits`: [T, V] scores (logits or log-probabilities) at the T positions
    that predict the T response tokens `tokens`.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.size == 0:
        empty = np.zeros(0)
        return {"rank": empty.astype(np.int64), "base_prob": empty, "kl": empty}
    lt, lb = log_softmax(tuned_logits), log_softmax(base_logits)
    if lt.shape != lb.shape or lt.shape[0] != tokens.size:
        raise ValueError(f"shapes differ: tuned {lt.shape}, base {lb.shape}, {tokens.size} tokens")
    chosen = lb[np.arange(tokens.size), tokens]
    rank = 1 + (lb > chosen[:, None]).sum(axis=-1)
    kl = (np.exp(lt) * (lt - lb)).sum(axis=-1)
    return {"rank": rank.astype(np.int64), "base_prob": np.exp(chosen), "kl": np.maximum(kl, 0.0)}


CHUNK_BYTES = 2**23  # one [chunk, V] float32 temporary: small enough to stay in the CPU's cache


def position_stats_torch(tuned_logits, base_logits, tokens: Sequence[int], chunk: int | None = None) -> dict:
    """position_stats on the logits' own device, in torch: log-softmax, rank, probability and KL in
    float32 over chunks of `chunk` positions (memory O(chunk x V)); only the O(T) results leave the
    device. Agrees with the float64 numpy reference to 1e-5 in probability and 1e-4 in KL (tests).
    The default chunk keeps each [chunk, V] temporary near CHUNK_BYTES (8 positions at a 262k
    vocabulary, 65 at 32k): the passes over it then run in cache; at 262k on a 2-core CPU, chunks
    of 64 positions took 3.6x as long (benchmarks/token_shift_floor.py). On the CPU (no `chunk`
    given) a compiled kernel does the same in two passes per position (_cpu_stats)."""
    import torch

    tuned_logits, base_logits = torch.as_tensor(tuned_logits), torch.as_tensor(base_logits)
    tokens_t = torch.as_tensor(list(tokens), dtype=torch.long, device=tuned_logits.device)
    if tokens_t.numel() == 0:
        return position_stats(np.zeros((0, 0)), np.zeros((0, 0)), [])
    if tuned_logits.shape != base_logits.shape or tuned_logits.shape[0] != tokens_t.numel():
        raise ValueError(f"shapes differ: tuned {tuple(tuned_logits.shape)}, base {tuple(base_logits.shape)}, "
                         f"{tokens_t.numel()} tokens")
    if tuned_logits.device.type == "cpu" and chunk is None:
        return _cpu_stats(tuned_logits.float().numpy(), base_logits.float().numpy(), tokens_t.numpy())
    if chunk is None:
        chunk = max(2, CHUNK_BYTES // (4 * tuned_logits.shape[-1]))
    ranks, probs, kls = [], [], []
    with torch.no_grad():
        for s in range(0, tokens_t.numel(), chunk):
            raw = base_logits[s:s + chunk].float()
            lt = torch.log_softmax(tuned_logits[s:s + chunk].float(), dim=-1)
            lb = torch.log_softmax(raw, dim=-1)
            tok = tokens_t[s:s + chunk]
            # the rank from the raw logits (log-softmax keeps the order; float32 rounding could tie two)
            ranks.append(1 + (raw > raw.gather(-1, tok[:, None])).sum(-1))
            probs.append(lb.gather(-1, tok[:, None])[:, 0].exp())
            kls.append((lt.exp() * (lt - lb)).sum(-1).clamp(min=0.0))
    return {"rank": torch.cat(ranks).cpu().numpy().astype(np.int64),
            "base_prob": torch.cat(probs).double().cpu().numpy(), "kl": torch.cat(kls).double().cpu().numpy()}


def _cpu_stats(tuned: np.ndarray, base: np.ndarray, tokens: np.ndarray) -> dict:
    """position_stats_torch on the CPU: per position, one pass for both maxima and one for both
    exponential sums, the KL's sum and the rank, accumulated in float64 with no [T, V] temporary.
    torch's chunked path makes about a dozen passes (three exponentials) over every position's
    logits, which at a 262k vocabulary cost as much as half the models' forward passes; this took
    0.57-0.71x its time and agrees with the float64 reference to 1e-7 in KL (torch's: 3e-4)."""
    n = tokens.shape[0]
    rank, prob, kl = np.empty(n, np.int64), np.empty(n, np.float64), np.empty(n, np.float64)
    _stats_kernel()(np.ascontiguousarray(tuned), np.ascontiguousarray(base), tokens.astype(np.int64), rank, prob, kl)
    return {"rank": rank, "base_prob": prob, "kl": kl}


@functools.cache
def _stats_kernel():
    """The kernel, compiled by numba on first use (cached on disk) so importing metrics stays cheap."""
    import numba

    @numba.njit(parallel=True, fastmath=True, cache=True)
    def kernel(t, b, tok, rank, prob, kl):  # pragma: no cover  (compiled; checked through _cpu_stats)
        n, v = t.shape
        for i in numba.prange(n):
            ti, bi = t[i], b[i]
            mt, mb = -np.inf, -np.inf
            for j in range(v):
                mt = max(mt, ti[j])
                mb = max(mb, bi[j])
            bt = bi[tok[i]]
            st, sb, dot, r = 0.0, 0.0, 0.0, 0
            for j in range(v):
                e = math.exp(ti[j] - mt)
                st += e
                sb += math.exp(bi[j] - mb)
                dot += e * (ti[j] - bi[j])
                r += bi[j] > bt
            lse_t, lse_b = mt + math.log(st), mb + math.log(sb)
            rank[i] = 1 + r
            prob[i] = math.exp(bt - lse_b)
            kl[i] = max(dot / st - lse_t + lse_b, 0.0)

    return kernel


def shift_class(rank: np.ndarray) -> np.ndarray:
    rank = np.asarray(rank)
    return np.where(rank <= 1, UNSHIFTED, np.where(rank <= 3, MARGINAL, SHIFTED))


def _starts(lengths: Iterable[int], frac: float) -> list[bool]:
    mask = []
    for n in lengths:
        k = max(1, math.ceil(frac * n)) if n else 0
        mask += [True] * k + [False] * (n - k)
    return mask


def sentence_start_mask(token_texts: Sequence[str], frac: float = 0.05) -> np.ndarray:
    """True for the first `frac` of the tokens of each sentence (at least its first token). A
    sentence ends after a token ending in . ! ? or a newline."""
    lengths, n = [], 0
    for t in token_texts:
        n += 1
        if t.rstrip(" ").endswith((".", "!", "?", "\n")):
            lengths.append(n)
            n = 0
    if n:
        lengths.append(n)
    return np.asarray(_starts(lengths, frac), dtype=bool)


def response_start_mask(n_tokens: int, frac: float = 0.05) -> np.ndarray:
    return np.asarray(_starts([n_tokens], frac), dtype=bool)


def is_style_token(text: str) -> bool:
    word = text.strip().lower().lstrip("▁Ġ#")
    return not word or bool(_PUNCT.match(word)) or word in STYLE_WORDS


SUMMARY_KEYS = ("n", "unshifted", "marginal", "shifted", "kl_sum", "rank_sum", "base_prob_sum",
                "sent_start_n", "sent_start_kl", "sent_rest_n", "sent_rest_kl",
                "resp_start_n", "resp_start_kl", "resp_rest_n", "resp_rest_kl", "shifted_style", "kl_topk_sum")


def summarize(stats: dict, token_texts: Sequence[str], frac: float = 0.05) -> dict:
    """Sums and counts of one response, from position_stats and the tokens' texts."""
    rank = np.asarray(stats["rank"])
    nan = [math.nan] * rank.size  # a KL the scoring path did not compute
    kl = np.asarray(stats.get("kl", nan), dtype=np.float64)
    kl_topk = np.asarray(stats.get("kl_topk", nan), dtype=np.float64)
    if len(token_texts) != rank.size:
        raise ValueError(f"{len(token_texts)} token texts for {rank.size} positions")
    cls = shift_class(rank)
    sent = sentence_start_mask(token_texts, frac) if rank.size else np.zeros(0, bool)
    resp = response_start_mask(rank.size, frac)
    style = np.asarray([is_style_token(t) for t in token_texts], dtype=bool)
    return {
        "n": int(rank.size),
        "unshifted": int((cls == UNSHIFTED).sum()), "marginal": int((cls == MARGINAL).sum()),
        "shifted": int((cls == SHIFTED).sum()),
        "kl_sum": float(kl.sum()), "rank_sum": float(rank.sum()),
        "base_prob_sum": float(np.asarray(stats["base_prob"]).sum()),
        "sent_start_n": int(sent.sum()), "sent_start_kl": float(kl[sent].sum()),
        "sent_rest_n": int((~sent).sum()), "sent_rest_kl": float(kl[~sent].sum()),
        "resp_start_n": int(resp.sum()), "resp_start_kl": float(kl[resp].sum()),
        "resp_rest_n": int((~resp).sum()), "resp_rest_kl": float(kl[~resp].sum()),
        "shifted_style": int(((cls == SHIFTED) & style).sum()),
        "kl_topk_sum": float(kl_topk.sum()),
    }


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def metrics(s: dict) -> dict:
    """The metrics of one summary (a response, or the pooled sum of many)."""
    return {
        "unshifted_share": _ratio(s["unshifted"], s["n"]),
        "marginal_share": _ratio(s["marginal"], s["n"]),
        "shifted_share": _ratio(s["shifted"], s["n"]),
        "mean_kl": _ratio(s["kl_sum"], s["n"]),
        "mean_base_rank": _ratio(s["rank_sum"], s["n"]),
        "mean_base_rank0": _ratio(s["rank_sum"] - s["n"], s["n"]),
        "mean_base_prob": _ratio(s["base_prob_sum"], s["n"]),
        "kl_sentence_start": _ratio(s["sent_start_kl"], s["sent_start_n"]),
        "kl_sentence_rest": _ratio(s["sent_rest_kl"], s["sent_rest_n"]),
        "kl_response_start": _ratio(s["resp_start_kl"], s["resp_start_n"]),
        "kl_response_rest": _ratio(s["resp_rest_kl"], s["resp_rest_n"]),
        "shifted_style_share": _ratio(s["shifted_style"], s["shifted"]),
        "mean_kl_topk": _ratio(s.get("kl_topk_sum", math.nan), s["n"]),
    }


def pool(summaries: Iterable[dict]) -> dict:
    """Sum per-response summaries into one corpus-level summary (a summary written before
    kl_topk_sum existed counts as NaN there)."""
    total = dict.fromkeys(SUMMARY_KEYS, 0)
    for s in summaries:
        for k in SUMMARY_KEYS:
            total[k] += s.get(k, math.nan) if k == "kl_topk_sum" else s[k]
    return total


RESPONSE_METRICS = ("unshifted_share", "marginal_share", "shifted_share", "mean_kl", "mean_base_rank",
                    "mean_base_rank0", "mean_base_prob", "kl_sentence_start", "kl_sentence_rest",
                    "kl_response_start", "kl_response_rest", "shifted_style_share", "mean_kl_topk")


def score(shift: dict) -> dict:
    """Per-document values of every token-shift metric, from one response's position statistics
    (rank, base_prob, kl, tokens): each metric over the response, and the response's summary under
    `<metric>_pooled` for the corpus-level (pooled over all tokens) aggregations."""
    summary = summarize(shift, shift["tokens"])
    per_response = metrics(summary)
    out = {name: per_response[name] for name in RESPONSE_METRICS}
    out.update({f"{name}_pooled": summary for name in RESPONSE_METRICS})
    out["n_tokens"] = summary["n"]
    out["empty_responses"] = int(summary["n"] == 0)
    return out


def pooled_metric(summaries: Iterable[dict], name: str) -> float:
    """One metric pooled over every token of every response (a corpus-level aggregation)."""
    return metrics(pool(summaries))[name]


def _pooled(name: str):
    def aggregate(summaries) -> float:
        return pooled_metric(summaries, name)

    aggregate.__name__ = aggregate.__qualname__ = f"pooled_{name}"
    aggregate.__wrapped__ = pooled_metric  # what its golden cases test
    return aggregate


# The named corpus-level aggregations that the task YAMLs reference.
pooled_unshifted_share = _pooled("unshifted_share")
pooled_marginal_share = _pooled("marginal_share")
pooled_shifted_share = _pooled("shifted_share")
pooled_mean_kl = _pooled("mean_kl")
pooled_mean_base_rank = _pooled("mean_base_rank")
pooled_mean_base_rank0 = _pooled("mean_base_rank0")
pooled_mean_base_prob = _pooled("mean_base_prob")
pooled_kl_sentence_start = _pooled("kl_sentence_start")
pooled_kl_sentence_rest = _pooled("kl_sentence_rest")
pooled_kl_response_start = _pooled("kl_response_start")
pooled_kl_response_rest = _pooled("kl_response_rest")
pooled_shifted_style_share = _pooled("shifted_style_share")
pooled_mean_kl_topk = _pooled("mean_kl_topk")
