"""Seed replicates: intervals over training seeds and items (itbench.stats.seed_interval), the
leaderboard's seed-mean rows, and the findings' verdicts built on them."""

from __future__ import annotations

import json
import math

import pytest

from itbench import findings, findings_sets, leaderboard, stats
from itbench.results import read_run
from tests.fake_results import B, K, T, good_metrics, write_run


def test_item_intervals_exclude_zero_but_the_seed_interval_does_not():
    estimates, ses = [0.30, 0.02, 0.16], [0.005] * 3
    for e, se in zip(estimates, ses, strict=True):  # every seed alone: a clear "yes"
        assert stats.verdict(*stats.normal_interval(e, se)) == "yes"
    pooled = stats.normal_interval(sum(estimates) / 3, 0.005)  # items only, as if seeds did not vary
    assert stats.verdict(*pooled) == "yes"
    est = stats.seed_interval(estimates, ses)
    assert est.estimate == pytest.approx(0.16) and est.seeds == 3
    assert est.low < 0 < est.high and stats.verdict(est.low, est.high) == "not significant"
    assert est.df < 3  # the seed term dominates: a t quantile with about two degrees of freedom


def test_agreeing_seeds_keep_a_narrow_interval_and_the_verdict():
    est = stats.seed_interval([0.30, 0.31, 0.29], [0.01] * 3)
    assert est.low > 0.25 and est.high < 0.35 and stats.verdict(est.low, est.high) == "yes"
    # item noise is shared by the seeds (same items): never divided by the seed count
    assert est.se >= 0.01


def test_seed_interval_matches_the_formula_and_stays_in_range():
    est = stats.seed_interval([0.5, 0.7, 0.9], [0.02, 0.03, 0.04], low=0.0, high=0.8)
    item_var = (0.02 ** 2 + 0.03 ** 2 + 0.04 ** 2) / 3
    seed_var = 0.04 / 3  # sample variance of (0.5, 0.7, 0.9) is 0.04
    assert est.se == pytest.approx(math.sqrt(item_var + seed_var))
    df = (item_var + seed_var) ** 2 / (seed_var ** 2 / 2)
    assert est.df == pytest.approx(df)
    from scipy.stats import t

    assert est.low == pytest.approx(0.7 - t.ppf(0.975, df) * est.se) or est.low == 0.0
    assert est.high == 0.8  # clipped to the metric's range


def test_difference_of_two_recipes_adds_both_seed_variances():
    a = stats.seed_interval([1.0, 1.2, 1.1], [0.1] * 3, minus=[0.5, 0.6, 0.4], minus_ses=[0.1] * 3)
    assert a.estimate == pytest.approx(0.6)
    assert a.se == pytest.approx(math.sqrt(0.01 + 0.01 + 0.01 / 3 + 0.01 / 3))


def test_one_seed_has_no_seed_interval():
    est = stats.seed_interval([0.3], [0.01])
    assert est.seeds == 1 and math.isnan(est.low) and math.isnan(est.high)
    with pytest.raises(ValueError):
        stats.seed_interval([0.1, 0.2], [0.01])


def _metrics(retention: float, kl: float) -> dict:
    m = good_metrics()
    m[K]["retention"] = (retention, 0.01)
    m[T]["mean_kl"] = (kl, 0.02)
    return m


def _zoo(tmp_path, lora_ret, full_ret, lora_kl=0.4, full_kl=0.9):
    """Three seeds each of LoRA and full at one size, with the given per-seed retentions."""
    paths = []
    for method, rets, kl in (("lora", lora_ret, lora_kl), ("full", full_ret, full_kl)):
        for k, ret in enumerate(rets):
            name = f"{method}-short-4x" + (f"-seed{k}" if k else "")
            paths.append(write_run(tmp_path / name, tuned=name, tuned_id=f"{method}{k}".ljust(16, "0"),
                                   method=method, metrics=_metrics(ret, kl),
                                   replicate={"group": f"{method}-short-4x", "seed": k}))
    return [read_run(p) for p in paths]


