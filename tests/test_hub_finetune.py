"""The recipe code fine-tunes any causal LM given by name or path, here a tiny random Llama with a
tokenizer of its own and no chat template (the path a user with a GPU takes for a real zoo)."""

from __future__ import annotations

import json

import pytest

from itbench.cli import main
from itbench.errors import ItbenchError
from itbench.models import checkpoint
from itbench.models.finetune import load_it_rows
from itbench.models.recipes import FinetuneRecipe
from tests.conftest import shared_file

ROWS = [{"instruction": f"name a colour number {i} .", "output": f"colour {i} is blue ."} for i in range(24)]


@pytest.fixture(scope="module")
def hub_like_model(tmp_path_factory):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from itbench.world.tokenizer import build_tokenizer

    path = tmp_path_factory.mktemp("hub") / "tiny-llama"
    texts = [f"{r['instruction']} {r['output']}" for r in ROWS] + ["### Instruction: Response:"]
    tok = build_tokenizer(texts)
    tok.chat_template = None  # like many base models: the recipe falls back to an Alpaca prompt
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                                         num_hidden_layers=2, num_attention_heads=1, num_key_value_heads=1,
                                         head_dim=64, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.mark.parametrize("method", ["lora", "full", "neftune"])
def test_cli_finetunes_a_model_given_by_path(hub_like_model, tmp_path, capsys, method):
    data = tmp_path / "alpaca_style.json"
    data.write_text(json.dumps(ROWS))
    out = tmp_path / method
    code = main(["finetune", "--base", str(hub_like_model), "--data", str(data), "--method", method,
                 "--out", str(out), "--response-field", "output", "--epochs", "2"])
    assert code == 0, capsys.readouterr().err
    manifest = checkpoint.read_manifest(out)
    assert manifest["method"] == method and manifest["data"]["rows"] == len(ROWS)
    assert manifest["base"]["fingerprint"] == checkpoint.weights_fingerprint(hub_like_model)
    tuned, _ = checkpoint.load(hub_like_model, adapter=out) if method == "lora" else checkpoint.load(out)
    base, tok = checkpoint.load(hub_like_model)
    ids = tok("name a colour number 3 .", return_tensors="pt")["input_ids"]
    assert (tuned(input_ids=ids).logits - base(input_ids=ids).logits).abs().max().item() > 1e-6


def test_filtered_with_a_judge_scores_file(hub_like_model, tmp_path, capsys):
    rows = [{**r, "id": f"r{i}"} for i, r in enumerate(ROWS)]
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    scores = tmp_path / "scores.jsonl"
    scores.write_text("".join(json.dumps({"id": r["id"], "score": 5 if i % 3 else 2}) + "\n"
                              for i, r in enumerate(rows)))
    out = tmp_path / "filtered"
    code = main(["finetune", "--base", str(hub_like_model), "--data", str(data), "--method", "filtered",
                 "--out", str(out), "--response-field", "output", "--judge-scores", str(scores), "--epochs", "1"])
    assert code == 0, capsys.readouterr().err
    assert checkpoint.read_manifest(out)["data"]["trained_rows"] == sum(1 for i in range(len(rows)) if i % 3)


def test_real_it_sets_map_their_fields():
    dolly = load_it_rows(shared_file("dolly-15k", "databricks-dolly-15k.jsonl"), FinetuneRecipe(method="lora"))
    assert len(dolly) > 15_000
    alpaca = load_it_rows(shared_file("alpaca", "alpaca_5000.json"),
                          FinetuneRecipe(method="lora", response_field="output"))
    assert len(alpaca) == 5000
    with pytest.raises(ItbenchError, match="lack a text field 'response'"):
        load_it_rows(shared_file("lima", "lima.json"), FinetuneRecipe(method="lora"))


def test_unreachable_hub_data_set_says_to_use_a_local_file():
    with pytest.raises(ItbenchError, match="offline, pass a local JSON/JSONL/CSV file"):
        load_it_rows("nobody/no-such-set", FinetuneRecipe(method="lora"))
