"""The release gate: a pass, a fail, every fail-closed case, and the errors (exit 2)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from itbench import cli, gate
from itbench.models import checkpoint
from itbench.stats import Z95
from tests.fake_results import B, K, P, T, borrowed_pairs, good_metrics, mean_se, write_run

BASE = "my-org/base-model"  # a hub name: its identity is a hash of the name


def _gate(tmp_path, *extra: str, results=None, policy: str = "default") -> tuple[int, str, ET.Element | None]:
    junit = tmp_path / "gate.xml"
    code = cli.main(["gate", "--policy", policy, "--base", BASE, "--junit", str(junit), "--summary",
                     str(tmp_path / "gate.md"), *(["--results", *map(str, results)] if results else []), *extra])
    root = ET.parse(junit).getroot() if junit.exists() else None
    return code, (tmp_path / "gate.md").read_text() if (tmp_path / "gate.md").exists() else "", root


def _run(tmp_path, name="cand", metrics=None, **kw):
    return write_run(tmp_path / name, base_id=checkpoint.identity(BASE), metrics=metrics or good_metrics(), **kw)


def test_pass_writes_junit_and_summary(tmp_path, capsys):
    code, md, root = _gate(tmp_path, results=[_run(tmp_path)])
    assert code == 0, capsys.readouterr()
    assert md.startswith("# itbench gate: PASS") and "6 of 6 checks passed" in md
    assert root.get("failures") == "0" and root.get("tests") == "6"
    assert len(root.findall(".//testcase")) == 6 and not root.findall(".//failure")
    assert "PASS" in capsys.readouterr().out


def test_fail_names_the_check_and_bound(tmp_path):
    m = good_metrics()
    m[K]["retention"] = (0.90, 0.02)  # a proportion of 400 documents: Wilson's lower bound 0.867 < 0.90
    code, md, root = _gate(tmp_path, results=[_run(tmp_path, metrics=m)])
    assert code == 1 and md.startswith("# itbench gate: FAIL") and "5 of 6 checks passed" in md
    failures = root.findall(".//failure")
    assert len(failures) == 1 and "lower bound 0.867 < 0.9" in failures[0].get("message")
    assert root.get("failures") == "1"


def test_change_uses_the_paired_samples(tmp_path):
    # Both models wrong on the same 3 of 60 documents, the tuned one on 3 more: the paired interval of
    # the change (+0.05) is what the gate judges, and it exceeds at_most 0.02.
    base = [1.0] * 3 + [0.0] * 57
    tuned = [1.0] * 6 + [0.0] * 54
    m, rows = borrowed_pairs(tuned, base)
    code, md, _ = _gate(tmp_path, results=[_run(tmp_path, metrics=m, samples={B: rows})])
    d = [t - b for t, b in zip(tuned, base, strict=True)]
    mean, se = mean_se(d)
    assert code == 1
    assert f"upper bound {mean + Z95 * se:.3f} > 0.02" in md
    assert "no more hallucinated answers than the base" in md  # the 0.05 threshold: upper bound 0.109 fails too


@pytest.mark.parametrize("case", ["missing_task", "missing_metric", "nan_metric", "no_stderr", "task_version",
                                  "suite_version", "other_base"])
def test_fails_closed(tmp_path, case):
    m = good_metrics()
    kw = {}
    if case == "missing_task":
        del m[B]
        expect = "itbench_borrowed_world is not in the results"
    elif case == "missing_metric":
        del m[K]["retention"]
        expect = "retention is missing from the results of itbench_knowledge_world"
    elif case == "nan_metric":
        m[K]["retention"] = (float("nan"), 0.01)
        expect = "is not a number (NaN)"
    elif case == "no_stderr":
        m[T]["shifted_share"] = 0.05  # no standard error: the gate cannot judge an interval
        expect = "has no standard error"
    elif case == "task_version":
        kw["versions"] = {P: 0.5}
        expect = "scored by task version 0.5"
    elif case == "suite_version":
        kw["suite_version"] = "0.0.1"
        expect = "scored by itbench 0.0.1"
    else:
        kw["base_id"] = "f" * 16
        expect = "paired with another base"
    folder = tmp_path / "cand"
    path = write_run(folder, metrics=m, **{"base_id": checkpoint.identity(BASE), **kw})
    code, md, root = _gate(tmp_path, results=[path])
    assert code == 1, md
    assert expect in md
    assert any(expect in f.get("message") for f in root.findall(".//failure"))


def test_a_task_that_crashes_in_a_run_the_gate_starts_fails(tmp_path, monkeypatch, tiny_zoo):
    from itbench import evaluate

    def crash(*a, **k):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(evaluate, "run_paired", crash)
    zoo = tiny_zoo["dir"]
    junit = tmp_path / "g.xml"
    code = cli.main(["gate", "--base", str(zoo / "base"), "--candidate", str(zoo / "lora-short-4x"),
                     "--junit", str(junit), "--run-dir", str(tmp_path / "run")])
    assert code == 1
    messages = [f.get("message") for f in ET.parse(junit).getroot().findall(".//failure")]
    assert len(messages) == 6 and all("failed: RuntimeError: CUDA out of memory" in m for m in messages)


@pytest.mark.parametrize("text, expect", [
    ("[[checks]]\ntask = 'itbench_knowledge_world'\nmetric = 'retention'\nat_leest = 0.9\n", "unknown keys"),
    ("[[checks]]\ntask = 'itbench_knowledge_world'\nmetric = 'retention'\n", "give at_least"),
    ("[[checks]]\ntask = 'knowledge'\nmetric = 'retention'\nat_least = 0.9\n", "must name an itbench task"),
    ("[[checks]]\ntask = 'itbench_knowledge_world'\nmetric = 'retention'\nof = 'delta'\nat_least = 0.9\n",
     "of must be 'value' or 'change'"),
    ("confidence = 95\n[[checks]]\ntask = 'itbench_knowledge_world'\nmetric = 'r'\nat_least = 1\n",
     "confidence must be between 0 and 1"),
    ("checks = [\n", "cannot be read"),
    ("name = 'empty'\n", "has no checks"),
    # checked against the metric table: a typo is the policy's error, not the model's failure
    ("[[checks]]\ntask = 'itbench_knowledge_world'\nmetric = 'retentoin'\nat_least = 0.9\n",
     "metric 'retentoin' is not a metric of itbench_knowledge_world (family knowledge); nearest: retention"),
    ("[[checks]]\ntask = 'itbench_knowlege_world'\nmetric = 'retention'\nat_least = 0.9\n",
     "belongs to no itbench task family"),
    ("[[checks]]\ntask = 'itbench_knowlege_world'\nmetric = 'retention'\nat_least = 0.9\n",
     "nearest: itbench_knowledge_world"),
    ("[[checks]]\ntask = 'itbench_borrowed_world'\nmetric = 'borowed_rate'\nof = 'change'\nat_most = 0.02\n",
     "no tuned and base side to take a change of (of = \"change\"); nearest: borrowed_rate"),
    ("[[checks]]\ntask = 'itbench_knowledge_world'\nmetric = 'kept_retention'\nof = 'change'\nat_least = 0\n",
     "metric 'kept_retention' of itbench_knowledge_world has no tuned and base side"),
    ("[[checks]]\ntask = 'itbench_token_shift_world'\nmetric = 'shifted_share'\nat_least = 0.25\n",
     "shifted_share is lower-is-better, and at_least 0.25 alone passes a model that makes it worse: "
     "bound it with at_most"),
    ("[[checks]]\ntask = 'itbench_knowledge_world'\nmetric = 'retention'\nat_most = 0.9\n",
     "retention is higher-is-better, and at_most 0.9 alone passes a model that loses it"),
    ("[[checks]]\ntask = 'itbench_borrowed_world'\nmetric = 'borrowed_rate'\nof = 'change'\nat_least = 0.02\n",
     "borrowed_rate change is lower-is-better"),
    ("[[checks]]\ntask = 'itbench_knowledge_world'\nmetric = 'retention'\nat_least = 1.5\n",
     "at_least 1.5 is outside the range of retention, [0, 1]: the check could never decide"),
    ("[[checks]]\ntask = 'itbench_pattern_copy_world'\nmetric = 'precision'\nof = 'change'\nat_least = -2\n",
     "at_least -2 is outside the range of precision change, [-1, 1]"),
])
def test_bad_policy_is_an_error(tmp_path, capsys, text, expect):
    policy = tmp_path / "p.toml"
    policy.write_text(text)
    code, _, root = _gate(tmp_path, results=[_run(tmp_path)], policy=str(policy))
    err = capsys.readouterr().err
    assert code == 2 and expect in err and str(policy) in err
    assert root is None  # nothing written for a gate that could not judge


def test_yaml_policy_and_a_truncated_results_file(tmp_path, capsys):
    policy = tmp_path / "p.yaml"
    policy.write_text("name: yaml\nchecks:\n  - task: itbench_knowledge_world\n    metric: retention\n"
                      "    at_least: 0.94\n")
    assert gate.load_policy(policy).checks[0].at_least == 0.94
    good = _run(tmp_path)
    code, md, _ = _gate(tmp_path, results=[good], policy=str(policy))
    assert code == 0 and "1 of 1 checks passed" in md
    bad = tmp_path / "bad" / "results.json"
    bad.parent.mkdir()
    bad.write_text(good.read_text()[:200])
    code, _, _ = _gate(tmp_path / "bad", results=[bad], policy=str(policy))
    err = capsys.readouterr().err
    assert code == 2 and str(bad) in err and "truncated" in err


def test_results_of_two_checkpoints_are_an_error(tmp_path, capsys):
    a = _run(tmp_path, "a", tuned="a", tuned_id="a" * 16)
    b = _run(tmp_path, "b", tuned="b", tuned_id="c" * 16)
    code, _, _ = _gate(tmp_path, results=[a, b])
    assert code == 2 and "one candidate at a time" in capsys.readouterr().err


def test_results_and_candidate_together_are_an_error(tmp_path, capsys):
    code, _, _ = _gate(tmp_path, "--candidate", "x", results=[_run(tmp_path)])
    assert code == 2 and "not both or neither" in capsys.readouterr().err


def test_shipped_policy_loads_and_every_check_names_a_real_metric():
    import re
    from pathlib import Path

    from itbench.evaluate import task_versions
    from itbench.tasks import tasks_path

    policy = gate.load_policy(gate.policy_path("default"))
    assert {c.task for c in policy.checks} <= set(task_versions())
    declared = {m for f in Path(tasks_path()).rglob("_*template")
                for m in re.findall(r"- metric: (\w+)", f.read_text())}
    for c in policy.checks:
        assert (c.metric if c.of == "value" else f"{c.metric}_tuned") in declared
    shipped = sorted(Path(gate.policy_path("default")).parent.glob("*.toml"))
    assert len(shipped) >= 2
    for path in shipped:  # every policy itbench ships passes the metric table's checks
        p = gate.load_policy(path)
        assert all(gate.policy.against_table(c) is None for c in p.checks), path


@pytest.mark.parametrize("metric, value, expect", [
    ("retention", (1.7, 0.01), "outside the metric's range [0, 1]"),
    ("retention", (float("inf"), 0.01), "outside the metric's range"),
    ("retention", (0.97, -0.01), "a standard error must be a finite number >= 0"),
    ("retention", (0.97, float("inf")), "a standard error must be a finite number >= 0"),
    ("retention", (True, 0.01), "expected a number"),
    ("acc_tuned", ("0.9", 0.01), "expected a number"),
])
def test_results_outside_what_a_metric_can_be_are_refused(tmp_path, capsys, metric, value, expect):
    m = good_metrics()
    m[K][metric] = value
    results = _run(tmp_path, metrics=m)
    before = results.read_bytes()
    code, _, root = _gate(tmp_path, results=[results])
    err = capsys.readouterr().err
    assert code == 2 and expect in err and str(results) in err and metric in err
    assert root is None and results.read_bytes() == before  # nothing judged, nothing written, input intact


def test_a_policy_with_an_infinite_or_boolean_threshold_or_duplicate_yaml_keys_is_refused(tmp_path, capsys):
    for name, text in (("inf.toml", "[[checks]]\ntask = 'itbench_knowledge_world'\nmetric = 'retention'\n"
                                    "at_least = -inf\n"),
                       ("bool.toml", "[[checks]]\ntask = 'itbench_knowledge_world'\nmetric = 'retention'\n"
                                     "at_least = true\n"),
                       ("dup.yaml", "checks:\n  - task: itbench_knowledge_world\n    metric: retention\n"
                                    "    at_least: 0.9\n    at_least: 0.1\n")):
        policy = tmp_path / name
        policy.write_text(text)
        code, _, _ = _gate(tmp_path, results=[_run(tmp_path)], policy=str(policy))
        err = capsys.readouterr().err
        assert code == 2 and str(policy) in err, (name, err)
        assert ("duplicate keys" in err) if name == "dup.yaml" else ("at_least" in err), (name, err)


def test_too_few_documents_fail_the_check_they_touch(tmp_path):
    """A metric resting on fewer documents than the policy's min_n (default 100) cannot pass."""
    rows = [{"retention": 1.0} for _ in range(40)]
    m = good_metrics()
    m[K]["retention"] = (1.0, 0.0)
    code, md, root = _gate(tmp_path, results=[_run(tmp_path, metrics=m, samples={K: rows})])
    assert code == 1 and "rests on 40 documents, fewer than the policy's minimum 100" in md
    policy = tmp_path / "p.toml"
    policy.write_text("min_n = 30\n[[checks]]\ntask = 'itbench_knowledge_world'\nmetric = 'retention'\n"
                      "at_least = 0.5\n")
    code, md, _ = _gate(tmp_path / "low", results=[_run(tmp_path, metrics=m, samples={K: rows})], policy=str(policy))
    assert code == 0 and "1 of 1 checks passed" in md
    policy.write_text("min_n = 0\n[[checks]]\ntask = 'itbench_knowledge_world'\nmetric = 'retention'\nat_least = 0.5\n")
    assert _gate(tmp_path / "zero", results=[_run(tmp_path, metrics=m)], policy=str(policy))[0] == 2


