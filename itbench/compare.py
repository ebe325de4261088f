"""Run the paired tasks for every tuned checkpoint of a zoo against its base, and set the
paper's comparisons side by side with 95% intervals.

Results are lm-eval's own results JSON, one file per checkpoint, cached by the checkpoint's and
the base's fingerprints and the task versions: a rerun evaluates only what changed.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

from itbench.models import checkpoint
from itbench.utils import atomic

TASKS = ("itbench_knowledge_world", "itbench_token_shift_world", "itbench_pattern_copy_world", "itbench_borrowed_world")
Z95 = 1.96
COMPARISON_HEADER = ["| question | checkpoints | difference [95% CI] -> holds? |", "|---|---|---|"]


@functools.cache
def task_versions() -> dict:
    """Every itbench task's metadata version, as installed."""
    import yaml

    from itbench.tasks import tasks_path

    out = {}
    for path in Path(tasks_path()).rglob("itbench_*.yaml"):
        with open(path) as f:
            data = yaml.safe_load(f.read().replace("!function", ""))
        out[data["task"]] = data.get("metadata", {}).get("version")
    return out


RESULTS_FILE = "results.json"
LAYOUT = 2  # results.json + samples_<task>.jsonl per checkpoint folder (1: a results file alone)


def run_paired(base: str | Path, candidate: str | Path, tasks: list[str], folder: Path, log: Path,
               limit: int | None = None, extra: dict | None = None, model_args: str = "") -> dict:
    """One lm-eval run of `tasks` with the candidate (a full checkpoint or a LoRA adapter) paired
    with its base. Written to `folder`: lm-eval's results.json and one samples_<task>.jsonl per task
    (each document with both models' answers and per-document metrics, borrowed cases included), as
    `lm_eval --output_path --log_samples` writes them; the folder is replaced whole or not at all.
    lm-eval's own output goes to `log`; `model_args` adds to the paired model's (e.g. backend=vllm)."""
    import contextlib

    import lm_eval
    from lm_eval.utils import handle_non_serializable

    import itbench.models.paired  # noqa: F401  (registers --model itbench)
    from itbench.tasks import task_manager

    arg = "lora" if checkpoint.is_adapter(candidate) else "tuned"
    args = ",".join(filter(None, [f"base={base},{arg}={candidate}", model_args]))
    # lm-eval prints a line per bootstrapped metric and a bar per request batch: hundreds of lines
    # per checkpoint. They go to the log; the caller prints one line per checkpoint.
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as logf, contextlib.redirect_stdout(logf), contextlib.redirect_stderr(logf):
        res = lm_eval.simple_evaluate(model="itbench", model_args=args,
                                      tasks=list(tasks), task_manager=task_manager(),
                                      bootstrap_iters=1000, limit=limit, log_samples=True)
    samples = res.pop("samples")
    res["itbench"] = extra or {}
    with atomic.build_dir(folder) as tmp:
        (tmp / RESULTS_FILE).write_text(json.dumps(res, default=handle_non_serializable, indent=1))
        for task, rows in samples.items():
            with open(tmp / f"samples_{task}.jsonl", "w") as f:
                for row in rows:
                    f.write(json.dumps(row, default=handle_non_serializable) + "\n")
    return json.loads((folder / RESULTS_FILE).read_text())


def evaluate_checkpoint(zoo: Path, name: str, out_dir: Path, world: Path, limit: int | None = None) -> dict:
    """lm-eval results of one zoo checkpoint paired with the zoo's base, in out_dir/<name>/ (cached
    by both fingerprints, the task versions and the limit)."""
    import os

    path = zoo / name
    key = atomic.sha256_json({"tuned": checkpoint.weights_fingerprint(path),
                              "base": checkpoint.weights_fingerprint(zoo / "base"),
                              "tasks": task_versions(), "limit": limit, "layout": LAYOUT})[:16]
    folder = out_dir / name
    cached = _read_cached(folder / RESULTS_FILE, key)
    if cached is not None:
        return cached
    os.environ["ITBENCH_WORLD"] = str(world)  # the world tasks read it when lm-eval builds them
    return run_paired(zoo / "base", path, list(TASKS), folder, out_dir / f"{name}.log", limit=limit,
                      extra={"key": key, "checkpoint": name,
                             "manifest": checkpoint.read_manifest(path, required=False)})


def _read_cached(path: Path, key: str) -> dict | None:
    if not path.exists():
        return None
    try:
        cached = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # a damaged cache entry is recomputed
    return cached if cached.get("itbench", {}).get("key") == key else None


def metric(results: dict, task: str, name: str) -> tuple[float, float]:
    """(value, stderr) of one metric; stderr NaN where lm-eval gives none."""
    r = results["results"][task]
    se = r.get(f"{name}_stderr,none")
    return float(r[f"{name},none"]), float(se) if isinstance(se, (int, float)) else float("nan")


