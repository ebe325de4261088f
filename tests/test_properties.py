"""Property-based tests (hypothesis) of what itbench trusts least: the escapers at every sink, the
statistics behind every verdict, the readers of results, findings, manifests and policies under
mutation, and the judge's reply parser. Examples are derandomized (the same in every run, so CI is
stable); inputs that once broke a property are kept as @example regression cases."""

from __future__ import annotations

import copy
import csv
import html
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from itbench import cli, escape, stats
from itbench.errors import ItbenchError

FAST = settings(max_examples=200, deadline=None, derandomize=True)
SLOW = settings(max_examples=50, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# any text, with the characters that break sinks made likely
NASTY = st.text(alphabet=st.one_of(st.characters(), st.sampled_from(list("<>&\"'|\r\n\t=+-@`\x1b\x00\ufffe\ud800"))))


# --- escapers ------------------------------------------------------------------------------------
class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_endtag(self, tag):
        self.tags.append("/" + tag)

    def handle_comment(self, data):
        self.tags.append("!--")

    def handle_decl(self, decl):
        self.tags.append("!")

    def handle_pi(self, data):
        self.tags.append("?")

    def handle_data(self, data):
        self.text.append(data)


@FAST
@given(NASTY)
@example("<script>alert(1)</script>")
@example('" onmouseover="x')
def test_html_sinks_hold_no_markup_and_keep_the_text(s):
    """The page's text and attribute sinks (html.escape): a browser's parser sees no tag, comment or
    declaration, an attribute value cannot be closed, and the visible text is the input."""
    text = html.escape(s)
    parser = _Tags()
    parser.feed(f"<p>{text}</p>")
    parser.close()
    assert parser.tags == ["p", "/p"]
    assert "".join(parser.text) == s and html.unescape(text) == s
    attr = html.escape(s, quote=True)
    assert '"' not in attr and "'" not in attr and "<" not in attr


@FAST
@given(NASTY)
@example("a|b\n<img src=x onerror=alert(1)>")
@example("\\|")
def test_markdown_cells_cannot_break_the_table_or_carry_html(s):
    cell = escape.md_cell(s)
    assert "\n" not in cell and "\r" not in cell
    assert not re.search(r"(?<!\\)\|", cell)  # every pipe escaped: GFM splits cells on the others
    assert not re.search(r"<[A-Za-z/!?]", cell)  # no tag, comment or declaration can open
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", cell)  # no control character acts
    # the visible text is kept: undo the escapes and the input comes back (line breaks as spaces,
    # control characters shown as \xNN)
    if "&lt;" not in s:
        assert cell.replace("\\|", "|").replace("&lt;", "<") == escape.terminal(s.replace("\r", " ").replace("\n", " "))


@FAST
@given(NASTY)
@example("=HYPERLINK(\"http://x\")")
@example("'")
@example("a\r=1")
def test_csv_cells_start_no_formula_and_stay_one_cell(s):
    cell = escape.csv_cell(s)
    assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r") and "\r" not in cell
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([cell, "next"])
    rows = list(csv.reader(io.StringIO(buf.getvalue())))
    assert rows == [[cell, "next"]]  # one row of two cells: nothing in the cell starts a row of its own
    formula = s[:1] in ("=", "+", "-", "@", "\t", "\r")
    assert cell == ("'" if formula else "") + s.replace("\r", "\\r")  # the text is kept, behind a quote if need be


@FAST
@given(NASTY)
@example("\x00\x1b\ufffe")
@example("\ud800")  # found: a lone surrogate made JUnit XML no parser reads
@example("a\rb")  # found: a CR in text read back as a newline
def test_xml_text_serialises_and_reads_back(s):
    """JUnit XML: whatever the text, the file is well-formed UTF-8 XML and reads back as the text
    with only what XML cannot hold removed."""
    kept = escape.xml_text(s)
    case = ET.Element("testcase", name=kept)
    ET.SubElement(case, "failure", message=kept).text = kept
    data = ET.tostring(case, encoding="utf-8")
    back = ET.fromstring(data)
    assert back.get("name") == kept and (back.find("failure").text or "") == kept
    assert all(c in s for c in kept.replace("\n", ""))


@FAST
@given(NASTY)
def test_terminal_text_carries_no_control_sequence(s):
    out = escape.terminal(s)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", out)
    assert re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), out).count("\n") == s.count("\n")


