"""The paper's comparisons across the zoo's checkpoints, side by side with their intervals: a table
per checkpoint and the findings (LoRA vs full fine-tuning, short vs long style, borrowing).

Pure formatting over lm-eval results dicts (itbench.evaluate writes them); statistics come from
itbench.stats, each metric's interval from its declaration in itbench.metrics.table.
"""

from __future__ import annotations

import math

from itbench import stats
from itbench.evaluate import TASKS
from itbench.metrics import table

COMPARISON_HEADER = ["| question | checkpoints | difference [95% CI] -> holds? |", "|---|---|---|"]


def metric(results: dict, task: str, name: str) -> tuple[float, float]:
    """(value, stderr) of one metric; stderr NaN where lm-eval gives none."""
    r = results["results"][task]
    se = r.get(f"{name}_stderr,none")
    return float(r[f"{name},none"]), float(se) if isinstance(se, (int, float)) else math.nan


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
    counts = ((results.get("itbench") or {}).get("n") or {}).get(task) or {}
    return int(counts.get(name, n_docs(results, task)))


def diff(a: tuple[float, float], b: tuple[float, float]) -> str:
    d, se = stats.unpaired_difference(a, b)
    lo, hi = stats.normal_interval(d, se)
    return f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}] -> {stats.verdict(lo, hi)}"


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


def _pairs(results: dict[str, dict], part: str, other: str):
    """(name, counterpart) for every checkpoint whose name holds `part` and whose counterpart (the
    same name with `other` in its place) was evaluated too, in name order."""
    for name in sorted(results):
        twin = name.replace(part, other, 1)
        if part in name and twin in results:
            yield name, twin


def _row(question: str, names: str, value: str) -> str:
    return f"| {question} | {names} | {value} |"


def paper_comparisons(results: dict[str, dict]) -> str:
    """The paper's questions for every size and style the zoo has both LoRA and full for."""
    K, T = TASKS[:2]
    lines = list(COMPARISON_HEADER)
    for name, full in _pairs(results, "lora-", "full-"):
        lo, fu = results[name], results[full]
        lines += [
            _row("full fine-tuning forgets more than LoRA (retention LoRA - full)", f"{name} vs {full}",
                 diff(metric(lo, K, "retention"), metric(fu, K, "retention"))),
            _row("LoRA shifts less than full (mean KL full - LoRA)", f"{name} vs {full}",
                 diff(metric(fu, T, "mean_kl"), metric(lo, T, "mean_kl"))),
            _row("LoRA's shifted tokens are mostly style tokens (share - 0.5)", name,
                 diff(metric(lo, T, "shifted_style_share"), (0.5, 0.0))),
            _row("LoRA's shift sits at sentence starts (KL first 5% - rest)", name,
                 diff(metric(lo, T, "kl_sentence_start"), metric(lo, T, "kl_sentence_rest"))),
            _row("LoRA's shift sits at response starts (KL first 5% - rest)", name,
                 diff(metric(lo, T, "kl_response_start"), metric(lo, T, "kl_response_rest")))]
    return "\n".join(lines)


def hallucination_comparisons(results: dict[str, dict]) -> str:
    """Findings 2 and 3: the long style lowers factual precision and adds invented details; full
    fine-tuning's borrowed-token rate exceeds LoRA's and the base's."""
    _, _, PC, BT = TASKS
    lines = list(COMPARISON_HEADER)
    for name, short in _pairs(results, "-long-", "-short-"):
        lo, sh = results[name], results[short]
        lines += [_row("the long style lowers factual precision (short - long)", f"{short} vs {name}",
                       diff(metric(sh, PC, "precision_tuned"), metric(lo, PC, "precision_tuned"))),
                  _row("the long style invents more details per response (long - short)", f"{name} vs {short}",
                       diff(metric(lo, PC, "invented_tuned"), metric(sh, PC, "invented_tuned")))]
    for name in sorted(results):
        if not name.startswith("full-"):
            continue
        r = results[name]
        lines.append(_row("full fine-tuning borrows more than the base (tuned - base rate)", name,
                          diff(metric(r, BT, "borrowed_rate_tuned"), metric(r, BT, "borrowed_rate_base"))))
        lora = "lora-" + name.removeprefix("full-")
        if lora in results:
            lines.append(_row("full fine-tuning borrows more than LoRA (full - LoRA rate)", f"{name} vs {lora}",
                              diff(metric(r, BT, "borrowed_rate_tuned"),
                                   metric(results[lora], BT, "borrowed_rate_tuned"))))
    return "\n".join(lines)


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


def report(results: dict[str, dict]) -> str:
    """Every table and comparison, as Markdown."""
    return "\n\n".join([checkpoint_table(results), paper_comparisons(results), hallucination_table(results),
                        hallucination_comparisons(results)])
