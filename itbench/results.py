"""Reading lm-eval results of itbench tasks: a results JSON and the samples JSONL beside it.

Both `lm_eval --output_path DIR --log_samples` (results_<stamp>.json, samples_<task>_<stamp>.jsonl)
and `itbench compare` (results.json, samples_<task>.jsonl) layouts are read. Every file is checked
as it is read: a truncated or foreign file is an error that names it, never a silently wrong row.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from itbench import evidence
from itbench.errors import ItbenchError
from itbench.utils import jsonfile

PREFIX = "itbench_"


@dataclass
class Run:
    """One paired lm-eval run: a tuned checkpoint against its base, over one or more itbench tasks."""

    path: Path
    info: dict  # results["config"]["itbench"]: base, tuned, method, it_set, suite_version
    results: dict[str, dict]  # task -> lm-eval's metric dict ("retention,none": 0.9, ...)
    versions: dict[str, object]  # task -> its metadata version
    n: dict[str, int]  # task -> documents scored
    lm_eval_version: str
    date: float
    samples: dict[str, list[dict]] = field(default_factory=dict)  # task -> per-document rows
    limit: float | None = None  # lm-eval's --limit: a smoke run, not evidence

    @property
    def base_id(self) -> str:
        return self.info["base"]["fingerprint"]

    @property
    def tuned_id(self) -> str:
        return self.info["tuned"]["fingerprint"]


def find_results(paths: list[str | Path]) -> list[Path]:
    """Results files among `paths`: files as given, folders searched for results*.json."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            hits = sorted(f for f in p.rglob("results*.json") if not f.name.startswith("."))
            if not hits:
                raise ItbenchError(f"no results*.json under {p}: give lm-eval's --output_path folder (run with "
                                   "--log_samples) or `itbench compare`'s results folder")
            found += hits
        elif p.is_file():
            found.append(p)
        else:
            raise ItbenchError(f"{p} does not exist: give results files or the folders that hold them")
    return found


def _load_json(path: Path) -> dict:
    try:
        data = jsonfile.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ItbenchError(f"{path} is not valid JSON ({err}): the file is truncated or damaged; rerun the "
                           "evaluation that wrote it, or leave the file out") from err
    except UnicodeDecodeError as err:
        raise ItbenchError(f"{path} is not a text file ({err}): give lm-eval results JSON files") from err
    if not isinstance(data, dict):
        raise ItbenchError(f"{path} holds a JSON {type(data).__name__}, not lm-eval's results object")
    return data


def samples_path(results_file: Path, task: str) -> Path:
    """Where lm-eval (or itbench compare) put the samples of `task` for this results file."""
    stem = results_file.stem
    stamp = stem[len("results_"):] if stem.startswith("results_") else ""
    return results_file.with_name(f"samples_{task}_{stamp}.jsonl" if stamp else f"samples_{task}.jsonl")


def read_samples(path: Path) -> list[dict]:
    rows = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ItbenchError(f"{path} is not a UTF-8 text file ({err}): the samples file is damaged; rerun the "
                           "evaluation with --log_samples, or remove the file") from None
    except OSError as err:
        raise ItbenchError(f"{path} cannot be read ({err.strerror or err})") from None
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = jsonfile.loads(line)
        except json.JSONDecodeError as err:
            raise ItbenchError(f"{path} line {i} is not valid JSON ({err}): the samples file is truncated or "
                               "damaged; rerun the evaluation with --log_samples, or remove the file") from err
        if not isinstance(row, dict):
            raise ItbenchError(f"{path} line {i} is not a sample object")
        rows.append(row)
    return rows


MAX_DOCUMENTS = 10**9  # more documents than any evaluation holds: a count past it is damage, not data


def _effective(data: dict, task: str, path: Path) -> int:
    """How many documents lm-eval evaluated for `task` (n-samples.<task>.effective; 0 if absent)."""
    counts = data.get("n-samples") or {}
    entry = counts.get(task) or {} if isinstance(counts, dict) else None
    got = entry.get("effective", 0) if isinstance(entry, dict) else None
    if (isinstance(got, bool) or not isinstance(got, (int, float)) or not math.isfinite(got) or got < 0 or got % 1
            or got > MAX_DOCUMENTS):
        raise ItbenchError(f"{path}: n-samples.{task}.effective is {got!r}, not a whole number of documents from 0 "
                           f"to {MAX_DOCUMENTS:,}")
    return int(got)


def read_run(path: str | Path, with_samples: bool = True) -> Run:
    """One results file (and its samples, where they exist), checked."""
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data.get("results"), dict):
        raise ItbenchError(f"{path} is not an lm-eval results file (no 'results' object)")
    tasks = {t: r for t, r in data["results"].items() if t.startswith(PREFIX)}
    if not tasks:
        raise ItbenchError(f"{path} holds no itbench_* task results (tasks: {', '.join(data['results']) or 'none'})")
    info = evidence.pair_info((data.get("config") or {}).get("itbench"), path)
    for task, metrics in tasks.items():
        if not isinstance(metrics, dict):
            raise ItbenchError(f"{path}: results.{task} is not an object of metrics")
        evidence.check_metrics(task, metrics, path)
    n = {t: _effective(data, t, path) for t in tasks}
    date = data.get("date") or 0
    if isinstance(date, bool) or not isinstance(date, (int, float)) or not math.isfinite(date):
        raise ItbenchError(f"{path}: date is {date!r}, not a time stamp (a finite number)")
    if not isinstance(data.get("config") or {}, dict) or not isinstance(data.get("versions") or {}, dict):
        raise ItbenchError(f"{path}: config and versions must be objects")
    limit = (data.get("config") or {}).get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float))):
        raise ItbenchError(f"{path}: config.limit is {limit!r}, not a number or null")
    run = Run(path=path, info=info, results=tasks, versions={t: (data.get("versions") or {}).get(t) for t in tasks},
              n=n, lm_eval_version=str(data.get("lm_eval_version", "unknown")), date=float(date),
              limit=limit)
    if with_samples:
        for task in tasks:
            sp = samples_path(path, task)
            if sp.exists():
                run.samples[task] = read_samples(sp)
                if n[task] and len(run.samples[task]) != n[task]:
                    raise ItbenchError(f"{sp} holds {len(run.samples[task])} documents but {path} counts {n[task]} "
                                       f"for {task}: the samples are truncated or from another run; rerun the "
                                       "evaluation (or remove the samples file)")
    return run


def value(run: Run, task: str, metric: str) -> float:
    """A metric's value (NaN when absent or not a number)."""
    v = run.results.get(task, {}).get(f"{metric},none")
    return float(v) if isinstance(v, (int, float)) else math.nan


def stderr(run: Run, task: str, metric: str) -> float:
    v = run.results.get(task, {}).get(f"{metric}_stderr,none")
    return float(v) if isinstance(v, (int, float)) else math.nan


def metric_names(run: Run, task: str) -> list[str]:
    """The task's metrics in the order lm-eval wrote them (stderr entries and aliases left out)."""
    return [k.split(",")[0] for k in run.results[task] if "," in k and "_stderr," not in k]


def per_document(run: Run, task: str, metric: str) -> list[float] | None:
    """A metric's per-document values from the samples (None when there are no samples)."""
    rows = run.samples.get(task)
    if not rows:
        return None
    return [float(v) if isinstance(v := r.get(metric), (int, float)) else math.nan for r in rows]
