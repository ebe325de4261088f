"""The leaderboard's static HTML page: a sortable table per base, plots (itbench.plots) and a
browser of borrowed-token cases. It needs no server and loads nothing; every name and generated
text is escaped (they are untrusted input).
"""

from __future__ import annotations

import math
import re
from html import escape

from itbench import plots
from itbench.leaderboard import Board, Row, groups, stat
from itbench.render import COLORS, columns, delta_text, family, fmt, it_label, seeds_text


def _sig(row: Row, task: str, metric: str, better: bool | None) -> str:
    c = row.changes.get(task, {}).get(metric)
    if c is None or better is None or math.isnan(c.low) or (c.low <= 0 <= c.high):
        return ""
    good = (c.low > 0) == better
    return " better" if good else " worse"


# the header row above the columns: one group per failure mode (a task family), in column order
GROUPS = {"knowledge": "knowledge (finding 1)", "token_shift": "token shift (finding 1)",
          "pattern_copy": "pattern copy (finding 2)", "borrowed": "borrowed tokens (finding 3)",
          "judge": "judge (five aspects)"}


def _group_row(cols) -> str:
    """`<tr class="groups">`: the checkpoint's own columns, then a cell spanning each run of columns
    of one task family."""
    from itertools import groupby

    from itbench.metrics.table import family_of

    cells = ['<th class="group" colspan="5">checkpoint</th>']
    for fam, run in groupby(cols, key=lambda c: family_of(c[0])):
        label = GROUPS.get(fam, fam or "other")
        cells.append(f'<th class="group fam-{escape(fam or "other")}" colspan="{len(list(run))}">{escape(label)}</th>')
    return f'<tr class="groups">{"".join(cells)}</tr>'


def _table_html(board: Board, rows: list[Row], cols) -> str:
    head = "".join(f'<th data-type="{t}">{escape(h)}</th>' for h, t in
                   [("checkpoint", "text"), ("method", "text"), ("IT set", "text"), ("items", "num"),
                    ("seeds", "num")])
    head += "".join(f'<th data-type="num" title="{escape(t)}: {escape(m)}">{escape(h)}</th>' for t, m, h, _ in cols)
    body = []
    for r in rows:
        cells = [f'<td data-sort="{escape(r.checkpoint)}">{escape(r.checkpoint)}</td>',
                 f'<td data-sort="{escape(r.method)}">{escape(r.method)}</td>',
                 f'<td data-sort="{escape(it_label(r))}">{escape(it_label(r))}</td>',
                 f'<td data-sort="{-1 if r.it_size is None else escape(str(r.it_size))}">'
                 f'{"–" if r.it_size is None else escape(str(r.it_size))}</td>',
                 f'<td data-sort="{0 if r.method == "base" else r.seeds}">{seeds_text(r)}</td>']
        for t, m, _, better in cols:
            s = stat(r, t, m)
            if s is None:
                cells.append('<td data-sort="">–</td>')
                continue
            c = r.changes.get(t, {}).get(m)
            if c is not None:
                inner = (f'{fmt(s.value)}<br><small class="delta{_sig(r, t, m, better)}">Δ {delta_text(c)}'
                         f'{"" if c.paired else " unpaired"}</small>')
            else:
                lo, hi = s.ci()
                inner = fmt(s.value) + ("" if math.isnan(lo) else f'<br><small>[{lo:.3f}, {hi:.3f}]</small>')
            sort = "" if math.isnan(s.value) else f"{s.value:.6f}"
            cells.append(f'<td data-sort="{sort}" title="n = {s.n}">{inner}</td>')
        body.append(f'<tr class="{"base-row" if r.method == "base" else ""}">{"".join(cells)}</tr>')
    return (f'<div class="board-wrap"><table class="board sortable"><thead>{_group_row(cols)}<tr class="columns">'
            f'{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def _values(rows: list[Row], task: str | None, metric: str) -> tuple[list[float], list[float], list[float]]:
    vals, lows, highs = [], [], []
    for r in rows:
        s = stat(r, task, metric) if task else None
        vals.append(math.nan if s is None else s.value)
        lo, hi = (math.nan, math.nan) if s is None else s.ci()
        lows.append(lo)
        highs.append(hi)
    return vals, lows, highs


def _first(board: Board, fam: str) -> str | None:
    """The family's task to plot: the world variant when present, else the first."""
    tasks = [t for t in board.tasks if family(t) == fam]
    return next((t for t in tasks if t.endswith("_world")), tasks[0] if tasks else None)


def plots_html(board: Board, rows: list[Row]) -> list[str]:
    tuned = [r for r in rows if r.method != "base"]
    labels = [r.checkpoint for r in tuned]
    out = []
    ts, kn, bt = _first(board, "token_shift"), _first(board, "knowledge"), _first(board, "borrowed")
    if ts:
        shares = [(f"{cls} ({ranks})", COLORS[cls], _values(tuned, ts, f"{cls}_share")[0])
                  for cls, ranks in (("unshifted", "rank 1"), ("marginal", "2-3"), ("shifted", ">3"))]
        out.append(plots.stacked_bars("token-shift-classes", "Token-shift classes: the base's rank of each token "
                                      "the tuned model emits", labels, shares))
        kl = [("response: first 5%", COLORS["c"], _values(tuned, ts, "kl_response_start")[0]),
              ("response: rest", COLORS["d"], _values(tuned, ts, "kl_response_rest")[0]),
              ("sentence: first 5%", COLORS["a"], _values(tuned, ts, "kl_sentence_start")[0]),
              ("sentence: rest", COLORS["b"], _values(tuned, ts, "kl_sentence_rest")[0])]
        out.append(plots.grouped_bars("kl-position", "KL(tuned || base) in the first 5% vs the rest", labels, kl))
    if kn:
        series = [("retention", COLORS["lora"], *_values(tuned, kn, "retention")),
                  ("forgetting", COLORS["full"], *_values(tuned, kn, "forgetting"))]
        out.append(plots.dot_whiskers("retention-forgetting", "Knowledge retention and forgetting, with 95% "
                                      "intervals", labels, series))
    for task, metric, title in ((kn, "retention", "Retention"), (ts, "mean_kl", "Mean KL"),
                                (bt, "borrowed_rate", "Borrowed-token rate")):
        if not task:
            continue
        series = []
        for method in ("lora", "full"):
            for style in sorted({r.it_style for r in tuned if r.method == method and r.it_style}):
                pts = sorted((r for r in tuned if r.method == method and r.it_style == style and r.it_size),
                             key=lambda r: r.it_size)
                if len(pts) < 2:
                    continue
                v, lo, hi = _values(pts, task, metric)
                series.append((f"{method} ({style})", COLORS[method], [float(r.it_size) for r in pts], v, lo, hi))
        if series:
            out.append(plots.lines(f"scaling-{metric}", f"{title} against IT-set size: LoRA vs full fine-tuning",
                                   "IT-set items (log scale)", series))
    return out


def _highlight(text: str, span: str) -> str:
    """`text` escaped, with whole-word occurrences of `span` wrapped in <mark>."""
    text = str(text or "")
    if not span:
        return escape(text)
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, str(span).split())) + r"(?!\w)", re.IGNORECASE)
    out, last = [], 0
    for m in pattern.finditer(text):
        out += [escape(text[last:m.start()]), f"<mark>{escape(m.group(0))}</mark>"]
        last = m.end()
    return "".join(out) + escape(text[last:])


