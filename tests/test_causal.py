"""The causal check of borrowed tokens: its summary per recipe and its place among the findings."""

from __future__ import annotations

import json

import pytest

from itbench import causal, findings


def _checked(group: str, seed: int, pairs: list[tuple[bool, bool]]) -> dict:
    return {"checkpoint": f"{group}-seed{seed}", "group": group, "method": group.split("-")[0], "seed": seed,
            "cases": [{"entity": "e", "question": "q", "span": "v", "removed": 1, "traced_answer": None,
                       "control_answer": "v", "traced_gone": t, "control_gone": c} for t, c in pairs]}


def test_a_handful_of_identical_cases_is_not_certainty():
    checked = [_checked("lora-short-4x", k, [(True, True)]) for k in range(3)]  # one case per seed, no effect
    s = causal.summarize(checked)[0]
    assert s["effect"] == 0 and s["low"] < -0.5 and s["high"] > 0.5  # as wide as one case per seed allows


def test_summary_pools_cases_and_intervals_over_seeds():
    checked = [_checked("full-short-4x", 0, [(True, False)] * 4 + [(False, False)]),
               _checked("full-short-4x", 1, [(True, False)] * 3 + [(True, True)]),
               _checked("full-short-4x", 2, [(True, False)] * 5),
               _checked("lora-short-4x", 0, [])]
    summary = {s["group"]: s for s in causal.summarize(checked)}
    full = summary["full-short-4x"]
    assert full["cases"] == 14 and full["seeds"] == 3
    assert full["traced_gone"] == pytest.approx(13 / 14, abs=1e-4)
    assert full["control_gone"] == pytest.approx(1 / 14, abs=1e-4)
    assert full["effect"] == pytest.approx((0.8 + 0.75 + 1.0) / 3, abs=1e-4)
    assert full["low"] > 0 and full["verdict"] == "yes"
    lo, hi = full["traced_ci"]
    assert 0 <= lo < 13 / 14 < hi <= 1
    assert summary["lora-short-4x"]["cases"] == 0


def test_causal_summary_becomes_a_finding(tmp_path):
    checked = [_checked("full-short-4x", k, [(True, False), (False, False), (True, True)]) for k in range(2)]
    (tmp_path / causal.FILE).write_text(json.dumps({"checkpoints": checked, "summary": causal.summarize(checked)}))
    found = findings.causal_findings(tmp_path)
    assert len(found) == 1 and found[0]["number"] == 3 and found[0]["seeds"] == 2
    assert found[0]["estimate"] == pytest.approx(1 / 3, abs=1e-4)
    (tmp_path / causal.FILE).write_text("{")
    from itbench.errors import ItbenchError

    with pytest.raises(ItbenchError, match="causal"):
        findings.causal_findings(tmp_path)


def _borrowed_case(zoo, world) -> dict:
    """A borrowed-task samples row whose borrowed value traces to a similar instance of the
    checkpoint's IT set: an entity of the world and a value another entity of its cluster has."""
    from itbench.models import checkpoint
    from itbench.tracing import contains_span, world_tracer
    from itbench.world import store

    it_file = checkpoint.read_manifest(zoo / "lora-short-4x")["data"]["source"]
    tracer = world_tracer(it_file, str(world))
    pools = store.read_manifest(world)["pools"]
    for entity in sorted(tracer.cluster_of):
        for row in tracer.similar(entity):
            for pool in pools.values():
                span = next((v for v in pool if contains_span(row["response"], v)), None)
                if span:
                    doc = {"entity": entity, "question": f"what is the country of {entity} ?", "pool": pool}
                    return {"doc": doc, "borrowed_cases_tuned": {"span": span}}
    raise AssertionError("the tiny world has no traceable value")


def test_causal_command_checks_a_recipe_and_refuses_what_it_cannot_use(tiny_zoo, tiny_world, tmp_path, capsys):
    from itbench import cli

    zoo = tiny_zoo["dir"]
    results = tmp_path / "results"
    out = tmp_path / "long.json"
    base = ["causal", "--zoo", str(zoo), "--world", str(tiny_world), "--results", str(results)]
    # a recipe the zoo does not have: named, with the zoo's recipes listed
    assert cli.main([*base, "no-such-recipe", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no-such-recipe" in err and "lora-short-4x" in err
    # the recipe's borrowed samples are missing: say which command writes them
    assert cli.main([*base, "lora-short-4x", "--out", str(out)]) == 2
    assert "itbench compare --checkpoints lora-short-4x" in capsys.readouterr().err
    (results / "lora-short-4x").mkdir(parents=True)
    (results / "lora-short-4x" / causal.SAMPLES).write_text(json.dumps(_borrowed_case(zoo, tiny_world)) + "\n")
    # an existing file that is not a causal check is kept
    out.write_text('{"mine": 1}')
    assert cli.main([*base, "lora-short-4x", "--out", str(out)]) == 2
    assert "not an `itbench causal` file" in capsys.readouterr().err and out.read_text() == '{"mine": 1}'
    out.unlink()
    assert cli.main([*base, "lora-short-4x", "--out", str(out), "--max-cases", "1"]) == 0
    printed = capsys.readouterr().out
    data = json.loads(out.read_text())
    [checked] = data["checkpoints"]
    assert checked["checkpoint"] == "lora-short-4x" and len(checked["cases"]) == 1
    case = checked["cases"][0]
    assert case["removed"] >= 1 and {"traced_answer", "control_answer"} <= case.keys()
    [row] = [line for line in printed.splitlines() if line.startswith("| lora-short-4x |")]
    assert row.split(" | ")[1:4] == ["lora", "1", "1"]  # method, seeds, cases
    # the same file again: the retraining is reused, the file unchanged
    before = out.read_bytes()
    assert cli.main([*base, "lora-short-4x", "--out", str(out), "--max-cases", "1"]) == 0
    assert out.read_bytes() == before and "causal borrowing:" not in capsys.readouterr().out


def test_committed_long_style_check_is_what_its_files_say():
    """leaderboard/causal/: each file's summary is its cases' summary, and its README's tables are
    the command's own table of each file (generated, never edited by hand)."""
    from pathlib import Path

    from itbench.causal_cli import summary_table

    folder = Path(__file__).resolve().parent.parent / "leaderboard" / "causal"
    readme = (folder / "README.md").read_text(encoding="utf-8")
    files = sorted(folder.glob("*.json"))
    assert len(files) >= 2
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        summary = causal.summarize(data["checkpoints"])
        assert data["summary"] == summary
        assert f"`{path.name}`" in readme and summary_table(summary) in readme
        for checked in data["checkpoints"]:
            assert len(checked["cases"]) <= data["max_cases"]
            for case in checked["cases"]:
                assert case["traced_gone"] == (case["traced_answer"] != case["span"])
                assert case["control_gone"] == (case["control_answer"] != case["span"])
