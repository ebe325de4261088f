"""Running itbench's tasks through lm-eval with the paired model: one run of a candidate against its
base, and the cached run of every zoo checkpoint.

Results are lm-eval's own results JSON and samples JSONL, one folder per checkpoint, cached by the
checkpoint's and the base's fingerprints and the task versions: a rerun evaluates only what changed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from pathlib import Path

from itbench import paths, stats
from itbench.models import checkpoint
from itbench.utils import atomic

TASKS = ("itbench_knowledge_world", "itbench_token_shift_world", "itbench_pattern_copy_world", "itbench_borrowed_world")
RESULTS_FILE = "results.json"
# The organisms' generation batch (the paired model's default is 8, for models of a GPU's size): a
# world checkpoint's paired run took 8.0 s at 64 against 14.5-20.9 s at 8, with the same metrics
# (full-short-1x, 2026-12-06).
WORLD_BATCH = 64
LAYOUT = 3  # results.json (with per-metric counts) + samples_<task>.jsonl per checkpoint folder


@functools.cache
def task_versions() -> dict:
    """Every itbench task's metadata version, as installed."""
    import yaml

    out = {}
    for path in paths.tasks().rglob("itbench_*.yaml"):
        with open(path) as f:
            data = yaml.safe_load(f.read().replace("!function", ""))
        out[data["task"]] = data.get("metadata", {}).get("version")
    return out


def in_process_bootstrap() -> None:
    """lm-eval bootstraps each metric's stderr in a multiprocessing pool, which forks the whole
    process (both models and their caches: gigabytes at Gemma's size) once per metric: 4% of the
    Gemma study's evaluation time in a profile. DISABLE_MULTIPROC makes it draw in-process with the
    same seeds, so the stderrs are identical; a value the user set is kept."""
    os.environ.setdefault("DISABLE_MULTIPROC", "1")


def run_paired(base: str | Path, candidate: str | Path, tasks: list[str], folder: Path, log: Path,
               limit: int | None = None, extra: dict | None = None, model_args: str = "",
               metadata: dict | None = None) -> dict:
    """One lm-eval run of `tasks` with the candidate (a full checkpoint or a LoRA adapter) paired
    with its base. Written to `folder`: lm-eval's results.json and one samples_<task>.jsonl per task
    (each document with both models' answers and per-document metrics, borrowed cases included), as
    `lm_eval --output_path --log_samples` writes them; the folder is replaced whole or not at all.
    lm-eval's own output goes to `log`; `model_args` adds to the paired model's (e.g. backend=vllm),
    `metadata` goes to every task's loader (e.g. n_questions)."""
    import lm_eval
    from lm_eval.utils import handle_non_serializable

    import itbench.models.paired  # noqa: F401  (registers --model itbench)
    from itbench.tasks import task_manager

    in_process_bootstrap()
    arg = "lora" if checkpoint.is_adapter(candidate) else "tuned"
    args = ",".join(filter(None, [f"base={base},{arg}={candidate}", model_args]))
    # lm-eval prints a line per bootstrapped metric and a bar per request batch: hundreds of lines
    # per checkpoint. They go to the log; the caller prints one line per checkpoint.
    log.parent.mkdir(parents=True, exist_ok=True)
    from lm_eval.api.registry import get_model

    with open(log, "w") as logf, contextlib.redirect_stdout(logf), contextlib.redirect_stderr(logf):
        # the model is made here, not by lm-eval, so that it is closed after the run: a vLLM
        # engine holds worker processes and a share of the RAM until it is shut down
        lm = get_model("itbench").create_from_arg_string(args)
        try:
            # no bootstrap: the standard errors of mean metrics are computed below, in closed form
            res = lm_eval.simple_evaluate(model=lm, model_args=args, tasks=list(tasks),
                                          task_manager=task_manager(metadata), bootstrap_iters=0, limit=limit,
                                          log_samples=True)
        finally:
            lm.close()
    res["config"]["model"] = "itbench"  # as `lm_eval --model itbench` records it
    samples = res.pop("samples")
    closed_form_stderrs(res["results"], samples)
    res["itbench"] = {**(extra or {}), "n": {task: metric_counts(rows) for task, rows in samples.items()}}
    with atomic.build_dir(folder) as tmp:
        (tmp / RESULTS_FILE).write_text(json.dumps(res, default=handle_non_serializable, indent=1))
        for task, rows in samples.items():
            with open(tmp / f"samples_{task}.jsonl", "w") as f:
                for row in rows:
                    f.write(json.dumps(row, default=handle_non_serializable) + "\n")
    return json.loads((folder / RESULTS_FILE).read_text())


