"""Bad input: each a clear error that says the fix, and nothing half-written."""

from __future__ import annotations

import json
import shutil

import pytest

from itbench.cli import main
from itbench.errors import ItbenchError
from itbench.models import checkpoint
from itbench.models.finetune import finetune
from itbench.models.recipes import FinetuneRecipe


def _run(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_unknown_method_is_refused_by_name(capsys, tiny_zoo, tmp_path):
    code, err = _run(capsys, "finetune", "--base", str(tiny_zoo["dir"] / "base"), "--data", "x.jsonl",
                     "--method", "qlora", "--out", str(tmp_path / "out"))
    assert code == 2 and "unknown method 'qlora'" in err and "lora" in err
    assert not (tmp_path / "out").exists()


def test_adapter_on_another_base_is_refused(tiny_zoo, tmp_path):
    other = tmp_path / "other-base"
    shutil.copytree(tiny_zoo["dir"] / "full-short-1x", other)
    with pytest.raises(ItbenchError, match="was trained on a base with weights .* pass the adapter's own base"):
        checkpoint.load(other, adapter=tiny_zoo["dir"] / "lora-short-1x")


@pytest.mark.parametrize("what", ["missing", "a-file"])
def test_zoo_list_of_no_zoo_folder_says_so(capsys, tmp_path, what):
    out = tmp_path / "zoo"
    if what == "a-file":
        out.write_text("not a zoo")
    code, err = _run(capsys, "zoo", "list", "--out", str(out))
    assert code == 2 and str(out) in err and ("is a file" if what == "a-file" else "no zoo at") in err
    assert "Traceback" not in err and (what == "missing" or out.read_text() == "not a zoo")


def test_missing_checkpoint_folder(tmp_path):
    with pytest.raises(ItbenchError, match="does not exist: build the zoo with `itbench zoo build`"):
        checkpoint.load(tmp_path / "nowhere")


@pytest.mark.parametrize("damage,message", [
    ("config.json", "neither config.json nor adapter_config.json"),
    ("model.safetensors", "holds no weights"),
])
def test_incomplete_checkpoint_folder(tiny_zoo, tmp_path, damage, message):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_zoo["dir"] / "full-short-1x", broken)
    (broken / damage).unlink()
    with pytest.raises(ItbenchError, match=message):
        checkpoint.load(broken)


def test_corrupt_manifest(tiny_zoo, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_zoo["dir"] / "full-short-1x", broken)
    (broken / checkpoint.MANIFEST).write_text("{truncated")
    with pytest.raises(ItbenchError, match="is corrupt .* rebuild it"):
        checkpoint.read_manifest(broken)


def test_a_key_written_twice_is_refused_in_a_manifest_and_an_it_set(tiny_zoo, tmp_path):
    """json keeps the last of two equal keys; a reader of the file sees the first. Neither wins."""
    from itbench.data import read_rows

    broken = tmp_path / "twice"
    shutil.copytree(tiny_zoo["dir"] / "full-short-1x", broken)
    text = (broken / checkpoint.MANIFEST).read_text()
    (broken / checkpoint.MANIFEST).write_text(text.replace("{", '{"method": "lora", ', 1))
    with pytest.raises(ItbenchError, match="is corrupt .*'method' appears twice"):
        checkpoint.read_manifest(broken)
    data = tmp_path / "it.jsonl"
    data.write_text('{"instruction": "a", "response": "b", "response": "c"}\n')
    with pytest.raises(ItbenchError, match="'response' appears twice"):
        read_rows(data)


