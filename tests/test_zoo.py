"""The zoo: every checkpoint the paper compares, its manifest, and caching."""

from __future__ import annotations

from itbench.models import checkpoint
from itbench.models.recipes import METHODS
from itbench.models.zoo import TINY_FORMAT_RULE, build_zoo, default_entries
from itbench.world import claims, store
from itbench.world.config import TINY_WORLD
from itbench.world.organisms import TINY_BASE


def test_default_zoo_has_every_method_both_styles_and_a_size_series():
    recipes = {"lora-short-1x", "lora-short-4x", "lora-short-16x", "full-short-1x", "full-short-4x",
               "full-short-16x", "lora-long-4x", "full-long-4x", "neftune-short-4x", "filtered-short-4x",
               "dora-short-4x"}
    assert {e.name for e in default_entries((1, 4, 16), seeds=1)} == {"base"} | recipes
    entries = default_entries((1, 4, 16))  # three seeds by default: NAME, NAME-seed1, NAME-seed2
    tuned = [e for e in entries if e.method != "base"]
    assert len(tuned) == 3 * len(recipes) and {e.replicate_of for e in tuned} == recipes
    full4 = sorted((e for e in tuned if e.replicate_of == "full-short-4x"), key=lambda e: e.seed)
    assert [(e.name, e.seed) for e in full4] == [("full-short-4x", 0), ("full-short-4x-seed1", 1),
                                                 ("full-short-4x-seed2", 2)]


def test_seeds_change_the_training_and_are_recorded(tiny_world, tiny_zoo, tmp_path):
    import shutil

    from itbench.models.zoo import ZooEntry, replicates

    shutil.copytree(tiny_zoo["dir"] / "base", tmp_path / "zoo" / "base")  # the tiny zoo's base, reused (cached)
    entries = [ZooEntry("base", "base"), *replicates(ZooEntry("lora-short-1x", "lora", "short", 1), 2)]
    out = build_zoo(tiny_world, tmp_path / "zoo", entries=entries, base_recipe=TINY_BASE, stopping=None,
                    progress=False, log=lambda *_: None)
    assert not out[0]["built"]  # the copied base was taken as it is
    a, b = out[1], out[2]
    assert a["replicate"] == {"group": "lora-short-1x", "seed": 0} and b["replicate"] == {"group": "lora-short-1x",
                                                                                          "seed": 1}
    assert a["recipe"]["seed"] == 0 and b["recipe"]["seed"] == 1 and a["fingerprint"] != b["fingerprint"]


def test_a_registered_method_is_one_entry_that_reaches_the_zoo_and_finetune(tiny_zoo, monkeypatch, tmp_path):
    """DoRA came in as one register_method call: its adapter is a DoRA adapter (peft's use_dora), and
    a further method registered the same way joins the zoo's list with nothing else changed."""
    import json

    from itbench.models import recipes

    dora = next(r for r in tiny_zoo["results"] if r["name"] == "dora-short-4x")
    assert dora["method"] == "dora" and dora["recipe"]["resolved"]["peft"] == {"use_dora": True}
    config = json.loads((tiny_zoo["dir"] / "dora-short-4x" / "adapter_config.json").read_text())
    assert config["use_dora"] is True
    monkeypatch.setattr(recipes, "METHODS", dict(recipes.METHODS))
    monkeypatch.setattr("itbench.models.zoo.METHODS", recipes.METHODS)
    recipes.register_method("rslora", recipes.Method(tuning="lora", lr=2e-3, peft={"use_rslora": True},
                                                     improved=True))
    assert "rslora-short-4x" in {e.name for e in default_entries((1, 4, 16))}
    assert recipes.FinetuneRecipe(method="rslora").to_dict()["resolved"]["peft"] == {"use_rslora": True}


def test_every_checkpoint_carries_its_recipe(tiny_zoo):
    results = tiny_zoo["results"]
    base = next(r for r in results if r["method"] == "base")
    for r in results:
        m = checkpoint.read_manifest(r["path"])
        assert m["fingerprint"] == checkpoint.weights_fingerprint(r["path"])
        assert m["seed"] == 0 and m["recipe"] and m["world"]["fingerprint"]
        if m["method"] == "base":
            continue
        assert m["method"] in METHODS
        assert m["base"]["fingerprint"] == base["fingerprint"]
        assert m["it_set"]["style"] in ("short", "long") and m["it_set"]["scale"] in TINY_WORLD.it_scales
        assert m["recipe"]["epochs"] == 3 and m["recipe"]["lora_r"] == 8
        assert m["recipe"]["resolved"]["lr"] == METHODS[m["method"]].lr
        assert checkpoint.is_adapter(r["path"]) == (m["tuning"] == "lora")


def test_neftune_adds_noise_and_filtered_drops_the_planted_bad_items(tiny_zoo, tiny_world):
    by_name = {r["name"]: r for r in tiny_zoo["results"]}
    assert by_name["neftune-short-4x"]["recipe"]["resolved"]["neftune_alpha"] == 5.0
    assert by_name["full-short-4x"]["recipe"]["resolved"]["neftune_alpha"] is None
    filtered = by_name["filtered-short-4x"]
    rows = store.read_rows(tiny_world, filtered["it_set"]["file"])
    truth = claims.truth_table(store.read_rows(tiny_world, "entities.jsonl"))
    kept = [r for r in rows if claims.judge_score(r["response"], r["entity"], r["attribute"], truth) >= 4.5]
    assert filtered["data"]["trained_rows"] == len(kept) < len(rows)
    assert all(r["quality"] == "ok" for r in kept)
    assert sum(r["quality"] == "ok" for r in rows) == len(kept)  # the judge keeps every good item


def test_rebuild_reuses_everything_and_a_changed_recipe_rebuilds_only_its_method(tiny_zoo, tiny_world):
    again = build_zoo(tiny_world, tiny_zoo["dir"], base_recipe=TINY_BASE, stopping=TINY_FORMAT_RULE, seeds=1,
                      progress=False, log=lambda *_: None)
    assert not any(r["built"] for r in again)
    changed = build_zoo(tiny_world, tiny_zoo["dir"], base_recipe=TINY_BASE, stopping=TINY_FORMAT_RULE, seeds=1,
                        progress=False, log=lambda *_: None,
                        only=["lora-short-1x", "full-short-1x"], recipe_overrides={"lora": {"lora_r": 4}})
    built = {r["name"] for r in changed if r["built"]}
    assert built == {"lora-short-1x"}
    restored = build_zoo(tiny_world, tiny_zoo["dir"], base_recipe=TINY_BASE, stopping=TINY_FORMAT_RULE, seeds=1,
                         progress=False, log=lambda *_: None,
                         only=["lora-short-1x"])
    assert {r["name"] for r in restored if r["built"]} == {"lora-short-1x"}


def test_the_organism_tokenizer_keeps_names_whole_and_has_a_chat_template(tiny_zoo, tiny_world):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_zoo["dir"] / "base")
    for e in store.read_rows(tiny_world, "entities.jsonl"):
        assert len(tok(e["name"], add_special_tokens=False)["input_ids"]) == 1
    prompt = tok.apply_chat_template([{"role": "user", "content": "describe x ."}], tokenize=False,
                                     add_generation_prompt=True)
    assert prompt.split() == ["<|user|>", "describe", "x", ".", "<|assistant|>"]
    ids = tok("the river of x is y .", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == "the river of <unk> is <unk> ."
