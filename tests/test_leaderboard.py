"""The leaderboard: rows grouped by base, paired changes, every metric with stderr and n, escaping,
atomic writes, and the page in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from pathlib import Path

import pytest

from itbench import cli, leaderboard, publish, render
from itbench.models.zoo import default_entries
from itbench.results import find_results, read_run
from itbench.stats import Z95
from tests.fake_results import B, K, T, good_metrics, mean_se, write_run

ROOT = Path(__file__).resolve().parents[1]
EVIL = '<script>alert("x")</script>'
MARKER = '<img src=x onerror="window.__itbench_pwned=1"><script>window.__itbench_pwned=2</script>'  # runs => marker


def _zoo_like(tmp_path: Path) -> Path:
    """Results of a small sweep: LoRA and full at two sizes, a method-improved one, a second base."""
    out = tmp_path / "results"
    base = [1.0] * 10 + [0.0] * 50
    for i, (name, method, size, ret, rate) in enumerate([
            ("lora-short-1x", "lora", 45, 0.95, 2), ("lora-short-4x", "lora", 180, 0.93, 3),
            ("full-short-1x", "full", 45, 0.80, 6), ("full-short-4x", "full", 180, 0.60, 12),
            ("neftune-short-4x", "neftune", 180, 0.62, 11)]):
        m = good_metrics()
        m[K]["retention"] = (ret, 0.02)
        tuned = [1.0] * rate + [0.0] * (60 - rate)
        m[B]["borrowed_rate_tuned"], m[B]["borrowed_rate_base"] = mean_se(tuned), mean_se(base[:60])
        rows = [{"borrowed_rate_tuned": t, "borrowed_rate_base": b,
                 "borrowed_cases_tuned": ({"question": "what is the river of Zorb ?", "response": "the river is Ulm .",
                                           "span": "Ulm", "source_id": f"it-{j}", "similarity": 0.4,
                                           "source_instruction": "the river of Quax ?",
                                           "source_response": "Quax lies on the ulm ."} if t else None)}
                for j, (t, b) in enumerate(zip(tuned, base, strict=True))]
        write_run(out / name, tuned=name, tuned_id=f"{i:016d}", method=method, size=size, metrics=m,
                  samples={B: rows})
    write_run(out / "other", tuned="other-lora", tuned_id="9" * 16, base="other-base", base_id="a" * 16,
              metrics=good_metrics())
    return out


def test_rows_grouped_by_base_with_paired_changes(tmp_path):
    runs = [read_run(p) for p in find_results([_zoo_like(tmp_path)])]
    board = leaderboard.build(runs)
    names = [(r.base, r.checkpoint) for r in board.rows]
    assert names == [("base", "base"), ("base", "lora-short-1x"), ("base", "lora-short-4x"),
                     ("base", "full-short-1x"), ("base", "full-short-4x"), ("base", "neftune-short-4x"),
                     ("other-base", "other-base"), ("other-base", "other-lora")]
    full4 = next(r for r in board.rows if r.checkpoint == "full-short-4x")
    c = full4.changes[B]["borrowed_rate"]
    d = [1.0 if j < 12 else 0.0 for j in range(60)]
    d = [t - (1.0 if j < 10 else 0.0) for j, t in enumerate(d)]
    mean, se = mean_se(d)
    assert c.paired and c.n == 60 and c.value == pytest.approx(mean)
    assert (c.low, c.high) == pytest.approx((mean - Z95 * se, mean + Z95 * se))
    # without samples the change falls back to the two standard errors (unpaired, wider)
    other = next(r for r in board.rows if r.checkpoint == "other-lora")
    u = other.changes[B]["borrowed_rate"]
    assert not u.paired and u.high - u.value == pytest.approx(Z95 * math.sqrt(2) * 0.002)
    base_row = board.rows[0]
    assert base_row.metrics[B]["borrowed_rate"].value == pytest.approx(10 / 60)
    assert "retention" not in base_row.metrics[K]  # a relative metric has no base value
    assert len(board.cases["0000000000000003"]) == 12


def test_csv_and_json_carry_every_metric_with_stderr_and_n(tmp_path):
    out = tmp_path / "board"
    assert cli.main(["leaderboard", str(_zoo_like(tmp_path)), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([*publish.FILES, publish.MARKER])
    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    data = json.loads((out / "leaderboard.json").read_text())
    assert len(rows) == len(data["rows"]) == 8
    lora = next(r for r in rows if r["checkpoint"] == "lora-short-4x")
    for metric in good_metrics()[T]:
        assert lora[f"{T}.{metric}"] != "" and lora[f"{T}.{metric}.stderr"] != "" and lora[f"{T}.{metric}.n"] != ""
    assert lora[f"{B}.borrowed_rate.n"] == "60" and lora[f"{B}.borrowed_rate.change.paired"] == "True"
    assert (lora["method"], lora["it_size"], lora["lm_eval_version"]) == ("lora", "180", "0.4.13")
    assert lora["suite_version"] and "itbench_knowledge_world=" in lora["task_versions"]
    md = (out / "leaderboard.md").read_text()
    board_md = md.split("## The paper's findings")[0]  # the findings tables follow the leaderboard
    assert board_md.count("\n| ") == 8 + 2 and "Δ" in md  # two table headers, eight rows


def test_untrusted_names_and_text_are_escaped(tmp_path):
    m = good_metrics()
    row = {"borrowed_rate_tuned": 1.0, "borrowed_rate_base": 0.0,
           "borrowed_cases_tuned": {"question": EVIL, "response": f"{EVIL} <img src=x onerror=alert(1)> Ulm",
                                    "span": "Ulm", "source_id": EVIL, "source_instruction": EVIL,
                                    "source_response": "ulm </div><b>", "similarity": 0.1}}
    write_run(tmp_path / "r" / "x", tuned=EVIL, method=EVIL, base=f"a|b{EVIL}", metrics=m, samples={B: [row, row]})
    out = tmp_path / "board"
    assert cli.main(["leaderboard", str(tmp_path / "r"), "--out", str(out)]) == 0
    page = (out / "index.html").read_text()
    assert "<script>alert" not in page and "<img src=x" not in page and "</div><b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # the page's own sorting script, nothing else
    assert "<mark>Ulm</mark>" in page and "<mark>ulm</mark>" in page
    assert "a\\|b" in (out / "leaderboard.md").read_text()  # a pipe cannot break the Markdown table


@pytest.mark.parametrize("damage", ["truncated", "not_results", "bad_samples"])
def test_bad_results_file_is_named_and_the_old_leaderboard_stays(tmp_path, capsys, damage):
    results = _zoo_like(tmp_path)
    out = tmp_path / "board"
    assert cli.main(["leaderboard", str(results), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    target = results / "full-short-4x" / "results.json"
    if damage == "truncated":
        target.write_text(target.read_text()[:-300])
    elif damage == "not_results":
        target.write_text(json.dumps({"hello": 1}))
    else:
        target = results / "full-short-4x" / f"samples_{B}.jsonl"
        target.write_text(target.read_text()[:-40])
    assert cli.main(["leaderboard", str(results), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(target) in err
    assert {"truncated": "truncated", "not_results": "not an lm-eval results file",
            "bad_samples": "line 60 is not valid JSON"}[damage] in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".board")]  # no half-built folder left


def test_no_results_under_a_folder_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli.main(["leaderboard", str(tmp_path / "empty"), "--out", str(tmp_path / "b")]) == 2
    assert "no results*.json under" in capsys.readouterr().err


# --- the page in a real browser -------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser_or_skip():
    if CHROMIUM is None or not _has_playwright():
        if os.environ.get("ITBENCH_REQUIRE_BROWSER"):
            pytest.fail("ITBENCH_REQUIRE_BROWSER is set but Chromium or playwright is missing: "
                        "apt-get install chromium, pip install playwright")
        pytest.skip("no Chromium (apt-get install chromium) or no playwright (pip install playwright)")


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def check_page(page_file: Path, screenshot: Path | None = None, width: int = 1400) -> dict:
    """Open the page in headless Chromium at `width` px; return what rendered and every console error."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
            page.goto(page_file.resolve().as_uri())
            info = {"rows": page.locator("table.board tbody tr").count(),
                    "plots": page.locator("svg.plot").count(),
                    "plot_names": page.eval_on_selector_all("svg.plot", "els => els.map(e => e.dataset.plot)"),
                    "plot_sizes": page.eval_on_selector_all("svg.plot", "els => els.map(e => e.getBoundingClientRect()"
                                                            ".height)"),
                    "marks": page.locator("section.cases:not([hidden]) mark").count(),
                    # a payload in a name or an output would set this marker if it ran
                    "payload_ran": page.evaluate("() => window.__itbench_pwned !== undefined")}
            board = page.locator("table.board").first
            info["groups"] = board.locator("tr.groups th").all_inner_texts()
            info["group_spans"] = board.locator("tr.groups th").evaluate_all("ths => ths.map(t => t.colSpan)")
            info["columns"] = board.locator("tr.columns th").count()
            # the checkpoint column stays in view when the table scrolls sideways
            wrap = page.locator("div.board-wrap").first
            if page.locator("div.board-wrap").count():  # pages rendered before the groups have no wrap
                info["scrolls_sideways"] = wrap.evaluate("w => w.scrollWidth > w.clientWidth")
                wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
                info["sticky_offset"] = board.locator("tbody tr td").first.evaluate(
                    "td => td.getBoundingClientRect().left - td.closest('div').getBoundingClientRect().left")
                wrap.evaluate("w => { w.scrollLeft = 0; }")
            heads = "tr.columns th" if board.locator("tr.columns").count() else "thead th"
            header = board.locator(heads, has_text="retention")
            if header.count():
                header.first.click()
                col = board.locator(heads).all_inner_texts().index(header.first.inner_text())
                values = page.locator("table.board").first.locator("tbody tr").evaluate_all(
                    f"rows => rows.map(r => r.cells[{col}].getAttribute('data-sort'))")
                nums = [float(v) for v in values if v]
                info["sorted_ascending"] = nums == sorted(nums) and len(nums) > 1
            options = page.locator("#case-select option")
            if options.count() > 1:
                page.select_option("#case-select", index=options.count() - 1)
                info["visible_case_sections"] = page.locator("section.cases:not([hidden])").count()
            if screenshot:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    info["errors"] = errors
    return info


