"""Rendering a leaderboard (itbench.leaderboard.Board) to CSV, JSON and Markdown, and the cell
texts and headline columns that the HTML page (itbench.page) shares.

Every name and generated text is untrusted input: each sink escapes it (itbench.escape).
"""

from __future__ import annotations

import csv
import io
import json
import math

from itbench.escape import csv_cell, md_cell
from itbench.leaderboard import Board, Row, groups, stat, to_records
from itbench.metrics import table

# The columns a person reads first, per task family: (metric, heading). Their direction comes from
# the metric table, except where a change is neither better nor worse (NEUTRAL: no colour).
HEADLINE = {
    "knowledge": [("kept_retention", "kept retention"), ("retention", "expressed retention"),
                  ("forgetting", "expressed forgetting"), ("acc", "accuracy")],
    "token_shift": [("mean_kl", "mean KL"), ("shifted_share", "shifted share"),
                    ("shifted_style_share", "style share of shifted")],
    "pattern_copy": [("precision", "factual precision"), ("invented", "invented details"),
                     ("length", "length (words)")],
    "borrowed": [("hallucination_rate", "hallucination rate"), ("borrowed_rate", "borrowed-token rate"),
                 ("from_it_set_rate", "wrong span from the IT set")],
    "judge": [("helpfulness", "judge: helpfulness"), ("factuality", "judge: factuality"),
              ("judge_unparseable", "unparseable verdicts")],
}
NEUTRAL = {"shifted_style_share", "length"}
COLORS = {"unshifted": "#4c9a5f", "marginal": "#e0b040", "shifted": "#c8553d", "lora": "#3a6ea5",
          "full": "#c8553d", "a": "#3a6ea5", "b": "#9aa9bd", "c": "#c8553d", "d": "#e8b3a8"}


def family(task: str) -> str | None:
    return table.family_of(task)


def fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def columns(board: Board) -> list[tuple[str, str, str, bool | None]]:
    """(task, metric, heading, higher is better) of the headline columns present in the board."""
    out = []
    order = list(HEADLINE)
    for task in sorted(board.tasks, key=lambda t: (order.index(family(t)) if family(t) else len(order), t)):
        fam = family(task)
        variant = task.removeprefix(f"itbench_{fam}_") if fam else task
        for metric, heading in HEADLINE.get(fam, []):
            better = None if metric in NEUTRAL else table.higher_is_better(task, metric)
            got = [s for r in board.rows if (s := stat(r, task, metric))]
            if got:
                out.append((task, metric, f"{heading} ({variant}{_n_known(metric, got)})", better))
    return out


def _n_known(metric: str, stats: list) -> str:
    """A retention's heading says how many base-known questions it rests on (the same for every
    checkpoint of one base: n 98; several bases or selections: n 17-26)."""
    if metric not in ("retention", "kept_retention"):
        return ""
    ns = sorted({s.n for s in stats})
    return f", n {ns[0]}" if len(ns) == 1 else f", n {ns[0]}-{ns[-1]}"


def judged_note(board: Board) -> str:
    """Who scored the judged aspects: a judge's scores are only as good as the judge."""
    return ("Judged aspects (1-5; helpfulness, clarity, factuality, depth, engagement in leaderboard.csv) scored by "
            + ", ".join(md_cell(j) for j in board.judges) + "; `itbench judge audit` measures a judge's own accuracy.")


def cell_text(row: Row, task: str, metric: str) -> str:
    s = stat(row, task, metric)
    if s is None:
        return "–"
    c = row.changes.get(task, {}).get(metric)
    if c is not None:
        return f"{fmt(s.value)} (Δ {delta_text(c)})"
    lo, hi = s.ci()
    return fmt(s.value) if math.isnan(lo) else f"{fmt(s.value)} [{lo:.3f}, {hi:.3f}]"


def delta_text(c) -> str:
    if math.isnan(c.value):
        return "–"
    return f"{c.value:+.3f}" if math.isnan(c.low) else f"{c.value:+.3f} [{c.low:+.3f}, {c.high:+.3f}]"


def seeds_text(row: Row) -> str:
    return "–" if row.method == "base" else str(row.seeds)


def it_label(row: Row) -> str:
    if row.method == "base":
        return "–"
    scale = f"{row.it_scale}x" if isinstance(row.it_scale, (int, float)) else row.it_scale
    return " ".join(str(x) for x in (row.it_style, scale) if x) or "–"


# --- CSV, JSON, Markdown --------------------------------------------------------------------
def to_csv(board: Board) -> str:
    records = to_records(board)
    keys: list[str] = []
    for rec in records:
        keys += [k for k in rec if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    for rec in records:
        w.writerow({k: "" if rec.get(k) is None else csv_cell(rec[k]) for k in keys})
    return buf.getvalue()


def to_json(board: Board, meta: dict) -> str:
    return json.dumps({"meta": meta, "rows": to_records(board), "borrowed_cases": board.cases},
                      indent=1, sort_keys=True) + "\n"


def to_markdown(board: Board, meta: dict) -> str:
    cols = columns(board)
    lines = [f"# itbench leaderboard\n\n{md_cell(meta.get('note', ''))}\n",
             "Each paired metric shows the checkpoint's value and its change from its base (Δ) with the 95% "
             "interval; the other metrics already compare the two models and show their own 95% interval. "
             "A row trained under several seeds shows the seed mean, its interval covering both the items and "
             "the seed-to-seed spread (t quantile; wide when seeds disagree). "
             "Every metric, with its standard error and n, is in leaderboard.csv / leaderboard.json.\n"]
    for rows in groups(board):
        lines.append(f"## base: {md_cell(rows[0].base)} ({rows[0].base_id})\n")
        head = ["checkpoint", "method", "IT set", "items", "seeds", *(md_cell(c[2]) for c in cols)]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * (5 + len(cols)))
        for r in rows:
            size = "–" if r.it_size is None else md_cell(r.it_size)
            cells = [md_cell(r.checkpoint), md_cell(r.method), md_cell(it_label(r)), size, seeds_text(r)]
            cells += [md_cell(cell_text(r, t, m)) for t, m, _, _ in cols]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if board.judges:
        lines.append(f"{judged_note(board)}\n")
    lines.append(f"suite {meta.get('suite_version')}, lm-eval {meta.get('lm_eval_version')}, "
                 f"task versions: {md_cell(meta.get('task_versions', ''))}")
    return "\n".join(lines) + "\n"
