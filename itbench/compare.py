"""The zoo's checkpoints side by side with their intervals (a table per family of metrics, one row
per checkpoint and seed) and the paper's findings over seeds (itbench.findings).

Pure formatting over lm-eval results dicts (itbench.evaluate writes them); statistics come from
itbench.stats, each metric's interval from its declaration in itbench.metrics.table.
"""

from __future__ import annotations

import math
from pathlib import Path

from itbench.evaluate import TASKS
from itbench.metrics import table


def metric(results: dict, task: str, name: str) -> tuple[float, float]:
    """(value, stderr) of one metric; NaN where lm-eval gives none (or the run lacks the task)."""
    r = results["results"].get(task, {})
    v, se = r.get(f"{name},none"), r.get(f"{name}_stderr,none")
    return (float(v) if isinstance(v, (int, float)) else math.nan,
            float(se) if isinstance(se, (int, float)) else math.nan)


def n_docs(results: dict, task: str) -> int:
    return int(((results.get("n-samples") or {}).get(task) or {}).get("effective", 0))


def ci(results: dict, task: str, name: str) -> str:
    """A metric's value with its 95% interval (Wilson's for proportions; inside the metric's range)."""
    value, se = metric(results, task, name)
    spec = table.lookup(task, name)
    if spec is None or (math.isnan(se) and not spec.proportion):
        return f"{value:.3f}"
    lo, hi = spec.interval(value, se, _n(results, task, name))
    return f"{value:.3f}" if math.isnan(lo) else f"{value:.3f} [{lo:.3f}, {hi:.3f}]"


def _n(results: dict, task: str, name: str) -> int:
    """Documents a metric is defined on (a conditional one, NaN elsewhere, on fewer than the task's)."""
    counts = ((results.get("itbench") or {}).get("n") or {}).get(task)
    spec = table.lookup(task, name)
    if counts is None or spec is None or spec.corpus not in ("mean", "nanmean"):
        return n_docs(results, task)
    return int(counts.get(name, 0))  # a per-document metric that is NaN everywhere is defined on none


def checkpoint_table(results: dict[str, dict]) -> str:
    K, T = TASKS[:2]
    rows = ["| checkpoint | retention | forgetting | knowledge gained | mean KL | shifted share | "
            "style share of shifted | KL sentence start / rest | KL response start / rest |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        cells = [ci(r, K, "retention"), ci(r, K, "forgetting"), ci(r, K, "knowledge_gained"), ci(r, T, "mean_kl"),
                 ci(r, T, "shifted_share"), ci(r, T, "shifted_style_share"),
                 f"{metric(r, T, 'kl_sentence_start')[0]:.2f} / {metric(r, T, 'kl_sentence_rest')[0]:.2f}",
                 f"{metric(r, T, 'kl_response_start')[0]:.2f} / {metric(r, T, 'kl_response_rest')[0]:.2f}"]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def hallucination_table(results: dict[str, dict]) -> str:
    _, _, PC, BT = TASKS
    rows = ["| checkpoint | length (words) tuned / base | length / IT-set length | template similarity | "
            "factual precision tuned / base | invented details per response tuned / base | "
            "hallucination rate | borrowed share of hallucinations | borrowed rate tuned / base | cases logged |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        rows.append(
            f"| {name} | {metric(r, PC, 'length_tuned')[0]:.1f} / {metric(r, PC, 'length_base')[0]:.1f} | "
            f"{metric(r, PC, 'length_pattern')[0]:.2f} | {metric(r, PC, 'template_similarity')[0]:.2f} | "
            f"{ci(r, PC, 'precision_tuned')} / {metric(r, PC, 'precision_base')[0]:.2f} | "
            f"{ci(r, PC, 'invented_tuned')} / {metric(r, PC, 'invented_base')[0]:.2f} | "
            f"{ci(r, BT, 'hallucination_rate_tuned')} | {ci(r, BT, 'borrowed_share_tuned')} | "
            f"{ci(r, BT, 'borrowed_rate_tuned')} / {metric(r, BT, 'borrowed_rate_base')[0]:.3f} | "
            f"{int(metric(r, BT, 'borrowed_cases_tuned')[0])} |")
    return "\n".join(rows)


def report(results: dict[str, dict], folder: Path) -> str:
    """Every checkpoint's table (one row per checkpoint, each seed its own) and the paper's findings
    over seeds (itbench.findings), as Markdown; the runs are read back from `folder`/<name>/."""
    from itbench import findings
    from itbench.evaluate import RESULTS_FILE
    from itbench.results import read_run

    runs = [read_run(folder / name / RESULTS_FILE) for name in results]
    found = findings.compute(runs) + findings.causal_findings(folder)
    return "\n\n".join([checkpoint_table(results), hallucination_table(results),
                        "## The paper's findings (seed means, 95% intervals over seeds and items)\n\n"
                        + findings.render_markdown(found)])
