"""The paired model's refusals and the scorer's degenerate case (identical models)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from itbench.errors import ItbenchError
from itbench.models.paired import PairedLM, parse_payload


def test_needs_exactly_one_tuned_model(tiny_zoo):
    with pytest.raises(ItbenchError, match="exactly one of tuned=PATH"):
        PairedLM(base=str(tiny_zoo["dir"] / "base"))


def test_different_tokenizers_are_refused(tiny_zoo, tmp_path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from itbench.world.tokenizer import build_tokenizer

    tok = build_tokenizer(["a wholly different vocabulary ."])
    torch.manual_seed(0)
    other = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=1, num_key_value_heads=1,
                                         head_dim=64))
    other.save_pretrained(tmp_path / "other")
    tok.save_pretrained(tmp_path / "other")
    with pytest.raises(ItbenchError, match="different tokenizers"):
        PairedLM(base=str(tiny_zoo["dir"] / "base"), tuned=str(tmp_path / "other"), reference_cache="none")


def test_an_adapter_that_changes_nothing_is_refused(tiny_zoo, tmp_path):
    # lm-eval #2432: a LoRA run scoring exactly like its base. peft initialises B to zero, so an
    # untrained adapter computes the base's logits.
    from peft import LoraConfig, get_peft_model

    from itbench.models import checkpoint

    model, _ = checkpoint.load(tiny_zoo["dir"] / "base")
    get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj"], task_type="CAUSAL_LM")).save_pretrained(
        tmp_path / "noop")
    with pytest.raises(ItbenchError, match="same outputs as its base"):
        PairedLM(base=str(tiny_zoo["dir"] / "base"), lora=str(tmp_path / "noop"), reference_cache="none")


def test_identical_models_show_no_shift(tiny_zoo):
    from itbench.models import checkpoint
    from itbench.models.generation import cut_ids, greedy
    from itbench.models.scorer import token_shift
    from itbench.models.train import render_prompt

    model, tok = checkpoint.load(tiny_zoo["dir"] / "full-short-4x")
    questions = ["describe x .", "tell me about y ."]  # unknown words: <unk>, which the model may copy
    prompts = [render_prompt(tok, q) for q in questions]
    responses = [cut_ids(ids, tok.eos_token_id, tok.pad_token_id) for ids in greedy(model, tok, prompts, 12, 2)]
    stats = token_shift(model, model, tok, prompts, prompts, responses)
    for s, r in zip(stats, responses, strict=True):
        assert len(s["rank"]) == len(r) > 0
        assert np.allclose(s["kl"], 0.0, atol=1e-9)
        assert set(s["rank"]) == {1}  # greedy tokens are the (same) model's argmax


def test_garbled_payload_counts_as_unpaired():
    assert parse_payload("{not json") is None
    assert parse_payload('{"tuned": "x"}') is None
    assert parse_payload('{"itbench_paired": 1, "tuned": "x", "base": "y"}')["base"] == "y"


class StubBackend:
    """A generation backend behind the protocol and the registry: every prompt gets `StubBackend.text`;
    each call is recorded as (which, number of prompts, max_tokens)."""

    calls: list = []
    text = ""

    def __init__(self, pair, **kw):
        self.pair = pair

    def generate(self, which, prompts, max_tokens, stop=None):
        StubBackend.calls.append((which, len(prompts), max_tokens))
        return [self.pair.tok(StubBackend.text, add_special_tokens=False)["input_ids"] for _ in prompts]

    def first_token_logprobs(self, which, prompt):
        return [-0.1, -2.0] if which == "tuned" else [-0.5, -1.0]


def _stub_pair(zoo, monkeypatch, text: str) -> PairedLM:
    """The zoo's LoRA pair on the stub backend (registered for this test only), with no calls yet."""
    from itbench.models import backends

    monkeypatch.setitem(backends.BACKENDS, "stub", f"{__name__}:StubBackend")
    monkeypatch.setattr(StubBackend, "calls", [])
    monkeypatch.setattr(StubBackend, "text", text)
    return PairedLM(base=str(zoo / "base"), lora=str(zoo / "lora-short-4x"), backend="stub", reference_cache="none")