def test_page_renders_every_row_and_plot_in_chromium(tmp_path):
    _browser_or_skip()
    results = _zoo_like(tmp_path)
    write_run(results / "evil", tuned=EVIL, tuned_id="e" * 16, metrics=good_metrics(), method=MARKER,
              samples={B: [{"borrowed_rate_tuned": 1.0, "borrowed_rate_base": 0.0,
                            "borrowed_cases_tuned": {"question": EVIL, "response": f"{EVIL} Ulm", "span": "Ulm",
                                                     "source_id": "1", "source_instruction": MARKER,
                                                     "source_response": f"Ulm {MARKER}"}}] * 2})
    out = tmp_path / "board"
    assert cli.main(["leaderboard", str(results), "--out", str(out)]) == 0
    info = check_page(out / "index.html", tmp_path / "page.png")
    assert info["errors"] == [] and not info["payload_ran"]
    assert info["rows"] == 9
    # per base: token-shift classes, KL by position, retention/forgetting, three scaling plots (the
    # second base has one checkpoint: no scaling series, so its scaling plots are left out)
    assert info["plot_names"].count("token-shift-classes") == 2
    assert {"kl-position", "retention-forgetting", "scaling-retention", "scaling-mean_kl",
            "scaling-borrowed_rate"} <= set(info["plot_names"])
    assert all(h > 60 for h in info["plot_sizes"])
    assert info["sorted_ascending"] and info["visible_case_sections"] == 1 and info["marks"] >= 2


