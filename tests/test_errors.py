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
    with pytest.raises(ItbenchError, match="lack a text field 'response'.*--response-field"):
        finetune(tiny_zoo["dir"] / "base", data, FinetuneRecipe(method="lora"), tmp_path / "out")


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

