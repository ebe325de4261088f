"""Screening a base over a whole question pool (itbench.screen): which questions it knows, the
selection the knowledge tasks then ask, the cache, and the refusals of a screen of another pool."""

from __future__ import annotations

import json
import re

import pytest

from itbench import screen
from itbench.errors import ItbenchError
from itbench.models.paired import PairedLM, parse_payload


class QuizBackend:
    """Answers "Q: question N" with ANSWERS[N]; records (which, number of prompts)."""

    answers: dict[int, str] = {}
    calls: list = []

    def __init__(self, pair, **kw):
        self.pair = pair

    def generate(self, which, prompts, max_tokens, stop=None):
        QuizBackend.calls.append((which, len(prompts)))
        out = []
        for p in prompts:
            n = int(re.findall(r"question (\d+)", p)[-1])
            out.append(self.pair.tok(" " + QuizBackend.answers[n], add_special_tokens=False)["input_ids"])
        return out

    def first_token_logprobs(self, which, prompt):
        return [-0.1, -2.0] if which == "tuned" else [-0.5, -1.0]


@pytest.fixture
def quiz(tiny_zoo, tmp_path, monkeypatch):
    """A 10-question PopQA-shaped pool whose even questions the (stub) base answers right."""
    from itbench.models import backends, checkpoint

    tok = checkpoint.load_tokenizer(tiny_zoo["dir"] / "base")
    words = [w for w in tok.get_vocab() if w.isalpha() and len(w) > 2][:20]
    rows, answers = [], {}
    for i in range(10):
        gold = words[i]
        answers[i] = gold if i % 2 == 0 else words[10 + i]
        rows.append({"id": i, "question": f"question {i}", "golden_answers": [gold],
                     "metadata": {"subj": "s", "prop": "p", "obj": gold, "s_pop": 10 * i}})
    pool = tmp_path / "popqa.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("ITBENCH_POPQA", str(pool))
    monkeypatch.setenv("ITBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(backends.BACKENDS, "quiz", f"{__name__}:QuizBackend")
    monkeypatch.setattr(QuizBackend, "answers", answers)
    monkeypatch.setattr(QuizBackend, "calls", [])
    return {"base": str(tiny_zoo["dir"] / "base"), "lora": str(tiny_zoo["dir"] / "lora-short-4x"), "pool": pool,
            "cache": str(tmp_path / "reference")}


def test_select_takes_every_known_question_and_a_spread_sample():
    right = [i % 4 == 0 for i in range(20)]  # 5 known
    assert screen.select(right, 10, 0) == [0, 4, 8, 12, 16]
    assert screen.select(right, 2, 0) == [0, 8]  # spread over the known ones
    assert screen.select(right, 10, 4) == [0, 4, 5, 8, 10, 12, 15, 16]


def test_a_screen_finds_what_the_base_knows_and_the_task_asks_exactly_that(quiz, tmp_path):
    from itbench.tasks.knowledge.utils import load_popqa

    args = {"backend": "quiz", "batch_size": 4, "reference_cache": quiz["cache"]}
    out = tmp_path / "screen.json"
    record = screen.build(quiz["base"], out, n_known=3, n_sample=2, tasks=("itbench_knowledge_popqa",),
                          log=lambda *_: None, **args)
    entry = record["tasks"]["itbench_knowledge_popqa"]
    assert entry["known"] == 5 and entry["size"] == 10
    assert entry["indices"] == [0, 2, 5, 6]  # known 0, 2, 6 (3 spread over the 5) and the sample 0, 5
    assert QuizBackend.calls == [("base", 10)]
    docs = load_popqa(screen=str(out))["test"]
    assert [d["question"] for d in docs] == ["question 0", "question 2", "question 5", "question 6"]
    # cached by base, settings and pool: a second screen generates nothing
    screen.build(quiz["base"], out, n_known=3, n_sample=2, tasks=("itbench_knowledge_popqa",),
                 log=lambda *_: None, **args)
    assert QuizBackend.calls == [("base", 10)]
    # a paired run with the same settings reads the screened base answers from the reference cache
    lm = PairedLM(base=quiz["base"], lora=quiz["lora"], **args)

    until = ["\n\n", "<|end|>", "\nQ:", "Q:"]  # the knowledge tasks' stop list, as the screen asked

    class Req:
        def __init__(self, doc):
            self.doc, self.args = doc, (doc["question"], {"until": until, "max_gen_toks": 48})

    out_docs = lm.generate_until([Req(d) for d in docs])
    assert [c for c in QuizBackend.calls if c[0] == "base"] == [("base", 10)]
    assert parse_payload(out_docs[0])["base"] == QuizBackend.answers[0]


def test_a_screen_of_another_pool_or_a_damaged_one_is_refused(quiz, tmp_path):
    from itbench.tasks.knowledge.utils import load_popqa

    out = tmp_path / "screen.json"
    screen.build(quiz["base"], out, n_known=3, n_sample=2, tasks=("itbench_knowledge_popqa",), log=lambda *_: None,
                 backend="quiz", batch_size=4, reference_cache=quiz["cache"])
    rows = quiz["pool"].read_text().splitlines()
    quiz["pool"].write_text("\n".join(rows[1:]) + "\n")  # another pool: a question less
    with pytest.raises(ItbenchError, match="another itbench_knowledge_popqa pool"):
        load_popqa(screen=str(out))
    quiz["pool"].write_text("\n".join(rows) + "\n")
    record = json.loads(out.read_text())
    record["tasks"]["itbench_knowledge_popqa"]["indices"] = [0, 99]
    out.write_text(json.dumps(record))
    with pytest.raises(ItbenchError, match="positions in its pool of 10"):
        load_popqa(screen=str(out))
    out.write_text("{not json")
    with pytest.raises(ItbenchError, match="no selection for itbench_knowledge_popqa"):
        load_popqa(screen=str(out))
    with pytest.raises(ItbenchError, match="n_known must be at least 1"):
        screen.build(quiz["base"], out, n_known=0, n_sample=2)


def test_batch_size_auto_and_its_refusals(quiz):
    lm = PairedLM(base=quiz["base"], lora=quiz["lora"], backend="quiz", batch_size="auto",
                  reference_cache="none")
    assert lm.batch_size == 64 and lm.get_model_info()["itbench"]["batch_size"] == 64
    assert lm._reference_key(max_tokens=4)["batch_size"] == 64  # base answers depend on it in bfloat16
    with pytest.raises(ItbenchError, match="batch_size must be a whole number"):
        PairedLM(base=quiz["base"], lora=quiz["lora"], backend="quiz", batch_size="many", reference_cache="none")


def test_itbench_eval_batches_the_paired_model_unless_told_otherwise(monkeypatch):
    """lm-eval's --batch_size defaults to 1: at Gemma's 262k vocabulary that reads the LM head once
    per generated token. `itbench eval --model itbench` passes auto (64) unless a size is given."""
    import sys

    import lm_eval.__main__

    from itbench import cli

    seen = []
    monkeypatch.setattr(lm_eval.__main__, "cli_evaluate", lambda: seen.append(list(sys.argv)))
    cli.main(["eval", "--model", "itbench", "--model_args", "base=B,lora=L", "--tasks", "t"])
    cli.main(["eval", "--model", "itbench", "--batch_size", "8", "--tasks", "t"])
    cli.main(["eval", "--model=hf", "--tasks", "t"])
    assert seen[0][-2:] == ["--batch_size", "auto"]
    assert seen[1].count("--batch_size") == 1 and "8" in seen[1]
    assert "--batch_size" not in seen[2]  # another model keeps lm-eval's own default


def test_rescore_recomputes_every_metric_from_the_logged_answers(tmp_path, capsys):
    """After a fix to a metric, a run's results are recomputed from its samples (documents and both
    answers) with no model: wrong values are replaced, the other files of the folder are kept."""
    from itbench import cli
    from itbench.models.payload import make_payload
    from itbench.tasks.knowledge.utils import doc
    from tests.fake_results import write_run

    KP = "itbench_knowledge_popqa"
    docs = [doc("Who wrote Hamlet?", ["Shakespeare"], "popqa", popularity=50),
            doc("What is the capital of France?", ["Paris"], "popqa", popularity=5000)]
    answers = [make_payload(tuned="William Shakespeare wrote it in 1603 in London.", base="Shakespeare",
                            tuned_kept="Shakespeare", base_kept="Shakespeare"),
               make_payload(tuned="Lyon", base="Paris", tuned_kept="Paris", base_kept="Paris")]
    rows = [{"doc": d, "filtered_resps": [a], "retention": 0.0, "unsupported_tuned": 99.0}
            for d, a in zip(docs, answers, strict=True)]
    folder = write_run(tmp_path / "run", metrics={KP: {"retention": (0.0, 0.0), "unsupported_tuned": (99.0, 0.0)}},
                       samples={KP: rows}).parent
    (folder / "lm_eval.log").write_text("kept")
    assert cli.main(["rescore", str(folder)]) == 0
    res = json.loads((folder / "results.json").read_text())["results"][KP]
    assert res["retention,none"] == 0.5 and res["kept_retention,none"] == 1.0  # Hamlet kept in chat, Paris lost
    assert res["unsupported_tuned,none"] == 1.5  # 1603 and London, then Lyon: (2 + 1) / 2
    assert (folder / "lm_eval.log").read_text() == "kept"
    assert "rescored itbench_knowledge_popqa (2 documents)" in capsys.readouterr().out
    assert cli.main(["rescore", str(tmp_path / "nothing")]) == 2