def test_leaderboard_shows_one_row_per_recipe_with_its_seed_mean(tmp_path):
    runs = _zoo(tmp_path, [0.95, 0.97, 0.96], [0.7, 0.72, 0.74])
    board = leaderboard.build(runs)
    rows = {r.checkpoint: r for r in board.rows}
    assert set(rows) == {"base", "lora-short-4x", "full-short-4x"}
    lora = rows["lora-short-4x"]
    assert lora.seeds == 3 and len(lora.members) == 3
    s = lora.metrics[K]["retention"]
    assert s.value == pytest.approx(0.96) and s.seeds == 3
    est = stats.seed_interval([0.95, 0.97, 0.96], [0.01] * 3, low=0, high=1)
    assert s.ci() == pytest.approx((est.low, est.high))
    per_seed = leaderboard.build(runs, seed_means=False)
    assert sum(r.method == "lora" for r in per_seed.rows) == 3
    records = leaderboard.to_records(board)
    assert next(r for r in records if r["checkpoint"] == "lora-short-4x")["seeds"] == 3


def test_findings_verdicts_need_the_seeds_to_agree(tmp_path):
    agree = findings.compute(_zoo(tmp_path / "a", [0.95, 0.97, 0.96], [0.70, 0.72, 0.74]))
    f = next(x for x in agree if x["metric"] == f"{K}.retention" and x["number"] == 1)
    assert f["checkpoints"] == ["lora-short-4x", "full-short-4x"] and f["seeds"] == 3
    assert f["estimate"] == pytest.approx(0.24) and f["verdict"] == "yes" and 0 < f["low"] < 0.24 < f["high"]
    # the same mean gap, but seeds that disagree: every seed pair alone says "yes", the pool does not
    spread = findings.compute(_zoo(tmp_path / "b", [0.99, 0.75, 0.99], [0.40, 0.74, 0.91]))
    g = next(x for x in spread if x["metric"] == f"{K}.retention" and x["number"] == 1)
    assert g["verdict"] == "not significant" and g["low"] < 0 < g["high"]
    kl = next(x for x in agree if x["metric"] == f"{T}.mean_kl")
    assert kl["estimate"] == pytest.approx(0.5) and kl["verdict"] == "yes"


def test_findings_intervals_stay_inside_the_range_of_what_they_estimate(tmp_path):
    """A difference of two retentions lies in [-1, 1]: seeds that disagree widely give an interval
    that reaches the bound, never past it."""
    out = findings.compute(_zoo(tmp_path, [1.0, 0.05, 1.0], [0.0, 0.95, 0.0]))
    f = next(x for x in out if x["metric"] == f"{K}.retention" and x["number"] == 1)
    assert f["estimate"] == pytest.approx((2.05 - 0.95) / 3, abs=1e-3)
    unclipped = stats.seed_interval([1.0, 0.05, 1.0], [0.01] * 3, minus=[0.0, 0.95, 0.0], minus_ses=[0.01] * 3)
    assert unclipped.high > 1.0  # what the seeds' spread alone gives
    assert -1.0 <= f["low"] < 0 and f["high"] == 1.0 and f["verdict"] == "not significant"
    for x in out:  # unbounded metrics (KL) stay unclipped; every bounded one inside its range
        if x["metric"].endswith(("retention", "style_share - 0.5")) and x["low"] is not None:
            assert -1.0 <= x["low"] <= x["high"] <= 1.0


def test_a_single_seed_never_says_yes(tmp_path):
    runs = [read_run(write_run(tmp_path / m, tuned=f"{m}-short-4x", tuned_id=m.ljust(16, "0"), method=m,
                               metrics=_metrics(r, 0.5))) for m, r in (("lora", 0.97), ("full", 0.5))]
    f = next(x for x in findings.compute(runs) if x["metric"] == f"{K}.retention")
    assert f["seeds"] == 1 and f["verdict"] == findings.SINGLE and f["low"] > 0  # items alone would say yes


def test_borrowing_finding_is_paired_per_seed(tmp_path):
    paths = []
    for k, (t, b) in enumerate(((0.05, 0.01), (0.06, 0.01), (0.04, 0.01))):
        m = good_metrics()
        m[B]["borrowed_rate_tuned"], m[B]["borrowed_rate_base"] = (t, 0.005), (b, 0.003)
        paths.append(write_run(tmp_path / f"f{k}", tuned=f"full-short-4x-seed{k}", tuned_id=f"f{k}".ljust(16, "0"),
                               method="full", metrics=m, replicate={"group": "full-short-4x", "seed": k}))
    out = findings.compute([read_run(p) for p in paths])
    f = next(x for x in out if x["number"] == 3)
    assert f["estimate"] == pytest.approx(0.04) and f["seeds"] == 3 and f["verdict"] == "yes"