def test_empty_it_set_writes_nothing(tiny_zoo, tmp_path):
    data = tmp_path / "empty.jsonl"
    data.write_text("")
    out = tmp_path / "out"
    with pytest.raises(ItbenchError, match="is empty"):
        finetune(tiny_zoo["dir"] / "base", data, FinetuneRecipe(method="lora"), out)
    assert not out.exists() and not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_it_set_lacking_the_mapped_field_names_it(tiny_zoo, tmp_path):
    data = tmp_path / "alpaca.json"
    data.write_text(json.dumps([{"instruction": "describe x .", "output": "x ."}]))
    # Alpaca rows are read without flags; a field named by hand that the rows lack is the error
    with pytest.raises(ItbenchError, match="lack a text field 'answer'.*--response-field"):
        finetune(tiny_zoo["dir"] / "base", data, FinetuneRecipe(method="lora", response_field="answer"),
                 tmp_path / "out")


def test_filtered_without_judge_scores(tiny_zoo, tiny_world, tmp_path):
    data = tiny_world / "it" / "short_1x.jsonl"
    with pytest.raises(ItbenchError, match="needs judge scores"):
        finetune(tiny_zoo["dir"] / "base", data, FinetuneRecipe(method="filtered"), tmp_path / "out")


def test_cli_reports_a_world_of_another_version(capsys, tiny_world, tmp_path):
    world = tmp_path / "w"
    shutil.copytree(tiny_world, world)
    manifest = json.loads((world / "world.json").read_text())
    manifest["format_version"] = 0
    (world / "world.json").write_text(json.dumps(manifest))
    code, err = _run(capsys, "zoo", "build", "--world", str(world), "--out", str(tmp_path / "zoo"))
    assert code == 2 and "format version 0" in err and "itbench world build" in err
    assert not (tmp_path / "zoo").exists()



def _llama(folder, tok, hidden: int, layers: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1,
                                         head_dim=hidden // 2))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return model


def test_an_adapter_without_manifest_is_checked_against_the_base_by_shapes_and_tokenizer(tmp_path):
    """An adapter from elsewhere (no itbench manifest): its LoRA matrices must fit the base's layers
    and a tokenizer saved with it must be the base's."""
    from peft import LoraConfig, get_peft_model

    from itbench.world.tokenizer import build_tokenizer

    tok = build_tokenizer(["one small vocabulary ."])
    model = _llama(tmp_path / "base", tok, 64, 2)
    adapter = tmp_path / "adapter"
    get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "down_proj"], task_type="CAUSAL_LM")) \
        .save_pretrained(adapter)
    checkpoint.check_adapter_base(adapter, tmp_path / "base")  # its own base: accepted
    _llama(tmp_path / "wider", tok, 96, 2)
    with pytest.raises(ItbenchError, match="does not fit .* lora_[AB] has"):
        checkpoint.check_adapter_base(adapter, tmp_path / "wider")
    _llama(tmp_path / "shallower", tok, 64, 1)
    with pytest.raises(ItbenchError, match="layers.1.* which .* does not have"):
        checkpoint.check_adapter_base(adapter, tmp_path / "shallower")
    build_tokenizer(["another vocabulary with other words ."]).save_pretrained(adapter)
    with pytest.raises(ItbenchError, match="different tokenizers"):
        checkpoint.check_adapter_base(adapter, tmp_path / "base")
    (adapter / "adapter_model.safetensors").write_bytes(b"\x00" * 12)
    with pytest.raises(ItbenchError, match="not a readable safetensors file"):
        checkpoint.check_adapter_base(adapter, tmp_path / "base")