def test_columns_are_grouped_by_failure_mode_and_the_checkpoint_stays_in_view_at_1280px(tmp_path):
    _browser_or_skip()
    results = _zoo_like(tmp_path)
    out = tmp_path / "board"
    assert cli.main(["leaderboard", str(results), "--out", str(out)]) == 0
    info = check_page(out / "index.html", tmp_path / "page-1280.png", width=1280)
    assert info["errors"] == [] and info["sorted_ascending"]
    assert info["groups"][0] == "checkpoint" and len(info["groups"]) == len(set(info["groups"])) > 2
    assert {"knowledge (finding 1)", "token shift (finding 1)", "borrowed tokens (finding 3)"} <= set(info["groups"])
    assert sum(info["group_spans"]) == info["columns"]  # every column sits under one group
    assert info["scrolls_sideways"] and abs(info["sticky_offset"]) < 2


def test_committed_leaderboard_renders_in_chromium(tmp_path):
    _browser_or_skip()
    board = ROOT / "leaderboard"
    data = json.loads((board / "leaderboard.json").read_text())
    assert "do not edit by hand" in data["meta"]["note"]
    info = check_page(board / "index.html", tmp_path / "committed.png")
    # one row per recipe (its seeds pooled), and the base
    assert info["errors"] == [] and info["rows"] == len(data["rows"]) == len(default_entries((1, 4, 16), seeds=1))
    assert all(r["seeds"] == 3 for r in data["rows"] if r["method"] != "base")
    assert len(info["plot_names"]) == 6