# --- statistics ----------------------------------------------------------------------------------
UNIT = st.floats(min_value=0, max_value=1, allow_nan=False)
VALUES = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=2, max_size=60)


@FAST
@given(st.lists(UNIT, min_size=1, max_size=80), st.floats(min_value=0.5, max_value=0.999))
def test_every_interval_holds_its_estimate_inside_the_metric_range(xs, confidence):
    z = stats.z_value(confidence)
    mean, se, n = stats.mean_stderr(xs)
    for proportion in (False, True):
        value = round(mean * n) / n if proportion else mean  # a proportion is k of n
        lo, hi = stats.interval(value, se if n > 1 else 0.0, n, z, 0.0, 1.0, proportion=proportion)
        assert 0.0 <= lo <= value + 1e-12 and value - 1e-12 <= hi <= 1.0, (value, lo, hi)


@FAST
@given(st.integers(min_value=1, max_value=5000), st.data())
def test_wilson_holds_every_proportion_of_n(n, data):
    k = data.draw(st.integers(min_value=0, max_value=n))
    lo, hi = stats.wilson_interval(k / n, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


@FAST
@given(st.data())
def test_paired_differences_are_antisymmetric(data):
    n = data.draw(st.integers(min_value=2, max_value=50))
    a = data.draw(st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n))
    b = data.draw(st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n))
    ab, ba = stats.paired_difference(a, b), stats.paired_difference(b, a)
    assert ab[0] == pytest.approx(-ba[0], abs=1e-9) and ab[1] == pytest.approx(ba[1], rel=1e-9) and ab[2] == ba[2]


@FAST
@given(st.lists(st.floats(-10, 10), min_size=2, max_size=6), st.data())
def test_the_seed_interval_is_never_narrower_than_the_items_alone_when_seeds_disagree(estimates, data):
    ses = data.draw(st.lists(st.floats(0, 3), min_size=len(estimates), max_size=len(estimates)))
    s = stats.seed_interval(estimates, ses)
    mean = float(sum(estimates) / len(estimates))
    assert s.low <= s.estimate <= s.high and s.estimate == pytest.approx(mean, abs=1e-9)
    item_half = stats.Z95 * math.sqrt(sum(x * x for x in ses) / len(ses))
    if max(estimates) > min(estimates):
        assert (s.high - s.low) / 2 >= item_half * (1 - 1e-9)


# --- the judge's reply parser --------------------------------------------------------------------
@FAST
@given(st.one_of(NASTY, st.dictionaries(st.sampled_from(["helpfulness", "clarity", "factuality", "depth",
                                                          "engagement", "reasons", "Factuality"]),
                                         st.one_of(st.integers(-3, 9), st.floats(), NASTY, st.booleans(),
                                                   st.dictionaries(st.just("score"), st.integers(-3, 9))))
                  .map(json.dumps)))
@example('{"helpfulness": true, "clarity": 5.0}')
def test_any_judge_reply_gives_scores_one_to_five_or_none(reply):
    from itbench import judge

    scores, rationale = judge.parse(reply)
    assert set(scores) == set(judge.ASPECTS)
    assert all(v is None or (type(v) is int and 1 <= v <= 5) for v in scores.values())
    assert isinstance(rationale, str) and len(rationale) <= 1000
    one = judge.parse_score(reply)
    assert one is None or (type(one) is int and 1 <= one <= 5)


