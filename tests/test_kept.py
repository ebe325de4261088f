"""Knowledge kept vs expressed: the log-likelihood choice over a value pool, and the paired model's
four answers per question."""

from __future__ import annotations

import json

import pytest


def test_choice_is_the_pool_value_the_model_ranks_highest(tiny_zoo, tiny_world):
    import torch

    from itbench.models import checkpoint
    from itbench.models.scorer import choose
    from itbench.models.tokens import encode_prompt
    from itbench.world import store

    model, tok = checkpoint.load(tiny_zoo["dir"] / "base")
    pools = store.read_manifest(tiny_world)["pools"]
    probes = [p for p in store.read_rows(tiny_world, "probes.jsonl") if p["split"] == "heldout"][:8]
    prompts = [p["completion_prompt"] for p in probes]
    cands = [pools[f"{p['kind']}.{p['attribute']}"] for p in probes]
    got = choose(model, tok, prompts, cands, batch_size=7)
    for prompt, pool, pick in zip(prompts, cands, got, strict=True):
        ids = torch.tensor([encode_prompt(tok, prompt)])  # as every path encodes a sequence start (BOS)
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, -1]
        value_ids = [tok.convert_tokens_to_ids(v) for v in pool]  # every world value is one token
        assert pick == pool[int(torch.argmax(logits[value_ids]))]


def test_one_token_pools_take_one_sequence_per_prompt_and_choose_as_the_general_path(tiny_zoo, tiny_world):
    """World values are one token each, so `choose` scores a pool from the logits after the prompt;
    a pool with a two-token candidate takes the general path (one sequence per candidate). Where the
    two-token candidate is not picked, both paths pick the same value."""
    from itbench.models import checkpoint, scorer
    from itbench.world import store

    model, tok = checkpoint.load(tiny_zoo["dir"] / "base")
    pools = store.read_manifest(tiny_world)["pools"]
    probes = [p for p in store.read_rows(tiny_world, "probes.jsonl") if p["split"] != "unseen"][:24]
    prompts = [p["completion_prompt"] for p in probes]
    cands = [pools[f"{p['kind']}.{p['attribute']}"] for p in probes]
    calls = []
    real = scorer.teacher_forced_logits

    def counting(model, prompts, responses, *args, **kw):
        calls.append(len(prompts))
        return real(model, prompts, responses, *args, **kw)

    scorer.teacher_forced_logits = counting
    try:
        fast = scorer.choose(model, tok, prompts, cands)
        two = [f"{c[0]} {c[1]}" for c in cands]
        general = scorer.choose(model, tok, prompts, [[*c, t] for c, t in zip(cands, two, strict=True)])
    finally:
        scorer.teacher_forced_logits = real
    assert calls == [len(prompts), sum(len(c) + 1 for c in cands)]
    kept = [(f, g) for f, g, t in zip(fast, general, two, strict=True) if g != t]
    assert len(kept) >= len(prompts) // 2 and all(f == g for f, g in kept)


def test_knowledge_payload_asks_both_forms(tiny_zoo, tiny_world, monkeypatch):
    import lm_eval

    import itbench.models.paired  # noqa: F401  (registers --model itbench)
    from itbench.models.payload import parse_payload
    from itbench.tasks import task_manager

    monkeypatch.setenv("ITBENCH_WORLD", str(tiny_world))
    zoo = tiny_zoo["dir"]
    res = lm_eval.simple_evaluate(model="itbench", model_args=f"base={zoo / 'base'},tuned={zoo / 'full-short-4x'},"
                                  "reference_cache=none", tasks=["itbench_knowledge_world"],
                                  task_manager=task_manager(), limit=5, bootstrap_iters=0, log_samples=True)
    rows = res["samples"]["itbench_knowledge_world"]
    for row in rows:
        payload = parse_payload(row["resps"][0][0])
        assert payload["kept_form"] == "choice"
        pool = row["doc"]["pool"]
        assert payload["base_kept"] in pool and payload["tuned_kept"] in pool
        assert row["kept_acc_tuned"] == float(payload["tuned_kept"] == row["doc"]["answers"][0])
        if row["kept_acc_base"] == 1.0:
            assert row["kept_retention"] == row["kept_acc_tuned"]
        else:
            assert row["kept_retention"] != row["kept_retention"]  # NaN: the base did not keep it
    metrics = res["results"]["itbench_knowledge_world"]
    assert metrics["kept_acc_base,none"] == pytest.approx(sum(r["kept_acc_base"] for r in rows) / len(rows))
    json.dumps(metrics)  # serialisable as written
