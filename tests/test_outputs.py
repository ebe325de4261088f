"""Outputs never destroy inputs: every command that writes a folder or a file refuses an output that
is, holds or lies inside one of its inputs, an existing file where a folder goes, or a folder of
someone else's files, before it reads a model or writes a byte (exit 2, the path named, every file
under the test's folder byte for byte as before). Part of the bad-input battery (test_bad_input.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from itbench import cli, paths
from itbench.models import checkpoint
from itbench.utils import atomic
from tests.fake_results import good_metrics, write_run
from tests.test_bad_input import BASE, _digest, _study_data


@pytest.fixture
def house(tmp_path) -> Path:
    """A folder of inputs: a base checkpoint folder, an IT set with judge scores, a world, a zoo
    (its base only), a results run, a policy, and someone else's folder of work."""
    from itbench.world import store
    from itbench.world.config import TINY_WORLD

    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "config.json").write_text('{"model_type": "llama"}')
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "it.jsonl").write_text('{"instruction": "Name a colour.", "response": "Blue."}\n')
    (tmp_path / "data" / "notes.txt").write_text("mine")
    (tmp_path / "scores.jsonl").write_text('{"id": "0", "score": 5}\n')
    store.write_world(TINY_WORLD, tmp_path / "world")
    (tmp_path / "zoo" / "base").mkdir(parents=True)
    (tmp_path / "zoo" / "base" / "config.json").write_text('{"model_type": "llama"}')
    write_run(tmp_path / "run", base_id=checkpoint.identity(BASE), metrics=good_metrics())
    shutil.copy(paths.policies() / "default.toml", tmp_path / "policy.toml")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "thesis.tex").write_text("years of work")
    _study_data(tmp_path / "study-data")
    return tmp_path


FT = ["finetune", "--base", "{base}", "--data", "{data}/it.jsonl", "--method", "lora"]
GATE = ["gate", "--base", BASE, "--results", "{run}/results.json"]
# (case id, the command with {name} for a folder of the house, what the message must say)
CASES = [
    ("finetune-out-is-the-base", FT + ["--out", "{base}"], "is, holds or lies inside the input"),
    ("finetune-out-inside-the-base", FT + ["--out", "{base}/tuned"], "is, holds or lies inside the input"),
    ("finetune-out-holds-the-data", FT + ["--out", "{data}"], "is, holds or lies inside the input"),
    ("finetune-out-holds-both", FT + ["--out", "{root}"], "is, holds or lies inside the input"),
    ("finetune-out-an-existing-file", FT + ["--out", "{data}/notes.txt"], "is an existing file"),
    ("finetune-out-a-foreign-folder", FT + ["--out", "{foreign}"], "holds other things and no checkpoint"),
    ("finetune-out-is-the-judge-scores", ["finetune", "--base", "{base}", "--data", "{data}/it.jsonl", "--method",
                                          "filtered", "--judge-scores", "{root}/scores.jsonl", "--out",
                                          "{root}/scores.jsonl"], "is, holds or lies inside the input"),
    ("zoo-build-out-inside-the-world", ["zoo", "build", "--world", "{world}", "--out", "{world}/zoo"],
     "is, holds or lies inside the input"),
    ("zoo-build-out-a-foreign-folder", ["zoo", "build", "--world", "{world}", "--out", "{foreign}"],
     "holds other things and no zoo"),
    ("demo-zoo-is-the-world", ["demo", "--world", "{world}", "--out", "{world}"], "is, holds or lies inside"),
    ("compare-out-is-the-zoo", ["compare", "--zoo", "{zoo}", "--world", "{world}", "--out", "{zoo}"],
     "is, holds or lies inside the input"),
    ("compare-out-inside-the-zoo", ["compare", "--zoo", "{zoo}", "--world", "{world}", "--out", "{zoo}/results"],
     "is, holds or lies inside the input"),
    ("compare-out-a-foreign-folder", ["compare", "--zoo", "{zoo}", "--world", "{world}", "--out", "{foreign}"],
     "holds other things and no results folder"),
    ("judge-audit-out-inside-the-zoo", ["judge", "audit", "--zoo", "{zoo}", "--world", "{world}", "--out",
                                        "{zoo}/audit"], "is, holds or lies inside the input"),
    ("judge-audit-out-a-foreign-folder", ["judge", "audit", "--zoo", "{zoo}", "--world", "{world}", "--out",
                                          "{foreign}"], "holds other things and no judge audit"),
    ("study-out-is-the-data", ["study", "--base", "no-such-org/m", "--data", "{study-data}", "--out",
                               "{study-data}", "--rows", "2"], "is, holds or lies inside the input"),
    ("study-out-a-foreign-folder", ["study", "--base", "no-such-org/m", "--data", "{study-data}", "--out",
                                    "{foreign}", "--rows", "2"], "holds other things and no study folder"),
    ("study-leaderboard-inside-the-data", ["study", "--base", "no-such-org/m", "--data", "{study-data}", "--out",
                                           "{root}/study", "--leaderboard", "{study-data}/board", "--rows", "2"],
     "is, holds or lies inside the input"),
    ("study-leaderboard-is-its-checkpoints", ["study", "--base", "no-such-org/m", "--data", "{study-data}", "--out",
                                             "{root}/study", "--leaderboard", "{root}/study/checkpoints", "--rows",
                                             "2"], "is, holds or lies inside the input"),
    ("gate-junit-is-the-results", GATE + ["--junit", "{run}/results.json"], "is or lies inside the input"),
    ("gate-summary-is-the-policy", GATE + ["--policy", "{root}/policy.toml", "--summary", "{root}/policy.toml"],
     "is or lies inside the input"),
    ("gate-junit-a-folder", GATE + ["--junit", "{foreign}"], "is a folder: give a file path"),
]