def closed_form_stderrs(results: dict, samples: dict[str, list[dict]]) -> None:
    """The standard error of every metric aggregated as a mean (lm-eval's "mean" and "nanmean"),
    from the per-document values: sd / sqrt(n) over the documents where it is a number. lm-eval
    gives "mean" this closed form but bootstraps "nanmean" in Python (1,000 draws: about 80 ms a
    metric, 40 metrics a checkpoint on the world tasks, and a 2% wobble); the closed form is what
    that bootstrap estimates. Other corpus-level metrics keep lm-eval's "N/A"."""
    import math

    from itbench.metrics import table

    for task, rows in samples.items():
        for key in list(results.get(task, {})):
            name, _, filt = key.partition(",")
            metric = table.lookup(task, name)
            if "_stderr" in name or not filt or metric is None or metric.corpus not in ("mean", "nanmean"):
                continue
            values = [r[name] for r in rows if isinstance(r.get(name), (int, float)) and not isinstance(r[name], bool)]
            se = stats.mean_stderr(values)[1]
            results[task][f"{name}_stderr,{filt}"] = se if math.isfinite(se) else "N/A"


def _task_config(task: str) -> dict:
    """A task's YAML with its includes merged (the task's own keys win), `!function` values as
    dotted names."""
    import yaml

    path = next((p for p in paths.tasks().rglob("itbench_*.yaml") if p.stem == task), None)
    if path is None:
        from itbench.errors import ItbenchError

        raise ItbenchError(f"{task} is not one of itbench's tasks: only their samples can be rescored")

    def load(p: Path) -> dict:
        data = yaml.safe_load(p.read_text().replace("!function ", ""))
        inc = data.pop("include", None)
        return {**(load(p.parent / inc) if inc else {}), **data}

    return load(path)


def rescore(folder: Path) -> dict[str, int]:
    """Recompute every metric of a paired run from its logged samples (the documents and both
    models' answers), with the installed metric code, and rewrite its results.json and samples
    files in place (atomically): after a fix to a metric, no model runs again. Returns the
    documents rescored per task."""
    import importlib
    import math
    import warnings

    import numpy as np

    from itbench.metrics import table

    results = json.loads((folder / RESULTS_FILE).read_text())
    samples, done = {}, {}
    for task in results["results"]:
        path = folder / f"samples_{task}.jsonl"
        if not task.startswith("itbench_") or not path.is_file():
            continue
        module, fn = _task_config(task)["process_results"].rsplit(".", 1)
        process = getattr(importlib.import_module(module), fn)
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for row in rows:
            row.update(process(row["doc"], row["filtered_resps"]))
        samples[task], done[task] = rows, len(rows)
        fam = table.FAMILIES[table.family_of(task)]
        for m in fam.metrics:
            values = [r.get(m.name) for r in rows]
            if m.corpus in ("mean", "nanmean"):
                nums = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
                with warnings.catch_warnings():  # nanmean of a metric that is NaN on every document: NaN
                    warnings.simplefilter("ignore", RuntimeWarning)
                    agg = (np.mean if m.corpus == "mean" else np.nanmean)(nums) if nums else math.nan
            else:
                agg = m.corpus(values)
            results["results"][task][f"{m.name},none"] = float(agg) if isinstance(agg, (float, np.floating)) else agg
    closed_form_stderrs(results["results"], samples)
    results.setdefault("itbench", {})["n"] = {task: metric_counts(rows) for task, rows in samples.items()}
    with atomic.build_dir(folder) as tmp:
        for f in folder.iterdir():  # what is not rewritten is kept as it was
            if f.is_file() and f.name != RESULTS_FILE and f.stem.removeprefix("samples_") not in samples:
                (tmp / f.name).write_bytes(f.read_bytes())
        (tmp / RESULTS_FILE).write_text(json.dumps(results, indent=1))
        for task, rows in samples.items():
            (tmp / f"samples_{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return done


def metric_counts(samples: list[dict]) -> dict[str, int]:
    """Per metric, the documents it is defined on (a number that is not NaN): a conditional metric
    such as retention is over the documents the base knew, fewer than the task's."""
    import math

    counts: dict[str, int] = {}
    for row in samples:
        for key, v in row.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v):
                counts[key] = counts.get(key, 0) + 1
    return counts