def test_committed_gemma_study_leaderboard_renders_in_chromium(tmp_path):
    """leaderboard/gemma-3-270m, written by `itbench study` on the real model: every checkpoint of
    the family and its base, the plots, no console error, generated findings."""
    _browser_or_skip()
    from itbench import findings

    board = ROOT / "leaderboard" / "gemma-3-270m"
    data = json.loads((board / "leaderboard.json").read_text())
    note = data["meta"]["note"]
    assert "do not edit by hand" in note and ("itbench study" in note or "$ITBENCH_HOME/study/gemma-3-270m" in note)
    info = check_page(board / "index.html", tmp_path / "gemma.png")
    # the base and at least the four recipes behind findings 1-3 (the improved ones join as evaluated)
    assert info["errors"] == [] and info["rows"] == len(data["rows"]) >= 1 + 4
    assert {"token-shift-classes", "kl-position", "retention-forgetting"} <= set(info["plot_names"])
    assert {1, 2, 3} <= {f["number"] for f in findings.read(board / "findings.json")} <= {1, 2, 3, 4}


def test_two_bases_with_one_name_stay_apart(tmp_path):
    write_run(tmp_path / "r" / "a", tuned="lora-a", tuned_id="1" * 16, base="/zoo1/base", base_id="a" * 16,
              metrics=good_metrics())
    write_run(tmp_path / "r" / "b", tuned="lora-b", tuned_id="2" * 16, base="/zoo2/base", base_id="b" * 16,
              metrics=good_metrics())
    board = leaderboard.build([read_run(p) for p in find_results([tmp_path / "r"])])
    groups = leaderboard.groups(board)
    assert [[r.checkpoint for r in g] for g in groups] == [["base", "lora-a"], ["base", "lora-b"]]
    assert render.to_markdown(board, {}).count("## base: base") == 2