@pytest.mark.parametrize("case, argv, expect", CASES, ids=[c[0] for c in CASES])
def test_an_output_that_would_destroy_an_input_is_refused(house, capsys, case, argv, expect):
    names = {p.name: str(p) for p in house.iterdir()} | {"root": str(house)}
    argv = [a.format(**names) for a in argv]
    before = _digest(house)
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, (code, err)
    assert expect in err and "Traceback" not in err, err
    assert _digest(house) == before  # every input byte for byte as it was, nothing written under the house
    assert not (house / "zoo" / "results").exists()


def test_the_leftovers_of_a_killed_run_do_not_block_its_resume(tmp_path):
    """A folder that holds only what a killed write left (temporary siblings) counts as empty; one
    more file of someone else's does not."""
    out = tmp_path / "zoo"
    out.mkdir()
    (out / ".base.k2j3h4.tmp").mkdir()
    (out / ".results.json.8fz1.tmp").write_text("half")
    assert atomic.check_output(out, ours=("*/manifest.json",)) == out.resolve()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(Exception, match="holds other things"):
        atomic.check_output(out, ours=("*/manifest.json",))
    (out / "base").mkdir()
    (out / "base" / "manifest.json").write_text("{}")
    assert atomic.check_output(out, ours=("*/manifest.json",)) == out.resolve()


def test_a_zoo_rebuilds_its_own_damaged_checkpoint(tiny_zoo, tiny_world, tmp_path):
    """The foreign-folder rule guards folders a user names, not a zoo's own: a checkpoint that lost
    its manifest is rebuilt in place, while `itbench finetune --out` that folder is refused."""
    from itbench.models.finetune import finetune
    from itbench.models.recipes import FinetuneRecipe
    from itbench.models.zoo import TINY_FORMAT_RULE, build_zoo
    from itbench.world.organisms import TINY_BASE

    zoo = tmp_path / "zoo"
    shutil.copytree(tiny_zoo["dir"], zoo)
    (zoo / "lora-short-1x" / checkpoint.MANIFEST).unlink()
    data = tiny_world / "it" / "short_1x.jsonl"
    with pytest.raises(Exception, match="holds other things and no checkpoint"):
        finetune(zoo / "base", data if data.exists() else next(tiny_world.rglob("*.jsonl")),
                 FinetuneRecipe(method="lora"), zoo / "lora-short-1x")
    got = build_zoo(tiny_world, zoo, base_recipe=TINY_BASE, stopping=TINY_FORMAT_RULE, seeds=1, only=["lora-short-1x"],
                    progress=False, log=lambda *_: None)
    assert [r["built"] for r in got if r["name"] == "lora-short-1x"] == [True]
    assert checkpoint.read_manifest(zoo / "lora-short-1x")["name"] == "lora-short-1x"
