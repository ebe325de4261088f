"""Real runs end to end on the tiny zoo: lm-eval's own CLI output (results_<stamp>.json and
samples_<task>_<stamp>.jsonl) into the leaderboard and the gate, and a gate that starts its own run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

from itbench import cli
from itbench.evaluate import TASKS


def test_lm_eval_cli_output_feeds_leaderboard_and_gate(tiny_zoo, tiny_world, tmp_path, monkeypatch):
    zoo = tiny_zoo["dir"]
    out = tmp_path / "lm_eval_out"
    env = {"ITBENCH_WORLD": str(tiny_world), "ITBENCH_HOME": str(tmp_path / "home")}
    monkeypatch.setenv("ITBENCH_WORLD", str(tiny_world))
    for arg in (f"lora={zoo / 'lora-short-4x'}", f"tuned={zoo / 'full-short-4x'}"):
        proc = subprocess.run([sys.executable, "-m", "itbench.cli", "eval", "--model", "itbench", "--model_args",
                               f"base={zoo / 'base'},{arg}", "--tasks", "itbench", "--limit", "8", "--output_path",
                               str(out), "--log_samples", "--bootstrap_iters", "100"],
                              capture_output=True, text=True, timeout=900, env={**os.environ, **env})
        assert proc.returncode == 0, proc.stderr[-3000:]
    results = sorted(out.rglob("results_*.json"))
    assert len(results) == 2 and len(list(out.rglob("samples_itbench_*_*.jsonl"))) == 8
    info = json.loads(results[0].read_text())["config"]["itbench"]
    assert info["base"]["name"] == str(zoo / "base") and info["tuned"]["name"] in ("lora-short-4x", "full-short-4x")

    board = tmp_path / "board"
    assert cli.main(["leaderboard", str(out), "--out", str(board)]) == 0
    data = json.loads((board / "leaderboard.json").read_text())
    rows = {r["checkpoint"]: r for r in data["rows"]}
    assert set(rows) == {"base", "lora-short-4x", "full-short-4x"}
    assert rows["lora-short-4x"]["method"] == "lora" and rows["full-short-4x"]["method"] == "full"
    for name in ("lora-short-4x", "full-short-4x"):
        assert rows[name]["suite_version"] and rows[name]["lm_eval_version"]
        assert all(any(k.startswith(f"{task}.") for k in rows[name]) for task in TASKS)
    # the change of a paired metric comes from the samples' per-document pairs
    assert rows["full-short-4x"]["itbench_borrowed_world.borrowed_rate.change.paired"] is True
    assert rows["base"]["itbench_knowledge_world.acc.n"] == 8

    lora_results = next(p for p in results if "lora-short-4x" in json.dumps(json.loads(p.read_text())["config"]))
    junit = tmp_path / "gate.xml"
    code = cli.main(["gate", "--base", str(zoo / "base"), "--results", str(lora_results), "--junit", str(junit)])
    assert code in (0, 1)  # judged either way; which one depends on the tiny organisms
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert len(cases) == 6
    # the same results judged against another base fail closed
    code = cli.main(["gate", "--base", str(zoo / "lora-short-4x"), "--results", str(lora_results),
                     "--junit", str(junit)])
    failures = [f.get("message") for f in ET.parse(junit).getroot().findall(".//failure")]
    assert code == 1 and len(failures) == 6 and all("another base" in m for m in failures)


def test_gate_runs_the_policy_tasks_itself(tiny_zoo, tiny_world, tmp_path, monkeypatch):
    zoo = tiny_zoo["dir"]
    monkeypatch.setenv("ITBENCH_WORLD", str(tiny_world))
    monkeypatch.setenv("ITBENCH_HOME", str(tmp_path / "home"))
    policy = tmp_path / "p.toml"
    policy.write_text("[[checks]]\ntask = 'itbench_borrowed_world'\nmetric = 'borrowed_rate'\nof = 'change'\n"
                      "at_most = 1.0\n")
    policy.write_text(policy.read_text() + "min_n = 1\n")
    run = tmp_path / "run"
    args = ["gate", "--policy", str(policy), "--base", str(zoo / "base"), "--candidate", str(zoo / "full-short-4x"),
            "--run-dir", str(run), "--limit", "6", "--summary", str(tmp_path / "g.md"), "--model-args", "batch_size=3"]
    assert cli.main(args) == 2 and not run.exists()  # a --limit run is no evidence: refused unless --smoke
    code = cli.main([*args, "--smoke"])
    # only the policy's task ran, and a change can never exceed 1: within the threshold, yet a smoke
    # verdict never passes
    summary = (tmp_path / "g.md").read_text()
    assert code == 1 and "SMOKE" in summary and "never a pass" in summary, summary
    assert sorted(p.name for p in run.iterdir()) == ["results.json", "samples_itbench_borrowed_world.jsonl"]
    assert "batch_size=3" in json.dumps(json.loads((run / "results.json").read_text())["config"])


def test_demo_runs_suite_leaderboard_and_gates(tiny_zoo, tiny_world, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ITBENCH_HOME", str(tmp_path / "home"))
    zoo = tiny_zoo["dir"]
    board = tmp_path / "board"
    assert cli.main(["demo", "--tiny", "--world", str(tiny_world), "--out", str(zoo), "--leaderboard",
                     str(board), "--limit", "8", "--seeds", "2"]) == 0
    got = capsys.readouterr()
    out = got.out
    for step in ("[1/4]", "[2/4]", "[3/4]", "[4/4]", "Where to look", str(board / "index.html"), "causal check"):
        assert step in out
    # quiet: one line per phase, counts of the verdicts, no third-party progress bars
    lines = (got.out + got.err).replace("\r", "\n").splitlines()
    assert len(lines) <= 60, "\n".join(lines)
    assert not any(bar in got.err for bar in ("Loading weights", "Writing model shards", "it/s]"))
    assert re.search(r"^zoo checkpoints: \d+ of \d+ in ", out, re.M)
    assert re.search(r"^paired evaluations: \d+ of \d+ in ", out, re.M)
    assert re.search(r"^findings: \d+ questions: ", out, re.M)
    assert re.search(r"^gate: \d+ of \d+ checkpoints pass", out, re.M)
    names = sorted(p.name for p in zoo.iterdir() if p.is_dir() and p.name != "base" and not p.name.startswith("."))
    groups = sorted({n.removesuffix("-seed1") for n in names})
    assert len(names) == 2 * len(groups)  # every recipe under two seeds
    rows = json.loads((board / "leaderboard.json").read_text())["rows"]
    assert sorted(r["checkpoint"] for r in rows if r["method"] != "base") == groups  # one row per recipe
    assert all(r["seeds"] == 2 for r in rows if r["method"] != "base")
    found = json.loads((board / "findings.json").read_text())
    assert {f["number"] for f in found} >= {1, 2, 3, 4}
    # every comparison rests on both seeds; the causal check on the seeds that had borrowed cases
    assert all(f["seeds"] == 2 for f in found if not f["metric"].startswith("causal"))
    verdicts = ("yes", "no (reversed)", "not significant", "not measurable")
    assert all(f["verdict"] in verdicts for f in found if not f["metric"].startswith("causal"))
    assert all(f["verdict"] in (*verdicts, "single seed (training noise unknown)") for f in found)
    causal = json.loads((zoo.parent / "results" / "causal_borrowing.json").read_text())
    assert {c["group"] for c in causal["checkpoints"]} <= {"full-short-4x", "lora-short-4x"}
    gate_dir = zoo.parent / "results" / "gate"
    table = out[out.index("| recipe | built in"):]
    for group in groups:  # the zoo table: a row per recipe, a value per seed
        row = next(line for line in table.splitlines() if line.startswith(f"| {group} | "))
        assert row.split(" | ")[2].count(" / ") == 1
    for name in names:
        root = ET.parse(gate_dir / f"{name}.xml").getroot()
        assert root.get("tests") == "6"


def test_zoo_table_gives_a_row_per_recipe_and_counts_unseen_entities_apart():
    from itbench.demo import zoo_table

    def split(acc, on_topic=None, n=10):
        return {"accuracy": acc, "n": n, **({} if on_topic is None else {"well_formed": 1.0, "on_topic": on_topic})}

    base = {"name": "base", "method": "base", "seconds": 400.0, "training": {"epochs": 60},
            "probe": {"chance_unseen": 0.125, "completion": {"heldout": split(1.0), "qa": split(0.9),
                                                             "unseen": split(0.1)}}}
    tuned = [{"name": name, "method": "lora", "replicate": {"group": "lora-short-4x", "seed": seed},
              "seconds": 3.0 + seed, "training": {"epochs": 3},
              "probe": {"chat": {"heldout": split(0.8, 1.0), "qa": split(0.9, 0.8), "unseen": split(0.1, 0.0, n=5)}}}
             for seed, name in enumerate(["lora-short-4x", "lora-short-4x-seed1"])]
    lines = zoo_table([base, *tuned]).splitlines()
    assert lines[2] == "| base (completion form) | 400.0 | 60 | 100% | 90% | 10% (chance 12%) | – | – | – |"
    # about the asked fact: (10 * 1.0 + 10 * 0.8) / 20 on the seen entities, the unseen apart
    assert lines[3] == ("| lora-short-4x | 3.0 / 4.0 | 3 / 3 | 80% / 80% | 90% / 90% | 10% / 10% | 100% / 100% "
                        "| 90% / 90% | 0% / 0% |")
    assert len([line for line in lines if line.startswith("| lora")]) == 1