class _Payload:
    """A pickle that writes a file when unpickled: what a hostile pytorch_model.bin can do."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (exec, (f"open({self.target!r}, 'w').write('ran')",))


def test_a_pickled_checkpoint_cannot_run_code_and_remote_code_is_off(tmp_path):
    """A local checkpoint is read from safetensors only: a folder whose weights are a pickle
    (pytorch_model.bin, which can run code when unpickled) is refused and the payload never runs;
    a config asking for remote code (auto_map) is not obeyed."""
    import torch

    from itbench.world.tokenizer import build_tokenizer

    tok = build_tokenizer(["one small vocabulary ."])
    folder = tmp_path / "hostile"
    _llama(folder, tok, 32, 1)
    safe = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "ran.txt"
    torch.save({"model.embed_tokens.weight": _Payload(marker)}, folder / "pytorch_model.bin")
    with pytest.raises(ItbenchError, match="holds no weights \\(model.safetensors"):
        checkpoint.load_model(folder)
    assert not marker.exists(), "the pickle payload ran"
    (folder / "pytorch_model.bin").unlink()
    (folder / "model.safetensors").write_bytes(safe)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "evil.EvilModel", "AutoConfig": "evil.EvilConfig"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    model = checkpoint.load_model(folder)
    assert type(model).__name__ == "LlamaForCausalLM" and not marker.exists(), "remote code ran"


@pytest.mark.parametrize("what", ["a-file", "a-folder-of-other-things"])
def test_world_build_never_writes_over_what_is_not_a_world(capsys, tmp_path, what):
    out = tmp_path / "out"
    if what == "a-file":
        out.write_text("keep me")
        keep = out
    else:
        out.mkdir()
        keep = out / "notes.txt"
        keep.write_text("keep me")
    code, err = _run(capsys, "world", "build", "--tiny", "--out", str(out))
    assert code == 2 and str(out) in err and "Traceback" not in err
    assert keep.read_text() == "keep me" and not (out.is_dir() and (out / "world.json").exists())


@pytest.mark.parametrize("argv, expect", [
    (["judge", "serve", "--port", "99999"], "--port: 99999 is not a port (1-65535)"),
    (["judge", "serve", "--port", "0"], "--port: 0 is not a port"),
    (["judge", "audit", "-n", "abc"], "-n: 'abc' is not a whole number"),
    (["demo", "--tiny", "--limit", "-1"], "--limit: -1 is not at least 1"),
    (["compare", "--tiny", "--limit", "0"], "--limit: 0 is not at least 1"),
    (["gate", "--base", "b", "--candidate", "c", "--limit", "0", "--smoke"], "--limit: 0 is not at least 1"),
    (["zoo", "build", "--tiny", "--seeds", "0"], "--seeds: 0 is not at least 1"),
    (["study", "--base", "b", "--data", "d", "--rows", "0"], "--rows: 0 is not at least 1"),
    (["study", "--base", "b", "--data", "d", "--n-questions", "2.5"], "--n-questions: '2.5' is not a whole number"),
], ids=lambda v: "-".join(v)[:40] if isinstance(v, list) else "")
def test_a_bad_number_is_refused_as_the_flags_are_read(capsys, tmp_path, monkeypatch, argv, expect):
    """Before anything is built or started (a demo with --limit -1 trained the whole zoo, then failed
    in lm-eval; a port out of range was a traceback from the server)."""
    monkeypatch.setenv("ITBENCH_HOME", str(tmp_path / "home"))
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and expect in err and "Traceback" not in err, err
    assert not (tmp_path / "home").exists()


def test_a_judge_that_scores_everything_low_filters_out_everything_with_a_way_out():
    """What the weak local judge did to the 64 Alpaca rows of the Gemma study (every score 1 or 2):
    the filtered method has nothing to train on; the message says so and what to use instead."""
    from itbench.models.finetune import apply_filter

    rows = [{"id": str(i), "instruction": "x", "response": "y"} for i in range(4)]
    with pytest.raises(ItbenchError, match=r"keep no item at threshold 4.5 \(the highest of the 4 is 2\).*"
                                           r"ITBENCH_JUDGE_URL.*--filter-by heuristic"):
        apply_filter(rows, {"0": 1.0, "1": 2.0, "2": 1.0, "3": 0.0}, FinetuneRecipe(method="filtered"))
    assert [r["id"] for r in apply_filter(rows, {"0": 5.0, "1": 4.5, "2": 1.0, "3": 4.4},
                                          FinetuneRecipe(method="filtered"))] == ["0", "1"]