def test_findings_render_and_sync_into_a_readme():
    fs = [{"number": 2, "finding": "a | b", "checkpoints": ["x", "y"], "metric": "m", "estimate": 0.1,
           "low": 0.05, "high": 0.15, "verdict": "yes", "seeds": 3}]
    md = findings.render_markdown(fs)
    assert "Finding 2" in md and "a \\| b" in md and "+0.100 [+0.050, +0.150]" in md
    readme = f"intro\n{findings.BEGIN}\nold\n{findings.END}\nrest\n"
    synced = findings.sync_readme(readme, fs)
    assert "old" not in synced and md in synced and synced.endswith(f"{findings.END}\nrest\n")
    with pytest.raises(ValueError):
        findings.sync_readme("no markers", fs)
    two = f"{findings.BEGIN}\nold1\n{findings.END}\nmid\n{findings.begin_marker('b/f.json')}\nold2\n{findings.END}\n"
    first = findings.sync_readme(two, fs)
    assert "old1" not in first and "old2" in first  # each section is its own file's
    both = findings.sync_readme(first, fs, source="b/f.json")
    assert "old2" not in both and both.count(md) == 2 and "\nmid\n" in both


def test_docs_findings_are_the_committed_findings_json():
    """The docs' findings tables are generated from the committed findings files (`itbench findings
    leaderboard/findings.json --readme docs/world-findings.md`, and the Gemma board's into
    docs/study.md, beside the world's into README.md), never edited by hand."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for doc, source in (("docs/world-findings.md", "leaderboard/findings.json"),
                        ("docs/world-findings.md", "leaderboard/agreement/findings.json"),  # the runs agreed
                        ("docs/study.md", "leaderboard/gemma-3-270m/findings.json")):  # real LM
        text = (root / doc).read_text(encoding="utf-8")
        found = findings.read(root / source)
        assert found and findings.sync_readme(text, found, source=source) == text, (doc, source)
    real, world = "leaderboard/gemma-3-270m/findings.json", "leaderboard/findings.json"
    readme = (root / "README.md").read_text(encoding="utf-8")
    table = findings_sets.side_by_side(findings.read(root / world), findings.read(root / real), "Gemma 3 270M")
    assert findings_sets.sync_beside(readme, table, real, world) == readme


def test_two_findings_files_compare_by_verdict(tmp_path, capsys):
    from itbench import cli

    def f(verdict, est, name="q"):
        return {"number": 1, "finding": name, "checkpoints": ["a", "b"], "metric": "m", "estimate": est,
                "low": None, "high": None, "verdict": verdict, "seeds": 3}

    a = [f("yes", 0.3), f("not significant", 0.1, "r"), f("yes", 0.2, "s"), f("yes", 0.1, "t")]
    b = [f("yes", 0.25), f("yes", 0.2, "r"), f("no (reversed)", -0.2, "s")]
    c = findings_sets.compare(a, b)
    assert len(c["same"]) == 1 and len(c["differ"]) == 2 and len(c["reversed"]) == 1 and len(c["missing"]) == 1
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    assert cli.main(["findings", str(tmp_path / "a.json"), "--compare", str(tmp_path / "b.json")]) == 0
    assert "1 verdicts the same, 2 differ (1 reversed), 1 missing" in capsys.readouterr().out


def test_real_data_finding_2_is_knowledge_said_where_open_answers_have_no_truth(tmp_path):
    """On real data (no factual precision of open answers), finding 2 compares the styles'
    expressed retention on the QA tasks; on the world it stays factual precision."""
    KP = "itbench_knowledge_popqa"
    paths = [write_run(tmp_path / f"{style}-{s}", tuned=f"lora-{style}-{s}", tuned_id=f"{style[0]}{s}" * 8,
                       style=style, scale=64, replicate={"group": f"lora-{style}", "seed": s},
                       metrics={KP: {"retention": (ret, 0.02)}})
             for style, rets in (("short", [0.8, 0.82, 0.81]), ("long", [0.5, 0.52, 0.49]))
             for s, ret in enumerate(rets)]
    got = [f for f in findings.compute([read_run(p) for p in paths]) if f["number"] == 2]
    assert [f["metric"] for f in got] == [f"{KP}.retention"]
    assert got[0]["verdict"] == "yes" and got[0]["estimate"] > 0.25


def test_real_knowledge_findings_pool_the_qa_sets_by_the_documents_each_metric_is_defined_on(tmp_path):
    """PopQA and TriviaQA are one estimate per seed: their retentions weighted by the base-known
    documents each rests on (retention is NaN where the base did not know), with the standard
    error of that weighted mean; the long style's unsupported specifics come out as finding 2."""
    KP, KT, PJ = "itbench_knowledge_popqa", "itbench_knowledge_triviaqa", "itbench_pattern_copy_just_eval"
    nan = float("nan")

    def docs(known: int, unknown: int, right: float) -> list[dict]:
        return [{"retention": right, "unsupported_tuned": 1.0} for _ in range(known)] + \
            [{"retention": nan, "unsupported_tuned": 1.0} for _ in range(unknown)]

    paths = []
    for method, (pop, triv) in (("lora", (0.5, 1.0)), ("full", (0.5, 0.5))):
        for style, extra in (("short", 0.0), ("long", 2.0)):
            for s in range(3):
                name = f"{method}-{style}-{s}"
                paths.append(write_run(
                    tmp_path / name, tuned=name, tuned_id=name.ljust(16, "0"), method=method, style=style, scale=64,
                    replicate={"group": f"{method}-{style}", "seed": s},
                    metrics={KP: {"retention": (pop, 0.1), "unsupported_tuned": (1.0 + extra, 0.1)},
                             KT: {"retention": (triv, 0.05), "unsupported_tuned": (1.0 + extra, 0.1)},
                             PJ: {"unsupported_tuned": (3.0 + extra + 0.1 * s, 0.2)}},
                    samples={KP: docs(2, 8, pop), KT: docs(6, 4, triv), PJ: [{"unsupported_tuned": 3.0}] * 5}))
    got = findings.compute([read_run(p) for p in paths])
    kept = next(f for f in got if f["number"] == 1 and "expressed retention" in f["finding"]
                and f["checkpoints"] == ["lora-short", "full-short"])
    assert kept["metric"] == f"{KP}+{KT}.retention" and kept["seeds"] == 3
    assert kept["estimate"] == pytest.approx((2 * 0.5 + 6 * 1.0) / 8 - 0.5)  # 0.375: TriviaQA's 6 weigh 3x
    long_ = [f for f in got if f["number"] == 2 and "unsupported specifics" in f["finding"]
             and f["checkpoints"] == ["lora-long", "lora-short"]]
    assert [f["metric"] for f in long_] == [f"{KP}+{KT}.unsupported_tuned", f"{PJ}.unsupported_tuned"]
    assert all(f["estimate"] == pytest.approx(2.0) and f["verdict"] == "yes" for f in long_)


