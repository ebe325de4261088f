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
    """Dolly (instruction, context, response), Alpaca and LIMA's Alpaca-style rows read without
    flags, the context or input kept in the instruction; explicit fields still override."""
    lines = []
    dolly = load_it_rows(shared_file("dolly-15k", "databricks-dolly-15k.jsonl"), FinetuneRecipe(method="lora"),
                         log=lines.append)
    assert len(dolly) > 15_000 and "instruction/response rows" in lines[-1]
    with_context = next(r for r in dolly if r["context"].strip())
    assert with_context["instruction"].endswith(with_context["context"].strip())
    alpaca = load_it_rows(shared_file("alpaca", "alpaca_5000.json"), FinetuneRecipe(method="lora"), log=lines.append)
    assert len(alpaca) == 5000 and "Alpaca rows (instruction + input -> prompt, output -> response)" in lines[-1]
    assert alpaca[0]["instruction"] == alpaca[0]["instruction"].split("\n\n")[0] + "\n\n" + alpaca[0]["input"]
    assert alpaca[0]["response"] == alpaca[0]["output"]
    assert len(load_it_rows(shared_file("lima", "lima.json"), FinetuneRecipe(method="lora"))) > 1000
    explicit = load_it_rows(shared_file("alpaca", "alpaca_5000.json"),
                            FinetuneRecipe(method="lora", response_field="output"))
    assert "response" not in explicit[0]  # named fields are used as given
    with pytest.raises(ItbenchError, match="lack a text field 'answer'"):
        load_it_rows(shared_file("lima", "lima.json"), FinetuneRecipe(method="lora", response_field="answer"))


FORMATS = {
    "alpaca": ({"instruction": "name a colour .", "input": "number 3", "output": "blue ."},
               "name a colour .\n\nnumber 3", "blue .", "Alpaca rows"),
    "messages": ({"messages": [{"role": "system", "content": "be brief ."},
                               {"role": "user", "content": "name a colour ."},
                               {"role": "assistant", "content": "blue ."}]},
                 "be brief .\n\nname a colour .", "blue .", "chat messages rows"),
    "sharegpt": ({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello ."},
                                    {"from": "human", "value": "name a colour ."}, {"from": "gpt", "value": "blue ."}]},
                 "name a colour .", "blue .", "ShareGPT rows"),
    "prompt_completion": ({"prompt": "name a colour .", "completion": "blue ."}, "name a colour .", "blue .",
                          "prompt/completion rows"),
    "dolly": ({"instruction": "name a colour .", "context": "number 3", "response": "blue ."},
              "name a colour .\n\nnumber 3", "blue .", "instruction/response rows"),
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_formats_users_bring_are_read_without_flags(tmp_path, fmt):
    from itbench.data import load_it_set

    row, instruction, response, says = FORMATS[fmt]
    data = tmp_path / "set.jsonl"
    data.write_text(json.dumps({**row, "id": "a"}) + "\n")
    lines = []
    got = load_it_set(data, log=lines.append)
    assert got == [{**row, "id": "a", "instruction": instruction, "response": response}]
    assert len(lines) == 1 and says in lines[0] and str(data) in lines[0]


def test_an_it_set_of_no_known_format_or_of_mixed_rows_is_refused(tmp_path):
    from itbench.data import load_it_set

    data = tmp_path / "set.jsonl"
    data.write_text(json.dumps({"question": "q", "answer": "a"}) + "\n")
    fields = r"lack a text field 'instruction' \(fields of the first row: \['answer', 'question'\]\)"
    with pytest.raises(ItbenchError, match=fields + r".*without flags: .*Alpaca \(instruction, output\)"):
        load_it_set(data)
    data.write_text(json.dumps({"prompt": "p", "completion": "c"}) + "\n" + json.dumps({"prompt": "p"}) + "\n")
    with pytest.raises(ItbenchError, match="row 2 is not a prompt/completion row like the first"):
        load_it_set(data)
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "only a question"}]}) + "\n")
    with pytest.raises(ItbenchError, match="row 1 is not a chat messages row"):
        load_it_set(data)


def test_cli_finetunes_an_alpaca_file_without_flags_and_shows_its_steps(hub_like_model, tmp_path, capsys):
    data = tmp_path / "alpaca.json"
    data.write_text(json.dumps([{**r, "input": ""} for r in ROWS]))
    out = tmp_path / "lora"
    code = main(["finetune", "--base", str(hub_like_model), "--data", str(data), "--method", "lora", "--out", str(out),
                 "--epochs", "2", "--batch-size", "4"])
    got = capsys.readouterr()
    assert code == 0, got.err
    assert f"{data}: Alpaca rows (instruction + input -> prompt, output -> response), 24 rows" in got.out
    steps = [line for line in got.err.splitlines() if line.startswith("lora training: step ")]
    assert steps and steps[-1].startswith("lora training: step 12 of 12, loss ") and len(steps) <= 11
    assert checkpoint.read_manifest(out)["data"]["rows"] == len(ROWS)


def test_unreachable_hub_data_set_says_to_use_a_local_file():
    with pytest.raises(ItbenchError, match="offline, pass a local JSON/JSONL/CSV file"):
        load_it_rows("nobody/no-such-set", FinetuneRecipe(method="lora"))