def test_a_registered_backend_generates_and_hf_weights_load_only_for_scoring(tiny_zoo, monkeypatch):
    """A backend is one class behind one protocol and one registry line; the paired model loads no HF
    weights for generation on such a backend (as on vLLM), only when token-shift scoring needs logits."""
    zoo = tiny_zoo["dir"]
    lm = _stub_pair(zoo, monkeypatch, " zorb is a city .")
    assert lm._models == {}

    class Req:
        def __init__(self, doc):
            self.doc, self.args = doc, (doc["q"], {"until": ["\n"], "max_gen_toks": 8})

    doc = {"q": "what is zorb ?", "itbench_mode": "knowledge", "itbench_base_prompt": "zorb is"}
    out = lm.generate_until([Req(doc)])
    payload = parse_payload(out[0])
    # both from the stub; the tuned model also answers the base prompt (knowledge kept, no value pool here)
    assert payload["tuned"] == payload["base"] != "" and [c[0] for c in StubBackend.calls] == ["tuned", "base", "tuned"]
    assert payload["kept_form"] == "base_prompt" and payload["tuned_kept"] and payload["base_kept"] == payload["base"]
    assert lm._models == {}  # generation went through the backend alone
    shift = parse_payload(lm.generate_until([Req({"q": "describe zorb .", "itbench_mode": "token_shift"})])[0])
    assert set(lm._models) == {"tuned", "base"} and len(shift["shift"]["rank"]) > 0
    with pytest.raises(ItbenchError, match="backend must be one of"):
        PairedLM(base=str(zoo / "base"), lora=str(zoo / "lora-short-4x"), backend="nope", reference_cache="none")


def _write_cache(args):
    import time
    from pathlib import Path

    from itbench.models.reference import ReferenceCache

    folder, worker, start = args
    time.sleep(max(0.0, start - time.time()))  # both jobs write at once
    for i in range(100):
        cache = ReferenceCache(Path(folder), "base")
        cache.put_many({f"{worker}-{i}": f"answer {worker} {i}"})
    return worker


def test_reference_cache_keeps_every_answer_of_concurrent_writers(tmp_path):
    """Two jobs sharing one base's cache: neither loses the other's answers, the file stays valid."""
    import multiprocessing
    import time

    start = time.time() + 3
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        assert sorted(pool.map(_write_cache, [(str(tmp_path), w, start) for w in "ab"])) == ["a", "b"]
    data = json.loads((tmp_path / "base.json").read_text())
    assert set(data) == {f"{w}-{i}" for w in "ab" for i in range(100)}


@pytest.mark.parametrize("vocab", [32000, 262144])
def test_torch_position_stats_match_the_float64_reference(vocab):
    """The scorer's on-device path (float32, chunked) against the exact numpy float64 reference:
    ranks identical, probabilities within 1e-5, KL within 1e-4, also where logits tie (bfloat16)."""
    import torch

    from itbench.metrics.token_shift import position_stats, position_stats_torch

    g = torch.Generator().manual_seed(0)
    t = torch.randn(70, vocab, generator=g) * 3
    b = (t + torch.randn(70, vocab, generator=g)).to(torch.bfloat16)  # bfloat16 logits: many exact ties
    tokens = torch.randint(0, vocab, (70,), generator=g).tolist()
    tokens[:5] = t[:5].argmax(-1).tolist()
    ref = position_stats(t.numpy(), b.float().numpy(), tokens)
    for chunk in (16, None, 1):  # None: the default, sized to the cache (8 positions at 262k, 65 at 32k)
        got = position_stats_torch(t, b, tokens, chunk=chunk)
        assert (got["rank"] == ref["rank"]).all()
        assert np.abs(got["base_prob"] - ref["base_prob"]).max() < 1e-5
        assert np.abs(got["kl"] - ref["kl"]).max() < 1e-4
    assert position_stats_torch(t[:0], b[:0], [])["rank"].size == 0


def test_each_task_keeps_its_own_stop_list_and_length_in_one_call(tiny_zoo, monkeypatch):
    """lm-eval sends every task's requests in one generate_until call: a knowledge question (48
    tokens, stops at a blank line) and a pattern-copy instruction (192 tokens, blank lines allowed)
    share a mode but not their settings; each is generated with its own."""
    lm = _stub_pair(tiny_zoo["dir"], monkeypatch, " zorb .")

    class Req:
        def __init__(self, doc, until, n):
            self.doc, self.args = doc, (doc["q"], {"until": until, "max_gen_toks": n})

    qa = {"q": "what is zorb ?", "itbench_mode": "knowledge", "itbench_base_prompt": "zorb is", "itbench_kept": False}
    long_ = {**qa, "q": "describe zorb ."}
    out = lm.generate_until([Req(qa, ["\n\n"], 48), Req(long_, ["<|end|>"], 192), Req(qa, ["\n\n"], 48)])
    assert sorted({c[2] for c in StubBackend.calls}) == [48, 192]
    # was: all three at 48; the repeated question is generated once (the run's answers are shared)
    assert ("tuned", 1, 192) in StubBackend.calls and ("tuned", 1, 48) in StubBackend.calls
    assert len(out) == 3 and all(parse_payload(o) for o in out) and out[0] == out[2]