def test_results_of_a_limited_run_are_no_evidence(tmp_path, capsys):
    path = _run(tmp_path)
    import json

    data = json.loads(path.read_text())
    data["config"]["limit"] = 5
    path.write_text(json.dumps(data))
    code, md, _ = _gate(tmp_path, results=[path])
    assert code == 1 and "0 of 6 checks passed" in md and "--limit 5 run" in md
    code, md, _ = _gate(tmp_path / "s", "--smoke", results=[path])
    assert code == 1 and "SMOKE" in md and "never a pass" in md


def test_escape_sequences_in_a_name_do_not_reach_the_terminal(tmp_path, capsys):
    """A checkpoint named with an ANSI escape sequence (it could rewrite the terminal: clear the
    screen, fake a PASS line) is printed with its control characters shown, not acted on."""
    code, md, root = _gate(tmp_path, results=[_run(tmp_path, tuned="evil\x1b[2J\x1b[32mPASS\x07")])
    out = capsys.readouterr().out
    assert code == 0 and "\x1b" not in out and "\x07" not in out and "\\x1b[2J" in out
    assert "\x1b" not in md and root is not None


def test_samples_that_do_not_match_the_results_counts_are_refused(tmp_path, capsys):
    rows = [{"borrowed_rate_tuned": 0.0, "borrowed_rate_base": 0.0} for _ in range(120)]
    path = _run(tmp_path, samples={B: rows})
    samples = path.parent / f"samples_{B}.jsonl"
    samples.write_text("".join(samples.read_text().splitlines(keepends=True)[:80]))  # cut at a line boundary
    code, _, root = _gate(tmp_path, results=[path])
    err = capsys.readouterr().err
    assert code == 2 and "holds 80 documents" in err and "counts 120" in err and root is None