def ci(value: float, se: float) -> str:
    if math.isnan(se):
        return f"{value:.3f}"
    return f"{value:.3f} [{value - Z95 * se:.3f}, {value + Z95 * se:.3f}]"


def diff(a: tuple[float, float], b: tuple[float, float]) -> str:
    d, se = a[0] - b[0], math.sqrt(a[1] ** 2 + b[1] ** 2)
    verdict = "yes" if d - Z95 * se > 0 else ("no (reversed)" if d + Z95 * se < 0 else "not significant")
    return f"{d:+.3f} [{d - Z95 * se:+.3f}, {d + Z95 * se:+.3f}] -> {verdict}"


def checkpoint_table(results: dict[str, dict]) -> str:
    K, T = TASKS[:2]
    rows = ["| checkpoint | retention | forgetting | knowledge gained | mean KL | shifted share | "
            "style share of shifted | KL sentence start / rest | KL response start / rest |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        cells = [ci(*metric(r, K, "retention")), ci(*metric(r, K, "forgetting")),
                 ci(*metric(r, K, "knowledge_gained")), ci(*metric(r, T, "mean_kl")),
                 ci(*metric(r, T, "shifted_share")), ci(*metric(r, T, "shifted_style_share")),
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


def paper_comparisons(results: dict[str, dict]) -> str:
    """The paper's questions for every size and style the zoo has both LoRA and full for."""
    K, T = TASKS[:2]
    lines = list(COMPARISON_HEADER)
    for name, full in _pairs(results, "lora-", "full-"):
        lo, fu = results[name], results[full]
        lines.append(f"| full fine-tuning forgets more than LoRA (retention LoRA - full) | {name} vs {full} | "
                     f"{diff(metric(lo, K, 'retention'), metric(fu, K, 'retention'))} |")
        lines.append(f"| LoRA shifts less than full (mean KL full - LoRA) | {name} vs {full} | "
                     f"{diff(metric(fu, T, 'mean_kl'), metric(lo, T, 'mean_kl'))} |")
        style = metric(lo, T, "shifted_style_share")
        lines.append(f"| LoRA's shifted tokens are mostly style tokens (share - 0.5) | {name} | "
                     f"{diff(style, (0.5, 0.0))} |")
        lines.append(f"| LoRA's shift sits at sentence starts (KL first 5% - rest) | {name} | "
                     f"{diff(metric(lo, T, 'kl_sentence_start'), metric(lo, T, 'kl_sentence_rest'))} |")
        lines.append(f"| LoRA's shift sits at response starts (KL first 5% - rest) | {name} | "
                     f"{diff(metric(lo, T, 'kl_response_start'), metric(lo, T, 'kl_response_rest'))} |")
    return "\n".join(lines)


def hallucination_comparisons(results: dict[str, dict]) -> str:
    """Findings 2 and 3: the long style lowers factual precision and adds invented details; full
    fine-tuning's borrowed-token rate exceeds LoRA's and the base's."""
    _, _, PC, BT = TASKS
    lines = list(COMPARISON_HEADER)
    for name, short in _pairs(results, "-long-", "-short-"):
        lo, sh = results[name], results[short]
        lines.append(f"| the long style lowers factual precision (short - long) | {short} vs {name} | "
                     f"{diff(metric(sh, PC, 'precision_tuned'), metric(lo, PC, 'precision_tuned'))} |")
        lines.append(f"| the long style invents more details per response (long - short) | {name} vs {short} | "
                     f"{diff(metric(lo, PC, 'invented_tuned'), metric(sh, PC, 'invented_tuned'))} |")
    for name in sorted(results):
        if not name.startswith("full-"):
            continue
        r = results[name]
        lines.append(f"| full fine-tuning borrows more than the base (tuned - base rate) | {name} | "
                     f"{diff(metric(r, BT, 'borrowed_rate_tuned'), metric(r, BT, 'borrowed_rate_base'))} |")
        lora = "lora-" + name.removeprefix("full-")
        if lora in results:
            d = diff(metric(r, BT, "borrowed_rate_tuned"), metric(results[lora], BT, "borrowed_rate_tuned"))
            lines.append(f"| full fine-tuning borrows more than LoRA (full - LoRA rate) | {name} vs {lora} | {d} |")
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
            f"{ci(*metric(r, PC, 'precision_tuned'))} / {metric(r, PC, 'precision_base')[0]:.2f} | "
            f"{ci(*metric(r, PC, 'invented_tuned'))} / {metric(r, PC, 'invented_base')[0]:.2f} | "
            f"{ci(*metric(r, BT, 'hallucination_rate_tuned'))} | {ci(*metric(r, BT, 'borrowed_share_tuned'))} | "
            f"{ci(*metric(r, BT, 'borrowed_rate_tuned'))} / {metric(r, BT, 'borrowed_rate_base')[0]:.3f} | "
            f"{int(metric(r, BT, 'borrowed_cases_tuned')[0])} |")
    return "\n".join(rows)