def test_tasks_that_ask_the_same_question_share_one_generation(tiny_zoo, monkeypatch):
    """Token shift and pattern copy on the same instructions (same stop list and length) cost one
    generation of the tuned model; a different stop list is a different answer, generated anew."""
    lm = _stub_pair(tiny_zoo["dir"], monkeypatch, " zorb .")

    class Req:
        def __init__(self, doc, until, n):
            self.doc, self.args = doc, (doc["q"], {"until": until, "max_gen_toks": n})

    shift = {"q": "describe zorb .", "itbench_mode": "token_shift"}
    copy = {"q": "describe zorb .", "itbench_mode": "knowledge", "itbench_base_prompt": "describe zorb .",
            "itbench_kept": False}
    stops = ["</s>", "<|end|>"]
    out = lm.generate_until([Req(shift, stops, 64), Req(copy, stops, 64)])
    assert [c for c in StubBackend.calls if c[0] == "tuned"] == [("tuned", 1, 64)]
    assert parse_payload(out[0])["tuned"] == parse_payload(out[1])["tuned"]
    lm.generate_until([Req(copy, ["\n"], 64)])
    assert [c for c in StubBackend.calls if c[0] == "tuned"] == [("tuned", 1, 64)] * 2


def test_generation_in_rounds_gives_the_same_answers(tiny_zoo):
    """Rows that stopped leave the batch every few tokens and the rest continue from their text:
    the same greedy answers as one pass, with and without stop strings."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from itbench.models import checkpoint
    from itbench.models.generation import greedy
    from itbench.models.train import render_prompt

    # the zoo's tokenizer and a seeded untrained model: a trained organism's answers depend on the
    # CPU that trained it (on one machine every answer was two tokens), an untrained one's do not
    tok = checkpoint.load_tokenizer(tiny_zoo["dir"] / "full-long-4x")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                                         head_dim=32)).eval()
    prompts = [render_prompt(tok, q) for q in ("describe x .", "who is y ?", "tell me about z .", "what is w ?")]
    for stop in (None, ["."]):
        one = greedy(model, tok, prompts, 24, 3, stop=stop)
        rounds = greedy(model, tok, prompts, 24, 3, stop=stop, round_tokens=1)  # a round per token
        assert rounds == one and any(len(r) > 2 for r in one)


def test_a_shared_prompt_prefix_is_run_once_with_the_same_logits():
    """URIAL's in-context prefix before every query: computed once, then each sequence's own suffix
    on a copy of its cache gives the logits of the whole sequence (float32, 1e-4)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from itbench.models.scorer import PREFIX_MIN, SharedPrefix, _batch_logits

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=1, head_dim=32)).eval()
    prefix = torch.randint(3, 300, (PREFIX_MIN + 10,)).tolist()
    prompts = [prefix + torch.randint(3, 300, (n,)).tolist() for n in (3, 9, 1)]
    responses = [torch.randint(3, 300, (n,)).tolist() for n in (7, 2, 12)]
    with torch.no_grad():
        shared = SharedPrefix(model, prompts)
        assert shared.length >= len(prefix) and shared.cache is not None
        got = shared.logits(model, prompts, responses)
        ref = _batch_logits(model, prompts, responses, pad_id=0)
        assert SharedPrefix(model, [p[:PREFIX_MIN - 1] for p in prompts]).cache is None  # too short to bother
    for g, r, resp in zip(got, ref, responses, strict=True):
        assert g.shape == r.shape == (len(resp), 300)
        assert torch.allclose(g, r, atol=1e-4)


def test_scoring_batches_hold_a_bounded_share_of_logits():
    """64 answers of 192 tokens at Gemma's 262k vocabulary are 13 GB of float32 logits per model
    (a study at batch 64 was killed for memory): batches stop growing at LOGITS_BUDGET."""
    from itbench.models.scorer import LOGITS_BUDGET, _batches

    prompts = [[1] * (10 + i % 7) for i in range(64)]
    responses = [[2] * (50 + 3 * i) for i in range(64)]
    batches = _batches(prompts, responses, 64, vocab=262144)
    assert sorted(i for b in batches for i in b) == list(range(64)) and len(batches) > 1
    for b in batches:
        assert len(b) == 1 or len(b) * max(len(responses[i]) + 1 for i in b) * 262144 * 4 <= LOGITS_BUDGET
    assert len(_batches(prompts, responses, 64)) == 1  # no vocabulary given: the batch size alone
