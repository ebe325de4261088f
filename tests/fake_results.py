"""Hand-made lm-eval results of itbench runs, in the layout `itbench compare` writes, for the
leaderboard and gate tests: every number is chosen by the test, so every verdict is known."""

from __future__ import annotations

import json
import math
from pathlib import Path

import itbench
from itbench.evaluate import task_versions

K, T, P, B = ("itbench_knowledge_world", "itbench_token_shift_world", "itbench_pattern_copy_world",
              "itbench_borrowed_world")


def write_run(folder: Path, *, tuned: str = "lora-a", tuned_id: str = "t" * 16, base: str = "base",
              base_id: str = "b" * 16, method: str = "lora", style: str | None = "short", scale: int | None = 4,
              size: int | None = 180, metrics: dict | None = None, samples: dict | None = None,
              versions: dict | None = None, suite_version: str | None = None, date: float = 1.0,
              replicate: dict | None = None) -> Path:
    """Write results.json (+ samples_<task>.jsonl) into `folder`. `metrics` is {task: {metric:
    (value, stderr) or value}}; `samples` is {task: [per-document dicts]}."""
    metrics = metrics or {}
    results, n = {}, {}
    for task, ms in metrics.items():
        r = {"alias": task}
        for name, v in ms.items():
            value, se = v if isinstance(v, tuple) else (v, "N/A")
            r[f"{name},none"] = value
            r[f"{name}_stderr,none"] = se
        results[task] = r
        n[task] = {"original": len((samples or {}).get(task, [])) or 400,
                   "effective": len((samples or {}).get(task, [])) or 400}
    installed = task_versions()
    data = {
        "results": results,
        "versions": {t: (versions or {}).get(t, installed.get(t, 1.0)) for t in results},
        "n-samples": n,
        "config": {"model": "itbench", "model_args": f"base={base},lora={tuned}",
                   "itbench": {"suite_version": suite_version or itbench.__version__,
                               "base": {"name": base, "fingerprint": base_id},
                               "tuned": {"name": tuned, "path": tuned, "fingerprint": tuned_id, "kind": "lora"},
                               "method": method,
                               "it_set": {"style": style, "scale": scale, "trained_rows": size, "rows": size},
                               **({"replicate": replicate} if replicate else {})}},
        "lm_eval_version": "0.4.13",
        "date": date,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(data))
    for task, rows in (samples or {}).items():
        (folder / f"samples_{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder / "results.json"


def mean_se(xs: list[float]) -> tuple[float, float]:
    xs = [x for x in xs if not math.isnan(x)]
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs))


def borrowed_pairs(tuned: list[float], base: list[float]) -> tuple[dict, list[dict]]:
    """good_metrics() with the borrowed task's borrowed and hallucination rates taken from per-document
    values of both models (the same values for both rates), and those documents as samples rows."""
    rows = [{"borrowed_rate_tuned": t, "borrowed_rate_base": b, "hallucination_rate_tuned": t,
             "hallucination_rate_base": b} for t, b in zip(tuned, base, strict=True)]
    m = good_metrics()
    for key, xs in (("borrowed_rate_tuned", tuned), ("borrowed_rate_base", base), ("hallucination_rate_tuned", tuned),
                    ("hallucination_rate_base", base)):
        m[B][key] = mean_se(xs)
    return m, rows


def good_metrics() -> dict:
    """A candidate that passes the default policy."""
    return {K: {"retention": (0.97, 0.01), "forgetting": (0.03, 0.01), "acc_tuned": (0.7, 0.02),
                "acc_base": (0.7, 0.02), "kept_retention": (0.98, 0.01), "kept_acc_tuned": (0.7, 0.02),
                "kept_acc_base": (0.7, 0.02)},
            T: {"shifted_share": (0.08, 0.01), "unshifted_share": (0.85, 0.01), "marginal_share": (0.07, 0.01),
                "mean_kl": (0.4, 0.05), "shifted_style_share": (0.8, 0.05), "kl_response_start": (1.2, 0.1),
                "kl_response_rest": (0.3, 0.05), "kl_sentence_start": (0.9, 0.1), "kl_sentence_rest": (0.3, 0.05)},
            P: {"precision_tuned": (0.93, 0.01), "precision_base": (0.93, 0.01), "invented_tuned": (0.1, 0.05),
                "invented_base": (0.1, 0.05), "length_tuned": (20.0, 1.0), "length_base": (21.0, 1.0)},
            B: {"hallucination_rate_tuned": (0.04, 0.005), "hallucination_rate_base": (0.04, 0.005),
                "borrowed_rate_tuned": (0.005, 0.002), "borrowed_rate_base": (0.005, 0.002),
                "borrowed_cases_tuned": 1, "borrowed_cases_base": 1}}