def evaluate_checkpoint(zoo: Path, name: str, out_dir: Path, world: Path, limit: int | None = None) -> dict:
    """lm-eval results of one zoo checkpoint paired with the zoo's base, in out_dir/<name>/ (cached
    by both fingerprints, the task versions and the limit)."""
    # the world goes to the tasks' loaders as metadata (not through the process environment, which
    # would outlive this call); the cache key holds the world's content through the base's fingerprint
    return cached_paired(zoo / "base", zoo / name, list(TASKS), out_dir, name, {"limit": limit, "batch": WORLD_BATCH},
                         limit=limit, model_args=f"batch_size={WORLD_BATCH}", metadata={"world": str(world)})


def cached_paired(base: str | Path, candidate: Path, tasks: list[str], out_dir: Path, name: str, settings: dict,
                  extra: dict | None = None, **run_kw) -> dict:
    """run_paired into out_dir/<name>/, unless that folder already holds the results of the same
    candidate and base weights, task versions and `settings` (whatever else changes the numbers)."""
    key = atomic.sha256_json({"tuned": checkpoint.weights_fingerprint(candidate), "base": checkpoint.identity(base),
                              "tasks": task_versions(), **settings, "layout": LAYOUT})[:16]
    cached = _read_cached(out_dir / name / RESULTS_FILE, key)
    if cached is not None:
        return cached
    return run_paired(base, candidate, tasks, out_dir / name, out_dir / f"{name}.log",
                      extra={"key": key, "checkpoint": name, **(extra or {}),
                             "manifest": checkpoint.read_manifest(candidate, required=False)}, **run_kw)


def _read_cached(path: Path, key: str) -> dict | None:
    if not path.exists():
        return None
    try:
        cached = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # a damaged cache entry is recomputed
    return cached if cached.get("itbench", {}).get("key") == key else None


def evaluate_zoo(zoo: Path, world: Path, out: Path, names: list[str] | None = None, limit: int | None = None,
                 log=print, quiet: bool = False) -> dict[str, dict]:
    """Every tuned checkpoint of a zoo (or `names`) paired with its base; results by checkpoint.
    `quiet`: one progress line for them all instead of a line each."""
    import logging
    import time

    from itbench.errors import ItbenchError

    logging.getLogger("lm_eval").setLevel(logging.ERROR)  # its per-task notices drown the progress lines
    if not (zoo / "base").exists():
        raise ItbenchError(f"no zoo at {zoo}: build it with `itbench zoo build`")
    atomic.check_output(out, [zoo, world], ours=("comparisons.md", f"*/{RESULTS_FILE}", "*.log"),
                        what="results folder")
    names = names or sorted(p.name for p in zoo.iterdir()
                            if p.is_dir() and p.name != "base" and not p.name.startswith("."))
    from itbench.utils.progress import Phase

    results = {}
    phase = Phase("paired evaluations", len(names), log) if quiet else None
    for i, name in enumerate(names, 1):
        t0 = time.perf_counter()
        results[name] = evaluate_checkpoint(zoo, name, out, world, limit=limit)
        line = f"{name}: paired evaluation in {time.perf_counter() - t0:.1f}s"
        phase.step(line) if phase else log(f"[{i}/{len(names)}] {line}")
    if phase:
        phase.done(f"results in {out}")
    return results