# --- readers under mutation ----------------------------------------------------------------------
def _paths(obj, prefix=()):
    """Every path to a value inside a JSON object."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


def _at(obj, path):
    for k in path:
        obj = obj[k]
    return obj


MUTATIONS = ("truncate", "remove", "duplicate", "retype", "inf", "nan", "negative", "huge")


def mutate(text: str, kind: str, pick: int) -> str:
    """A mutation of a JSON document: truncated, or at one of its values a key removed, a key
    written twice with another value, a type changed, a number made inf/NaN/negative/huge."""
    if kind == "truncate":
        return text[:pick % max(1, len(text))]
    data = json.loads(text)
    paths = [p for p in _paths(data) if p]
    path = paths[pick % len(paths)]
    parent, key = _at(data, path[:-1]), path[-1]
    value = parent[key]
    if kind == "remove":
        del parent[key]
    elif kind == "retype":
        parent[key] = "text" if not isinstance(value, str) else 3
    elif kind in ("inf", "nan", "negative", "huge"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            parent[key] = {"inf": math.inf, "nan": math.nan, "negative": -1, "huge": 1e308}[kind]
        else:
            parent[key] = {"inf": math.inf, "nan": math.nan, "negative": -abs(value) - 1,
                           "huge": value * 1e300 or 1e300}[kind]
    out = json.dumps(data)
    if kind == "duplicate" and isinstance(parent, dict):
        # the same key twice in one object: the second value differs
        inner = json.dumps({key: value})[1:-1]
        twin = json.dumps({key: "other" if value != "other" else 0})[1:-1]
        obj = json.dumps(parent)
        out = out.replace(obj, obj[:-1] + (", " if parent else "") + twin + "}", 1) if obj in out else out
        assert inner
    return out


def _gate(tmp_path, results, policy, capsys):
    from tests.test_gate import BASE

    code = cli.main(["gate", "--policy", str(policy), "--base", BASE, "--results", str(results)])
    got = capsys.readouterr()
    return code, got.out + got.err


@pytest.fixture(scope="module")
def valid_run(tmp_path_factory):
    """A results file (with samples) that passes the default policy, and that verdict."""
    from itbench.models import checkpoint
    from tests.fake_results import B, borrowed_pairs, write_run
    from tests.test_gate import BASE

    m, rows = borrowed_pairs([1.0] * 3 + [0.0] * 297, [1.0] * 3 + [0.0] * 297)
    folder = tmp_path_factory.mktemp("valid")
    path = write_run(folder / "cand", base_id=checkpoint.identity(BASE), metrics=m, samples={B: rows})
    return path


@SLOW
@given(kind=st.sampled_from(MUTATIONS), pick=st.integers(min_value=0, max_value=10_000),
       target=st.sampled_from(["results", "samples", "policy"]))
@example(kind="retype", pick=177, target="results")  # found: n-samples.<task> a string, a traceback
@example(kind="retype", pick=174, target="results")  # found: n-samples ... 'text', exit 2 without the file
@example(kind="huge", pick=5344, target="results")  # found: a stderr of 1e308 overflowed an unpaired difference
def test_a_mutated_results_samples_or_policy_file_never_passes_wrongly_nor_crashes(valid_run, tmp_path_factory,
                                                                                   capsys, kind, pick, target):
    """Either the untouched file's verdict or exit 2 naming the file; never a traceback, never a
    pass that the untouched file would not give."""
    from itbench.gate import policy_path

    folder = tmp_path_factory.mktemp("mutated")
    results = folder / "results.json"
    results.write_text(valid_run.read_text())
    samples = sorted(valid_run.parent.glob("samples_*.jsonl"))
    for s in samples:
        (folder / s.name).write_text(s.read_text())
    policy = folder / "policy.json"
    default = policy_path("default")
    import tomllib

    policy.write_text(json.dumps(tomllib.loads(default.read_text())))
    policy = policy.rename(folder / "policy.yaml")  # JSON is YAML: the policy reader parses it as YAML
    before, _ = _gate(folder, results, policy, capsys)
    assert before == 0
    if target == "results":
        victim = results
    elif target == "samples":
        victim = folder / samples[0].name
        lines = victim.read_text().splitlines()
        line = pick % len(lines)
        try:
            lines[line] = mutate(lines[line], kind, pick // len(lines))
        except (ValueError, IndexError, ZeroDivisionError):
            return
        victim.write_text("\n".join(lines) + "\n")
    else:
        victim = policy
    if target != "samples":
        victim.write_text(mutate(victim.read_text(), kind, pick))
    code, out = _gate(folder, results, policy, capsys)
    assert "Traceback" not in out, out[-3000:]
    assert code in (0, 1, 2), out
    if code == 2:
        assert str(victim) in out or str(folder) in out, out[-2000:]


@SLOW
@given(kind=st.sampled_from(MUTATIONS), pick=st.integers(min_value=0, max_value=10_000))
def test_a_mutated_findings_file_is_read_or_refused_by_name(tmp_path_factory, capsys, kind, pick):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    folder = tmp_path_factory.mktemp("findings")
    victim = folder / "findings.json"
    victim.write_text(mutate((root / "leaderboard" / "findings.json").read_text(), kind, pick))
    code = cli.main(["findings", str(victim)])
    out = capsys.readouterr()
    assert code in (0, 2)
    if code == 2:
        assert str(victim) in out.err


@SLOW
@given(kind=st.sampled_from(MUTATIONS), pick=st.integers(min_value=0, max_value=10_000))
def test_a_mutated_manifest_is_read_or_refused_by_name(tmp_path_factory, kind, pick):
    from itbench.models import checkpoint

    folder = tmp_path_factory.mktemp("manifest")
    manifest = {"manifest_version": checkpoint.MANIFEST_VERSION, "method": "lora", "seed": 0,
                "base": {"name": "base", "fingerprint": "b" * 16},
                "data": {"rows": 64, "trained_rows": 64, "file": "it.jsonl"},
                "training": {"epochs": 3, "steps": 48, "final_loss": 1.5, "losses": [2.0, 1.5]}}
    (folder / checkpoint.MANIFEST).write_text(mutate(json.dumps(manifest), kind, pick))
    try:
        got = checkpoint.read_manifest(folder)
    except ItbenchError as err:
        assert str(folder) in str(err)
        return
    assert isinstance(got, dict) and got["manifest_version"] == checkpoint.MANIFEST_VERSION


def test_mutations_are_what_they_say():
    doc = json.dumps({"a": 1, "b": {"c": [1.5, "x"]}})
    assert mutate(doc, "truncate", 5) == doc[:5]
    assert "inf" in mutate(doc, "inf", 0).lower() or "Infinity" in mutate(doc, "inf", 0)
    assert json.loads(mutate(doc, "remove", 0)) == {"b": {"c": [1.5, "x"]}}
    assert mutate(doc, "duplicate", 0).count('"a"') == 2
    assert copy.deepcopy(json.loads(doc)) == json.loads(doc)


# --- intervals over bases ------------------------------------------------------------------------
def _simulate(rng, bases, seeds, base_sd, seed_sd, item_sd, mu=0.5):
    """Seed estimates of one recipe on `bases` bases: mu + a base's effect + a seed's + the items'
    error, which every checkpoint shares (the same documents)."""
    items = rng.normal(0, item_sd)
    return [[mu + b + rng.normal(0, seed_sd) + items for _ in range(seeds)]
            for b in rng.normal(0, base_sd, size=bases)], [[item_sd] * seeds for _ in range(bases)]


@pytest.mark.parametrize("base_sd, seed_sd, item_sd", [(0.05, 0.03, 0.02), (0.0, 0.05, 0.02), (0.1, 0.01, 0.001)])
def test_the_nested_interval_covers_the_truth_over_bases_seeds_and_items(base_sd, seed_sd, item_sd):
    """Synthetic zoos where the true mean is known (0.5): the nested interval over 3 bases x 3
    seeds covers it at least at its level; pooling the same nine checkpoints as seeds of one base
    (seed_interval) undercovers once bases differ, which is why findings need several bases."""
    import numpy as np

    rng = np.random.default_rng(0)
    nested = pooled = 0
    runs = 2000
    for _ in range(runs):
        est, ses = _simulate(rng, 3, 3, base_sd, seed_sd, item_sd)
        n = stats.nested_interval(est, ses)
        nested += n.low <= 0.5 <= n.high
        flat = [x for row in est for x in row]
        p = stats.seed_interval(flat, [item_sd] * len(flat))
        pooled += p.low <= 0.5 <= p.high
    assert nested / runs >= 0.94, nested / runs
    if base_sd >= 2 * seed_sd:
        assert pooled / runs < 0.85, pooled / runs


def test_a_difference_over_bases_is_paired_by_base():
    """Two recipes on the same three bases: a base effect both share cancels, so the difference is
    decided where the recipes' own means are not."""
    a = [[0.9, 0.91], [0.5, 0.52], [0.2, 0.21]]  # bases differ a lot; recipe a is 0.1 above b on each
    b = [[0.8, 0.81], [0.4, 0.42], [0.1, 0.11]]
    ses = [[0.005, 0.005]] * 3
    d = stats.nested_interval(a, ses, minus=b, minus_ses=ses)
    assert d.estimate == pytest.approx(0.1, abs=1e-9) and d.low > 0.05 and stats.verdict(d.low, d.high) == "yes"
    alone = stats.nested_interval(a, ses)
    assert alone.high - alone.low > 1.0  # the base-to-base spread is in a single recipe's interval
    one = stats.nested_interval([[0.9, 0.91]], [[0.005, 0.005]])
    assert math.isnan(one.low) and one.seeds == 2
    with pytest.raises(ValueError):
        stats.nested_interval(a, ses, minus=b[:2], minus_ses=ses[:2])
