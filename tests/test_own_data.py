"""A user's own data through itbench eval with only YAML added: the knowledge README's worked example
run as it stands (a QA set with its own field names as a retention task), and the borrowed-token and
pattern-copy templates on the same QA set and an IT set with its own field names."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from itbench import paths

README = Path(__file__).resolve().parents[1] / "itbench" / "tasks" / "knowledge" / "README.md"


def _write_data(folder: Path, world: Path) -> None:
    """A QA set from the world's held-out probes, and an IT set, both with field names of their own."""
    probes = [json.loads(x) for x in (world / "probes.jsonl").read_text().splitlines()]
    held = [p for p in probes if p["split"] == "heldout"][:6]
    (folder / "my_qa.jsonl").write_text("".join(json.dumps({"q": p["question"], "golds": [p["answer"]]}) + "\n"
                                                for p in held))
    it = [json.loads(x) for x in (world / "it" / "short_1x.jsonl").read_text().splitlines()]
    (folder / "my_it.jsonl").write_text("".join(json.dumps({"prompt": r["instruction"], "completion": r["response"]})
                                                + "\n" for r in it))


def _env(zoo: Path) -> dict:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "BASE": str(zoo / "base"), "ADAPTER": str(zoo / "lora-short-4x")}


def _results(folder: Path) -> dict:
    files = list(folder.rglob("results_*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())["results"]


@pytest.mark.slow
def test_readme_example_runs_a_qa_set_as_a_retention_task(tiny_zoo, tiny_world, tmp_path, monkeypatch):
    block = re.search(r"<!-- example: own-qa -->\n```bash\n(.*?)```", README.read_text(), re.S)
    assert block, "the knowledge README lost its worked example"
    _write_data(tmp_path, tiny_world)
    env = {**_env(tiny_zoo["dir"]), "ITBENCH_HOME": str(tmp_path / "home")}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block.group(1)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "my_tasks").iterdir()) == ["my_qa.yaml"]  # only a YAML was added
    r = _results(tmp_path / "my_results")["itbench_knowledge_myqa"]
    assert r["n_base_right,none"] + r["n_base_wrong,none"] == 6
    assert 0 <= r["acc_base,none"] <= 1 and "retention,none" in r and "forgetting,none" in r
    samples = [json.loads(x) for f in (tmp_path / "my_results").rglob("samples_itbench_knowledge_myqa_*.jsonl")
               for x in f.read_text().splitlines()]
    assert len(samples) == 6 and all(s["doc"]["answers"] for s in samples)


@pytest.mark.slow
def test_borrowed_and_pattern_copy_templates_take_a_qa_set_and_an_it_set(tiny_zoo, tiny_world, tmp_path):
    _write_data(tmp_path, tiny_world)
    tasks = tmp_path / "my_tasks"
    tasks.mkdir()
    it = f"it_set: {tmp_path / 'my_it.jsonl'}\n  instruction_field: prompt\n  response_field: completion\n"
    (tasks / "b.yaml").write_text(
        f"include: {paths.tasks()}/borrowed/_qa_template\ntask: itbench_borrowed_myqa\ndataset_kwargs:\n"
        f"  data_file: {tmp_path / 'my_qa.jsonl'}\n  question_field: q\n  answers_field: golds\n  {it}")
    (tmp_path / "prompts.csv").write_text("instruction,other\ntell me about zorb,x\ndescribe the river,y\n")
    (tasks / "p.yaml").write_text(
        f"include: {paths.tasks()}/pattern_copy/_instructions_template\ntask: itbench_pattern_copy_mine\n"
        f"dataset_kwargs:\n  data_file: {tmp_path / 'prompts.csv'}\n  {it}")
    env = {**_env(tiny_zoo["dir"]), "ITBENCH_HOME": str(tmp_path / "home")}
    proc = subprocess.run(["itbench", "eval", "--model", "itbench", "--model_args",
                           f"base={env['BASE']},lora={env['ADAPTER']}", "--tasks",
                           "itbench_borrowed_myqa,itbench_pattern_copy_mine", "--include_path", str(tasks),
                           "--output_path", str(tmp_path / "out")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = _results(tmp_path / "out")
    b, p = r["itbench_borrowed_myqa"], r["itbench_pattern_copy_mine"]
    assert 0 <= b["hallucination_rate_tuned,none"] <= 1 and 0 <= b["borrowed_rate_tuned,none"] <= 1
    assert p["length_tuned,none"] >= 0 and 0 <= p["template_similarity,none"] <= 1
