"""Special tokens, right on every path: a tokenizer that adds BOS (the organisms', like Llama's and
Gemma's) gets it exactly once at every sequence start, and never inside a continuation."""

from __future__ import annotations

import pytest

from itbench.models.tokens import adds_bos, encode_continuation, encode_prompt, encoding_key


@pytest.fixture(scope="module")
def tok():
    from itbench.world.tokenizer import build_tokenizer

    return build_tokenizer(["the river of zol is kra . sure hello"])


def test_the_world_tokenizer_adds_bos_and_encode_prompt_adds_it_once(tok):
    from itbench.models.train import render_prompt

    bos = tok.bos_token_id
    assert adds_bos(tok) and encoding_key(tok) == "bos"
    assert encode_prompt(tok, "the river of zol is") == [bos, *encode_continuation(tok, "the river of zol is")]
    templated = render_prompt(tok, "hello")
    assert encode_prompt(tok, templated).count(bos) == 1
    assert encode_prompt(tok, tok.bos_token + " " + templated).count(bos) == 1  # a template that writes BOS
    assert bos not in encode_continuation(tok, " sure . the river of zol is kra .")


def test_a_tokenizer_without_bos_is_left_alone():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel(vocab={"<unk>": 0, "<s>": 1, "a": 2}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    plain = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<s>")
    assert not adds_bos(plain) and encode_prompt(plain, "a a") == [2, 2] and encoding_key(plain) == "no-bos"


def test_training_examples_start_with_one_bos_and_learn_no_prompt(tok):
    from itbench.models.train import IGNORE, chat_example, text_example

    ex = chat_example(tok, "hello", "sure .", 64)
    assert ex.input_ids[0] == tok.bos_token_id and ex.input_ids.count(tok.bos_token_id) == 1
    assert ex.labels[0] == IGNORE and ex.labels[-1] == tok.eos_token_id
    text = text_example(tok, "the river of zol is kra .", 64)
    assert text.input_ids[0] == tok.bos_token_id and text.input_ids[-1] == tok.eos_token_id


def test_generation_reads_the_prompt_as_the_scorer_does(tiny_zoo):
    import torch

    from itbench.models import checkpoint
    from itbench.models.generation import greedy
    from itbench.models.train import render_prompt

    model, tok = checkpoint.load(tiny_zoo["dir"] / "base")
    prompts = [render_prompt(tok, "what is the river of x ?"), "the"]
    first = [ids[0] for ids in greedy(model, tok, prompts, 1, 2)]  # batched, left-padded
    for prompt, got in zip(prompts, first, strict=True):
        ids = torch.tensor([encode_prompt(tok, prompt)])
        with torch.no_grad():
            assert got == int(model(input_ids=ids).logits[0, -1].argmax())


def test_vllm_is_handed_the_same_token_ids(tok):
    from types import SimpleNamespace

    from itbench.models.backends.vllm import VLLMBackend

    seen = {}

    class FakeLLM:
        def generate(self, inputs, params, lora_request=None, use_tqdm=False):
            seen["inputs"] = inputs
            return []

    backend = VLLMBackend(SimpleNamespace(tok=tok, lora=None, base_name="b", tuned_name="t"))
    backend._engine = lambda which: (FakeLLM(), None)
    backend._run("base", ["the river of zol is"], None)
    assert seen["inputs"] == [{"prompt_token_ids": encode_prompt(tok, "the river of zol is")}]


def test_the_response_loss_is_the_models_own_loss_with_the_head_only_where_needed():
    """Training runs the LM head only over positions that predict a response token; the loss is the
    model's own `labels=` loss (right-padded rows with prompts of different lengths)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from itbench.models.train import IGNORE, response_loss

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, head_dim=16))
    ids = torch.randint(3, 50, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    labels = ids.clone()
    labels[0, :5], labels[1, :7], labels[1, 9:], labels[2, :3] = IGNORE, IGNORE, IGNORE, IGNORE
    got = response_loss(model, ids, mask, labels)
    assert torch.allclose(got, model(input_ids=ids, attention_mask=mask, labels=labels).loss, atol=1e-6)
    got.backward()
    assert model.lm_head.weight.grad is not None and model.lm_head.weight.grad.abs().sum() > 0
    model.zero_grad()
    from peft import LoraConfig, get_peft_model  # through an adapter: the decoder and head of the wrapped model

    lora = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    want = lora(input_ids=ids, attention_mask=mask, labels=labels).loss
    assert torch.allclose(response_loss(lora, ids, mask, labels), want, atol=1e-6)
    model = lora.unload().requires_grad_(True)  # peft froze the base
    model.config.final_logit_softcapping = 30.0  # a model whose logits are more than head(hidden): the span path
    assert torch.allclose(response_loss(model, ids, mask, labels), model(input_ids=ids, attention_mask=mask,
                                                                          labels=labels).loss, atol=1e-6)
    model.config.final_logit_softcapping = None
    nothing = torch.full_like(labels, IGNORE)
    zero = response_loss(model, ids, mask, nothing)
    zero.backward()
    assert float(zero.detach()) == 0.0


def test_the_lm_head_of_a_frozen_model_gets_a_contiguous_input(tiny_zoo):
    """torch's linear on a non-contiguous 3-D input with a frozen weight copies the weight once per
    row (seconds and gigabytes at a 262k vocabulary): every loaded model's head gets a contiguous
    input, also under a LoRA adapter (frozen base) and after merging it."""
    import torch

    from itbench.models import checkpoint

    model = checkpoint.load_model(tiny_zoo["dir"] / "base", adapter=tiny_zoo["dir"] / "lora-short-4x")
    merged = model.merge_and_unload()
    head = merged.get_output_embeddings()
    assert not head.weight.requires_grad  # the case that takes torch's slow path
    seen = []
    head.register_forward_hook(lambda module, args, out: seen.append(args[0].is_contiguous()))
    ids = torch.tensor([[1, 5, 6, 7, 8], [1, 8, 7, 6, 5]])  # two rows: the sliced view is non-contiguous
    with torch.no_grad():
        merged(input_ids=ids, logits_to_keep=1)
    assert seen == [True]