def cases_html(board: Board, rows: list[Row], per_checkpoint: int) -> str:
    tuned = [r for r in rows if r.method != "base" and board.cases.get(r.checkpoint_id)]
    if not tuned:
        return "<p>No borrowed-token cases in these results (run a borrowed task with --log_samples).</p>"
    options = "".join(f'<option value="{escape(r.checkpoint_id)}">{escape(r.checkpoint)} '
                      f'({len(board.cases[r.checkpoint_id])})</option>' for r in tuned)
    blocks = []
    for r in tuned:
        cases = board.cases[r.checkpoint_id]
        items = []
        for c in cases[:per_checkpoint]:
            items.append(
                '<div class="case"><div class="side"><h4>question</h4><p>' + escape(str(c.get("question") or ""))
                + '</p><h4>tuned model answered</h4><p>' + _highlight(c.get("response"), c.get("span"))
                + '</p></div><div class="side source"><h4>source IT instance '
                + escape(str(c.get("source_id") or "")) + '</h4><p><b>instruction:</b> '
                + escape(str(c.get("source_instruction") or "")) + '</p><p><b>response:</b> '
                + _highlight(c.get("source_response"), c.get("span")) + '</p></div></div>')
        more = (f"<p>{len(cases) - per_checkpoint} more in leaderboard.json.</p>" if len(cases) > per_checkpoint
                else "")
        blocks.append(f'<section class="cases" data-checkpoint="{escape(r.checkpoint_id)}"><h3>'
                      f'{escape(r.checkpoint)}: {len(cases)} borrowed cases</h3>{"".join(items)}{more}</section>')
    return (f'<label>checkpoint <select id="case-select">{options}</select></label>' + "".join(blocks))