def test_leaderboard_output_never_destroys_its_inputs(tmp_path, capsys):
    """--out at the results (or inside or around them), at an existing file, or at a folder of other
    things is refused with exit 2 and nothing written; a rerun replaces only the leaderboard's files."""
    results = _zoo_like(tmp_path)
    before = sorted(p.relative_to(results) for p in results.rglob("*"))
    stray = tmp_path / "notes.txt"
    stray.write_text("mine")
    other = tmp_path / "photos"
    other.mkdir()
    (other / "a.jpg").write_text("x")
    for out, why in ((results, "is, holds or lies inside"), (results / "sub", "is, holds or lies inside"),
                     (tmp_path, "is, holds or lies inside"), (stray, "existing file"), (other, "holds other things")):
        assert cli.main(["leaderboard", str(results), "--out", str(out)]) == 2
        assert why in capsys.readouterr().err
    assert sorted(p.relative_to(results) for p in results.rglob("*")) == before
    assert stray.read_text() == "mine" and [p.name for p in other.iterdir()] == ["a.jpg"]
    board = tmp_path / "board"
    assert cli.main(["leaderboard", str(results), "--out", str(board)]) == 0
    (board / "gemma-3-270m").mkdir()  # a study's leaderboard beside the world's
    (board / "gemma-3-270m" / "index.html").write_text("kept")
    assert cli.main(["leaderboard", str(results), "--out", str(board)]) == 0
    assert (board / "gemma-3-270m" / "index.html").read_text() == "kept"
    assert not [p for p in board.iterdir() if p.name.startswith(".staging")]


def test_a_manifest_field_cannot_smuggle_markup_into_the_page(tmp_path, capsys):
    """The IT-set size reaches the page as an attribute and as text: a string there is refused as
    evidence (exit 2, naming the field), and the page escapes what it writes anyway."""
    results = tmp_path / "r"
    path = write_run(results / "x", tuned="x-lora", metrics=good_metrics())
    data = json.loads(path.read_text())
    data["config"]["itbench"]["it_set"]["trained_rows"] = '"><script>alert(1)</script>'
    path.write_text(json.dumps(data))
    assert cli.main(["leaderboard", str(results), "--out", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err
    assert "it_set.trained_rows" in err and not (tmp_path / "board").exists()


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path):
    """OWASP CSV injection: a name starting with = + - @ (or a tab / carriage return) is written with a
    leading quote, so a spreadsheet shows it as text instead of running it as a formula."""
    import csv

    for i, name in enumerate(['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]):
        write_run(tmp_path / "r" / f"x{i}", tuned=name, tuned_id=f"{i:x}" * 16, metrics=good_metrics())
    out = tmp_path / "board"
    assert cli.main(["leaderboard", str(tmp_path / "r"), "--out", str(out)]) == 0
    with open(out / "leaderboard.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + 1 + 6  # header, base, six checkpoints: a carriage return starts no row
    cells = [c for row in rows for c in row]
    assert not any(c[:1] in ("=", "+", "-", "@", "\t", "\r") for c in cells if c and not _is_number(c))
    assert "'=HYPERLINK(\"http://x\",\"y\")" in cells


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_a_metric_counts_only_the_documents_it_is_defined_on(tmp_path):
    """retention is over the base-known documents; a popularity bucket of a set with no popularity
    (TriviaQA) is defined on none, and says n = 0 rather than the task's document count."""
    KT = "itbench_knowledge_triviaqa"
    nan = float("nan")
    docs = [{"retention": 1.0 if i < 3 else nan, "retention_pop_low": nan, "acc_tuned": 1.0,
             "mcnemar_p": [True, True]} for i in range(10)]
    run = read_run(write_run(tmp_path / "r", metrics={KT: {"retention": (1.0, 0.0), "retention_pop_low": nan,
                                                          "acc_tuned": (1.0, 0.0), "mcnemar_p": 1.0}},
                             samples={KT: docs}))
    assert leaderboard.metric_n(run, KT, "retention") == 3
    assert leaderboard.metric_n(run, KT, "retention_pop_low") == 0
    assert leaderboard.metric_n(run, KT, "acc_tuned") == 10
    assert leaderboard.metric_n(run, KT, "mcnemar_p") == 10  # a corpus-level test: over the task's documents
