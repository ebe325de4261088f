"""The bad-input battery: every case a distinct malformed or hostile input to a command that reads
untrusted files (results, samples, policies, findings). Each must end in exit 2 with a message that
names the file and the field, leave every input byte for byte as it was, and write no output."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from itbench import cli
from itbench.models import checkpoint
from tests.fake_results import K, good_metrics, write_run

BASE = "my-org/base-model"


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _good(folder: Path, rows: int = 0) -> Path:
    samples = {K: [{"retention": 1.0, "acc_base": 1.0, "acc_tuned": 1.0} for _ in range(rows)]} if rows else None
    return write_run(folder, base_id=checkpoint.identity(BASE), metrics=good_metrics(), samples=samples)


def _set(path: list, value):
    def mutate(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return data
    return mutate


def _drop(path: list):
    def mutate(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        return data
    return mutate


RES = ["results", K]
IT = ["config", "itbench"]
# (case id, a change to a good results.json: a function of the parsed JSON or the raw bytes, what
# the message must say besides the file's path)
RESULTS_CASES = [
    ("value-string", _set(RES + ["retention,none"], "0.97"), "retention"),
    ("value-bool", _set(RES + ["retention,none"], True), "retention"),
    ("value-above-range", _set(RES + ["retention,none"], 1.7), "outside the metric's range"),
    ("value-below-range", _set(RES + ["acc_tuned,none"], -0.2), "outside the metric's range"),
    ("value-infinite", _set(RES + ["retention,none"], float("inf")), "retention"),
    ("value-minus-infinite", _set(RES + ["acc_base,none"], float("-inf")), "acc_base"),
    ("value-list", _set(RES + ["retention,none"], [0.9]), "retention"),
    ("value-object", _set(RES + ["retention,none"], {"v": 0.9}), "retention"),
    ("stderr-negative", _set(RES + ["retention_stderr,none"], -0.01), "standard error"),
    ("stderr-infinite", _set(RES + ["retention_stderr,none"], float("inf")), "standard error"),
    ("stderr-text", _set(RES + ["retention_stderr,none"], "small"), "retention_stderr"),
    ("stderr-bool", _set(RES + ["retention_stderr,none"], False), "retention_stderr"),
    ("no-pairing", _drop(["config", "itbench"]), "config.itbench"),
    ("base-without-fingerprint", _drop(IT + ["base", "fingerprint"]), "fingerprint"),
    ("base-empty-fingerprint", _set(IT + ["base", "fingerprint"], ""), "fingerprint"),
    ("tuned-not-an-object", _set(IT + ["tuned"], "lora-a"), "tuned"),
    ("suite-version-number", _set(IT + ["suite_version"], 1.0), "suite_version"),
    ("trained-rows-negative", _set(IT + ["it_set", "trained_rows"], -5), "trained_rows"),
    ("rows-fractional", _set(IT + ["it_set", "rows"], 1.5), "rows"),
    ("style-list", _set(IT + ["it_set", "style"], ["short"]), "style"),
    ("replicate-seed-negative", _set(IT + ["replicate"], {"group": "g", "seed": -1}), "seed"),
    ("replicate-group-empty", _set(IT + ["replicate"], {"group": "", "seed": 0}), "group"),
    ("results-a-list", _set(["results"], [1, 2]), "results"),
    ("task-results-a-number", _set(RES, 0.5), K),
    ("no-results-key", _drop(["results"]), "results"),
    ("top-level-list", lambda data: [data], "JSON list"),
    ("empty-file", lambda data: b"", "truncated or damaged"),
    ("truncated", lambda data: json.dumps(data).encode()[:150], "truncated"),
    ("not-utf8", lambda data: b"\xff\xfe\x00garbage", "not a text file"),
    ("duplicate-metric-key", lambda data: json.dumps(data).replace(
        '"retention,none": ', '"retention,none": 0.1, "retention,none": ', 1).encode(), "appears twice"),
    ("duplicate-top-key", lambda data: (b'{"results": {}, ' + json.dumps(data).encode()[1:]),
     "'results' appears twice"),
    ("infinity-literal-stderr", lambda data: json.dumps(data).replace('"retention_stderr,none": 0.01',
                                                                     '"retention_stderr,none": Infinity').encode(),
     "retention_stderr"),
]


def _write_bad(tmp_path: Path, mutate) -> Path:
    path = _good(tmp_path / "run")
    got = mutate(json.loads(path.read_text()))
    path.write_bytes(got if isinstance(got, bytes) else json.dumps(got).encode())
    return path


def _check(tmp_path, capsys, argv, inputs: Path, outputs: list[Path], expect: list[str]):
    before = _digest(inputs)
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, (code, err)
    for want in expect:
        assert want in err, (want, err)
    assert "Traceback" not in err
    assert _digest(inputs) == before  # inputs untouched
    assert not any(p.exists() for p in outputs)  # nothing written


@pytest.mark.parametrize("case, mutate, expect", RESULTS_CASES, ids=[c[0] for c in RESULTS_CASES])
def test_gate_refuses_bad_results(tmp_path, capsys, case, mutate, expect):
    path = _write_bad(tmp_path, mutate)
    junit, summary = tmp_path / "gate.xml", tmp_path / "gate.md"
    _check(tmp_path, capsys, ["gate", "--base", BASE, "--results", path, "--junit", junit, "--summary", summary],
           tmp_path / "run", [junit, summary], [str(path), expect])


@pytest.mark.parametrize("case, mutate, expect", RESULTS_CASES, ids=[c[0] for c in RESULTS_CASES])
def test_leaderboard_refuses_bad_results(tmp_path, capsys, case, mutate, expect):
    path = _write_bad(tmp_path, mutate)
    out = tmp_path / "board"
    _check(tmp_path, capsys, ["leaderboard", tmp_path / "run", "--out", out], tmp_path / "run", [out],
           [str(path), expect])


GOOD_FINDING = {"number": 1, "finding": "LoRA's shifted tokens are mostly style tokens (style share - 0.5)",
                "checkpoints": ["lora-short-4x"], "metric": "itbench_token_shift_world.style_share",
                "estimate": 0.32, "low": 0.28, "high": 0.36, "verdict": "yes", "seeds": 3}
# (case id, the findings file's bytes or one entry's changed fields, what the message must say)
FINDINGS_CASES = [
    ("not-json", b"[{", "not a readable findings file"),
    ("an-object", b'{"finding": "x"}', "expected a list of findings objects"),
    ("entry-not-object", b'["finding"]', "expected a list of findings objects"),
    ("estimate-text", {"estimate": "0.3"}, "field estimate"),
    ("low-above-high", {"low": 0.5, "high": 0.1}, "fields low/high"),
    ("half-interval", {"low": None}, "fields low/high"),
    ("unknown-verdict", {"verdict": "definitely"}, "field verdict"),
    ("seeds-negative", {"seeds": -1}, "field seeds"),
    ("seeds-fractional", {"seeds": 2.5}, "field seeds"),
    ("checkpoints-empty", {"checkpoints": []}, "field checkpoints"),
    ("checkpoints-text", {"checkpoints": "lora"}, "field checkpoints"),
    ("number-out-of-range", {"number": 9}, "field number"),
    ("finding-missing", {"finding": None}, "field finding"),
    ("duplicate-verdict-key", json.dumps([GOOD_FINDING]).replace(
        '"verdict": "yes"', '"verdict": "no", "verdict": "yes"').encode(), "'verdict' appears twice"),
    ("high-infinite", b'[{"number": 1, "finding": "f", "checkpoints": ["a"], "estimate": 0.1, "low": 0.0, '
                      b'"high": Infinity, "verdict": "yes", "seeds": 3}]', "field high"),
]


@pytest.mark.parametrize("case, change, expect", FINDINGS_CASES, ids=[c[0] for c in FINDINGS_CASES])
def test_findings_refuses_a_bad_findings_file_and_leaves_the_readme(tmp_path, capsys, case, change, expect):
    data = tmp_path / "in"
    data.mkdir()
    path = data / "findings.json"
    path.write_bytes(change if isinstance(change, bytes) else json.dumps([{**GOOD_FINDING, **change}]).encode())
    readme = data / "README.md"
    readme.write_text(f"# x\n<!-- findings:begin (generated from {path}) -->\nold\n<!-- findings:end -->\n")
    _check(tmp_path, capsys, ["findings", path, "--readme", readme], data, [], [str(path), expect])


POLICY = "[[checks]]\ntask = 'itbench_knowledge_world'\nmetric = 'retention'\nat_least = 0.9\n"
# (case id, the policy's text, what the message must say besides the policy's path)
POLICY_CASES = [
    ("min-n-negative", "min_n = -5\n" + POLICY, "min_n"),
    ("min-n-fractional", "min_n = 2.5\n" + POLICY, "min_n"),
    ("min-n-text", "min_n = 'many'\n" + POLICY, "min_n"),
    ("threshold-nan", POLICY.replace("0.9", "nan"), "at_least"),
    ("threshold-text", POLICY.replace("0.9", "'high'"), "at_least"),
    ("metric-a-number", POLICY.replace("'retention'", "5"), "metric"),
    ("task-missing", "[[checks]]\nmetric = 'retention'\nat_least = 0.9\n", "task"),
    ("checks-a-number", "checks = 5\n", "checks"),
    ("check-a-string", "checks = ['retention']\n", "check"),
    ("confidence-negative", "confidence = -0.5\n" + POLICY, "confidence"),
    ("confidence-one", "confidence = 1.0\n" + POLICY, "confidence"),
    ("unknown-top-key", "threshold = 1\n" + POLICY, "threshold"),
    ("yaml-list", "- task: itbench_knowledge_world\n", "policy"),
    ("empty", "", "no checks"),
]


@pytest.mark.parametrize("case, text, expect", POLICY_CASES, ids=[c[0] for c in POLICY_CASES])
def test_gate_refuses_a_bad_policy(tmp_path, capsys, case, text, expect):
    inputs = tmp_path / "in"
    results = _good(inputs / "run")
    policy = inputs / ("p.yaml" if case.startswith("yaml") else "p.toml")
    policy.write_text(text)
    junit, summary = tmp_path / "gate.xml", tmp_path / "gate.md"
    _check(tmp_path, capsys, ["gate", "--policy", policy, "--base", BASE, "--results", results, "--junit", junit,
                              "--summary", summary], inputs, [junit, summary], [str(policy), expect])


# (case id, a change to a samples file of 120 documents, what the message must say)
SAMPLES_CASES = [
    ("line-not-json", lambda lines: lines[:60] + ["{not json\n"] + lines[61:], "line 61"),
    ("line-a-list", lambda lines: lines[:10] + ["[1, 2]\n"] + lines[11:], "line 11"),
    ("fewer-rows", lambda lines: lines[:80], "holds 80 documents"),
    ("more-rows", lambda lines: lines + lines[:5], "holds 125 documents"),
    ("not-utf8", lambda lines: lines[:3] + ["\udcff\n"] + lines[4:], "samples"),
    ("duplicate-key", lambda lines: lines[:7] + ['{"doc_id": 7, "doc_id": 8}\n'] + lines[8:], "line 8"),
]


@pytest.mark.parametrize("case, change, expect", SAMPLES_CASES, ids=[c[0] for c in SAMPLES_CASES])
def test_gate_refuses_bad_samples(tmp_path, capsys, case, change, expect):
    inputs = tmp_path / "in"
    results = _good(inputs / "run", rows=120)
    samples = results.parent / f"samples_{K}.jsonl"
    lines = change(samples.read_text().splitlines(keepends=True))
    samples.write_bytes("".join(lines).encode("utf-8", "surrogateescape"))
    junit, summary = tmp_path / "gate.xml", tmp_path / "gate.md"
    _check(tmp_path, capsys, ["gate", "--base", BASE, "--results", results, "--junit", junit, "--summary", summary],
           inputs, [junit, summary], [str(samples), expect])


@pytest.mark.parametrize("case", ["out-is-the-input", "out-inside-the-input", "out-an-existing-file",
                                  "out-a-foreign-folder", "out-holds-the-input"])
def test_leaderboard_never_writes_over_its_inputs(tmp_path, capsys, case):
    inputs = tmp_path / "in"
    _good(inputs / "run")
    (inputs / "notes.txt").write_text("mine")
    out = {"out-is-the-input": inputs, "out-inside-the-input": inputs / "board",
           "out-an-existing-file": inputs / "notes.txt", "out-a-foreign-folder": inputs,
           "out-holds-the-input": tmp_path}[case]
    src = inputs / "run" if case == "out-a-foreign-folder" else inputs
    if case == "out-a-foreign-folder":  # a folder of someone else's files, not a previous leaderboard
        out = tmp_path / "mine"
        out.mkdir()
        (out / "thesis.tex").write_text("years of work")
        before_out = _digest(out)
    created = [] if out.exists() else [out]
    _check(tmp_path, capsys, ["leaderboard", src, "--out", out], inputs, created, [str(out)])
    if case == "out-a-foreign-folder":
        assert _digest(out) == before_out


def _study_data(root: Path) -> Path:
    """A data folder laid out as ../shared/data, just large enough for `itbench study --rows 2`."""
    rows = [{"instruction": f"Name a colour ({i}).", "input": "", "output": "Blue."} for i in range(3)]
    long_ = [{**r, "output": "A colour you may like is blue: it is the colour of the sky."} for r in rows]
    for rel, data in (("alpaca/alpaca_5000.json", rows), ("alpaca-gpt4/alpaca_en_demo.json", long_)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps(data))
    from itbench.study import DATA_LAYOUT

    for rel in DATA_LAYOUT.values():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps({"question": "q", "answers": ["a"], "instruction": "i"}) + "\n")
    return root


SHORT = "alpaca/alpaca_5000.json"
# (case id, a change to the data folder: relative path -> new bytes (None deletes), extra arguments,
# what the message must say)
STUDY_CASES = [
    ("short-set-not-json", {SHORT: b"[{"}, [], "not valid JSON"),
    ("short-set-not-utf8", {SHORT: b"\xff\xfe["}, [], "not UTF-8"),
    ("short-row-a-list", {SHORT: b'[["Name a colour.", "Blue."]]'}, [], "row 1 is a list, not an object"),
    ("short-output-a-number", {SHORT: b'[{"instruction": "x", "output": 5}]'}, [], "row 1, lacks a text"),
    ("long-set-an-object", {"alpaca-gpt4/alpaca_en_demo.json": b'{"rows": []}'}, [], "holds neither a list"),
    ("long-set-missing", {"alpaca-gpt4/alpaca_en_demo.json": None}, [], "is missing"),
    ("popqa-missing", {"popqa/popqa_1000.jsonl": None}, [], "popqa_1000.jsonl is missing"),
    ("too-few-shared-instructions", {}, ["--rows", "50"], "only 3 instructions have both"),
    ("unknown-only-recipe", {}, ["--only", "qlora-short-64"], "unknown recipe(s) ['qlora-short-64']"),
]


@pytest.mark.parametrize("case, change, extra, expect", STUDY_CASES, ids=[c[0] for c in STUDY_CASES])
def test_study_refuses_bad_data_before_touching_a_model(tmp_path, capsys, case, change, extra, expect):
    data = _study_data(tmp_path / "data")
    for rel, content in change.items():
        (data / rel).unlink() if content is None else (data / rel).write_bytes(content)
    out = tmp_path / "out"
    argv = ["study", "--base", "no-such-org/no-such-model", "--data", data, "--out", out, "--rows", "2", *extra]
    _check(tmp_path, capsys, argv, data, [out], [expect])