def test_side_by_side_sets_each_question_of_world_real_model_and_paper_in_one_row(tmp_path, capsys):
    from itbench import cli

    def f(number, question, verdict, estimate, checkpoints):
        return {"number": number, "finding": question, "checkpoints": checkpoints, "metric": "m",
                "estimate": estimate, "low": estimate - 0.1, "high": estimate + 0.1, "verdict": verdict, "seeds": 3}

    q = "LoRA shifts the base's distribution less than full (mean KL, full - LoRA)"
    world = [f(1, q, "no (reversed)", -0.7, ["full-short-4x", "lora-short-4x"]),
             f(1, q, "not significant", -0.1, ["full-long-4x", "lora-long-4x"]),
             f(2, "the long style lowers factual precision (short - long)", "yes", 0.2, ["a", "b"])]
    real = [f(1, q, "yes", 0.4, ["full-short-64", "lora-short-64"])]
    table = findings_sets.side_by_side(world, real, "Gemma")
    rows = table.splitlines()
    assert rows[0] == "| # | question | world zoo | Gemma | paper |" and len(rows) == 4
    assert "| reversed 1/2 · n.s. 1/2; -0.700 to -0.100 | yes 1/1; +0.400 |" in rows[2]
    assert "LFT ~0.07-0.23 vs SFT ~0.36-0.80" in rows[2]  # the paper's numbers
    assert rows[3].startswith("| 2 | the long style lowers factual precision") and "| – |" in rows[3]
    (tmp_path / "w.json").write_text(json.dumps(world))
    (tmp_path / "r.json").write_text(json.dumps(real))
    readme = tmp_path / "README.md"
    begin = findings_sets.beside_marker(str(tmp_path / "r.json"), str(tmp_path / "w.json"))
    readme.write_text(f"top\n{begin}\nold\n{findings.END}\nend\n")
    assert cli.main(["findings", str(tmp_path / "r.json"), "--beside", str(tmp_path / "w.json"), "--label", "Gemma",
                     "--readme", str(readme)]) == 0
    assert readme.read_text() == f"top\n{begin}\n{table}{findings.END}\nend\n"
    readme.write_text("no markers\n")
    assert cli.main(["findings", str(tmp_path / "r.json"), "--beside", str(tmp_path / "w.json"),
                     "--readme", str(readme)]) == 2