SCRIPT = """
document.querySelectorAll('table.sortable tr.columns th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0];
    var asc = th.getAttribute('data-dir') !== 'asc';
    table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-dir'); });
    th.setAttribute('data-dir', asc ? 'asc' : 'desc');
    var num = th.getAttribute('data-type') === 'num';
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute('data-sort'), y = b.cells[col].getAttribute('data-sort');
      if (num) {
        var u = x === '' ? NaN : parseFloat(x), v = y === '' ? NaN : parseFloat(y);
        if (isNaN(u)) return 1; if (isNaN(v)) return -1;
        return asc ? u - v : v - u;
      }
      return asc ? x.localeCompare(y) : y.localeCompare(x);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
var select = document.getElementById('case-select');
function showCases() {
  document.querySelectorAll('section.cases').forEach(function (s) {
    s.hidden = s.getAttribute('data-checkpoint') !== select.value;
  });
}
if (select) { select.addEventListener('change', showCases); showCases(); }
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1400px; }
table.board { border-collapse: collapse; font-size: 13px; }
table.board th, table.board td, table.findings th, table.findings td { border: 1px solid #ddd; padding: 4px 6px;
  vertical-align: top; }
table.findings { border-collapse: collapse; font-size: 13px; } table.findings th { background: #f3f3f3; }
div.board-wrap { overflow: auto; max-height: 85vh; }
table.board th { background: #f3f3f3; position: sticky; top: 0; z-index: 2; }
table.board tr.columns th { cursor: pointer; top: 1.9em; }
table.board tr.groups th { text-align: left; background: #e6e9ef; white-space: nowrap; }
table.board td:first-child, table.board tr.columns th:first-child { position: sticky; left: 0; z-index: 1;
  background: #fff; box-shadow: 1px 0 0 #ddd; }
table.board tr.columns th:first-child { z-index: 3; background: #f3f3f3; }
table.board tr.base-row td:first-child { background: #f8f8ee; }
table.board th[data-dir=asc]::after { content: " ▲"; } table.board th[data-dir=desc]::after { content: " ▼"; }
tr.base-row { background: #f8f8ee; font-weight: 600; }
small.delta { color: #555; } small.better { color: #1f7a3a; } small.worse { color: #b3261e; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; } svg.plot { border: 1px solid #eee; background: #fff; }
.case { display: flex; gap: 1em; border-top: 1px solid #ddd; padding: .5em 0; }
.case .side { flex: 1; } .case h4 { margin: .2em 0; font-size: 12px; color: #555; }
mark { background: #ffd54f; }
"""


def findings_html(findings: list[dict]) -> str:
    """The paper's findings as a table: each difference with its interval over seeds and items."""
    rows = []
    for f in findings:
        ci = "" if f.get("low") is None else f" [{f['low']:+.3f}, {f['high']:+.3f}]"
        est = "–" if f.get("estimate") is None else f"{f['estimate']:+.3f}"
        rows.append(f"<tr><td>{escape(str(f.get('number')))}</td><td>{escape(str(f['finding']))}</td>"
                    f"<td>{escape(' vs '.join(map(str, f.get('checkpoints', []))))}</td>"
                    f"<td>{escape(str(f.get('seeds')))}</td><td>{escape(est + ci)}</td>"
                    f"<td>{escape(str(f.get('verdict')))}</td></tr>")
    return ('<h2>The paper\'s findings</h2><p>Each claim is a difference expected to be positive: its seed mean with '
            'a 95% interval over training seeds and items; "yes" only when the interval excludes zero.</p>'
            '<table class="findings"><thead><tr><th>#</th><th>question</th><th>checkpoints</th><th>seeds</th>'
            f'<th>estimate [95% CI]</th><th>verdict</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def to_html(board: Board, meta: dict, findings: list[dict] | None = None, cases_per_checkpoint: int = 30) -> str:
    cols = columns(board)
    parts = [f"<h1>itbench leaderboard</h1><p>{escape(str(meta.get('note', '')))}</p>",
             "<p>Click a column to sort. Paired metrics show the checkpoint's value and its change from its base "
             "(Δ) with the 95% interval, green where it is better, red where worse; the other metrics already "
             "compare the two models and show their own 95% interval. Hover a cell for n. Every metric: "
             '<a href="leaderboard.csv">leaderboard.csv</a>, <a href="leaderboard.json">leaderboard.json</a>.</p>']
    if board.judges:
        parts.append(f"<p>Judged aspects (1-5) scored by {escape(', '.join(board.judges))}; "
                     "<code>itbench judge audit</code> measures a judge's own accuracy.</p>")
    for rows in groups(board):
        parts.append(f"<h2>base: {escape(rows[0].base)} <small>({escape(rows[0].base_id)})</small></h2>")
        parts.append(_table_html(board, rows, cols))
        parts.append('<h3>Plots</h3><div class="plots">' + "".join(plots_html(board, rows)) + "</div>")
        parts.append("<h3>Borrowed-token cases</h3><p>Wrong answers whose wrong words occur in the response of "
                     "a conceptually similar instance of the checkpoint's IT set (highlighted on both sides).</p>"
                     + cases_html(board, rows, cases_per_checkpoint))
    if findings:
        parts.append(findings_html(findings))
    parts.append(f"<p><small>suite {escape(str(meta.get('suite_version')))}, lm-eval "
                 f"{escape(str(meta.get('lm_eval_version')))}; task versions "
                 f"{escape(str(meta.get('task_versions')))}</small></p>")
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>itbench leaderboard</title>'
            f'<meta name="viewport" content="width=device-width"><style>{STYLE}</style></head><body>'
            + "\n".join(parts) + f"<script>{SCRIPT}</script></body></html>\n")
