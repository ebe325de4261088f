"""The leaderboard as data: one row per checkpoint, grouped by base, built from lm-eval results.

`build` reads nothing but the runs it is given and prints nothing (alpaca_eval's make_leaderboard);
rendering to CSV, Markdown and HTML is in itbench.render.

Metric names follow the tasks. A metric with a `_tuned` and a `_base` variant (acc, length,
precision, borrowed_rate, ...) is one column: the tuned side in a checkpoint's row, the base side
in its base's row, and the checkpoint's change from its base beside it, with a 95% interval from
the per-document pairs where the samples are there (paired: both models answered the same
documents), else from the two standard errors. Metrics that already compare the two models
(retention, mean KL, shifted share, ...) appear in checkpoints' rows only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from itbench import stats
from itbench.metrics import table
from itbench.models.recipes import METHODS
from itbench.results import Run, metric_names, per_document, stderr, value

METHOD_ORDER = {"base": 0, **{m: i for i, m in enumerate(METHODS, 1)}}  # rows: base, then methods as registered


@dataclass
class Stat:
    value: float
    stderr: float
    n: int
    spec: table.Metric | None = None  # the metric's declaration: its range, and whether a proportion
    seeds: int = 1
    seed_ci: tuple[float, float] | None = None  # over seeds and items (a seed mean), at 95%

    def ci(self, z: float = stats.Z95) -> tuple[float, float]:
        """The metric's interval: over seeds and items for a seed mean; else Wilson's for a
        proportion, normal otherwise; inside the metric's range."""
        if self.seed_ci is not None:
            return self.seed_ci
        if self.spec is None:
            return stats.normal_interval(self.value, self.stderr, z)
        return self.spec.interval(self.value, self.stderr, self.n, z)


@dataclass
class Change:
    value: float
    low: float
    high: float
    n: int
    paired: bool
    se: float = math.nan
    seeds: int = 1


@dataclass
class Row:
    base: str  # the base's name
    base_id: str  # its weights fingerprint (or hub-name hash)
    checkpoint: str
    checkpoint_id: str
    method: str
    it_style: str | None
    it_size: int | None  # items the checkpoint was tuned on
    it_scale: str | None
    suite_version: str
    lm_eval_version: str
    task_versions: dict[str, object]
    metrics: dict[str, dict[str, Stat]] = field(default_factory=dict)  # task -> metric -> Stat
    changes: dict[str, dict[str, Change]] = field(default_factory=dict)  # task -> metric -> Change
    seeds: int = 1  # training seeds behind the row (a seed mean when more than one)
    members: list[str] = field(default_factory=list)  # the checkpoint ids of those seeds
    replicate: str | None = None  # the replicate group (zoo checkpoints trained under several seeds)


@dataclass
class Board:
    rows: list[Row]
    cases: dict[str, list[dict]]  # checkpoint id -> borrowed-token cases (the tuned model's)
    tasks: list[str]
    judges: list[str] = field(default_factory=list)  # who scored the judged aspects (as the samples name them)


def paired_names(names: list[str]) -> list[str]:
    """Metrics that exist as both X_tuned and X_base, by X."""
    have = set(names)
    return [n[:-len("_tuned")] for n in names if n.endswith("_tuned") and n[:-len("_tuned")] + "_base" in have]


def metric_n(run: Run, task: str, metric: str) -> int:
    """The documents a metric is defined on: for a per-document metric, those where it is a number
    (retention: the base-known ones; a popularity bucket of a set without popularity: none); for a
    corpus-level one (a pooled ratio, a test), the task's."""
    spec = table.lookup(task, metric)
    docs = per_document(run, task, metric)
    if docs is None or (spec is not None and spec.corpus not in ("mean", "nanmean")):
        return run.n.get(task, 0)
    finite = sum(not math.isnan(v) for v in docs)
    return finite if spec is not None else (finite or run.n.get(task, 0))


def stat_of(run: Run, task: str, metric: str) -> Stat:
    return Stat(value(run, task, metric), stderr(run, task, metric), metric_n(run, task, metric),
                table.lookup(task, metric))


def change(run: Run, task: str, metric: str, z: float = stats.Z95) -> Change:
    """Tuned minus base for a paired metric, with its interval (z standard errors; 95% by default),
    inside the range a difference of the metric can take.

    Paired (per-document differences) when the samples are there and both sides are defined on the
    same documents; otherwise from the two standard errors, which ignores the pairing (wider)."""
    t, b = stat_of(run, task, f"{metric}_tuned"), stat_of(run, task, f"{metric}_base")
    spec = t.spec
    width = (spec.high - spec.low) if spec is not None else math.inf
    dt, db = per_document(run, task, f"{metric}_tuned"), per_document(run, task, f"{metric}_base")
    if dt is not None and db is not None and [math.isnan(x) for x in dt] == [math.isnan(x) for x in db]:
        mean, se, n = stats.paired_difference(dt, db)
        if n >= 2:
            return Change(mean, *stats.normal_interval(mean, se, z, -width, width), n, True, se)
    diff, se = stats.unpaired_difference((t.value, t.stderr), (b.value, b.stderr))
    return Change(diff, *stats.normal_interval(diff, se, z, -width, width), min(t.n, b.n), False, se)


def merge(runs: list[Run]) -> dict[tuple[str, str], dict[str, Run]]:
    """(base id, tuned id) -> task -> the newest run of that task."""
    out: dict[tuple[str, str], dict[str, Run]] = {}
    for run in sorted(runs, key=lambda r: r.date):
        for task in run.results:
            out.setdefault((run.base_id, run.tuned_id), {})[task] = run
    return out


def _name(info: dict) -> str:
    """A local checkpoint by its folder's name, a hub model by its full name."""
    from pathlib import PurePath

    name = str(info["name"])
    return (PurePath(name).name or name) if name.startswith(("/", ".", "~")) else name


def build(runs: list[Run], seed_means: bool = True) -> Board:
    """The leaderboard of these runs: a base row per base, then its checkpoints; seed replicates of
    one recipe as one row (their seed mean) unless `seed_means` is False."""
    rows: list[Row] = []
    cases: dict[str, list[dict]] = {}
    judges: set[str] = set()
    tasks = sorted({t for r in runs for t in r.results})
    bases: dict[str, Row] = {}
    for (base_id, tuned_id), by_task in merge(runs).items():
        first = next(iter(by_task.values()))
        info = first.info
        if base_id not in bases:
            bases[base_id] = Row(base=_name(info["base"]), base_id=base_id, checkpoint=_name(info["base"]),
                                 checkpoint_id=base_id, method="base", it_style=None, it_size=None, it_scale=None,
                                 suite_version=str(info.get("suite_version", "unknown")),
                                 lm_eval_version=first.lm_eval_version, task_versions={})
        base_row = bases[base_id]
        it = info.get("it_set") or {}
        row = Row(base=base_row.base, base_id=base_id, checkpoint=str(info["tuned"].get("name") or tuned_id),
                  checkpoint_id=tuned_id, method=str(info.get("method", "tuned")), it_style=it.get("style"),
                  it_size=it.get("trained_rows") or it.get("rows"), it_scale=it.get("scale"),
                  suite_version=str(info.get("suite_version", "unknown")), lm_eval_version=first.lm_eval_version,
                  task_versions={t: r.versions.get(t) for t, r in by_task.items()}, members=[tuned_id],
                  replicate=(info.get("replicate") or {}).get("group"))
        for task, run in sorted(by_task.items()):
            names = metric_names(run, task)
            paired = paired_names(names)
            sides = {f"{m}_tuned" for m in paired} | {f"{m}_base" for m in paired}
            row.metrics[task] = {m: stat_of(run, task, m) for m in names if m not in sides}
            row.metrics[task].update({m: stat_of(run, task, f"{m}_tuned") for m in paired})
            row.changes[task] = {m: change(run, task, m) for m in paired}
            if task not in base_row.metrics:
                base_row.metrics[task] = {m: stat_of(run, task, f"{m}_base") for m in paired}
                base_row.task_versions[task] = run.versions.get(task)
            cases.setdefault(tuned_id, []).extend(_cases(run, task))
            judges.update(_judges(run, task))
        rows.append(row)
    if seed_means:
        rows, cases = collapse_seeds(rows, cases)
    rows.extend(bases.values())
    rows.sort(key=_order)
    return Board(rows=rows, cases=cases, tasks=tasks, judges=sorted(judges))


def collapse_seeds(rows: list[Row], cases: dict[str, list[dict]]) -> tuple[list[Row], dict[str, list[dict]]]:
    """One row per replicate group (the same recipe and data under several training seeds): each
    metric and change is the seed mean with an interval over seeds and items (stats.seed_interval).
    Rows without a group, and groups of one seed, stay as they are."""
    out: list[Row] = []
    grouped: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        if r.replicate:
            grouped.setdefault((r.base_id, r.replicate), []).append(r)
        else:
            out.append(r)
    for (_, group), members in grouped.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        members.sort(key=lambda r: r.checkpoint_id)
        first = members[0]
        ids = [m.checkpoint_id for m in members]
        row = Row(base=first.base, base_id=first.base_id, checkpoint=group,
                  checkpoint_id=stats_id(ids), method=first.method, it_style=first.it_style,
                  it_size=first.it_size, it_scale=first.it_scale, suite_version=first.suite_version,
                  lm_eval_version=first.lm_eval_version, task_versions=first.task_versions, seeds=len(members),
                  members=ids, replicate=group)
        for task in first.metrics:
            names = [m for m in first.metrics[task] if all(m in r.metrics.get(task, {}) for r in members)]
            row.metrics[task] = {m: _seed_stat([r.metrics[task][m] for r in members]) for m in names}
            names = [m for m in first.changes.get(task, {}) if all(m in r.changes.get(task, {}) for r in members)]
            row.changes[task] = {m: _seed_change([r.changes[task][m] for r in members]) for m in names}
        cases[row.checkpoint_id] = [{**c, "checkpoint": m.checkpoint} for m in members
                                    for c in cases.pop(m.checkpoint_id, [])]
        out.append(row)
    return out, cases


def stats_id(ids: list[str]) -> str:
    """The id of a replicate group: a hash of its members' ids."""
    import hashlib

    return "seeds-" + hashlib.sha256("+".join(sorted(ids)).encode()).hexdigest()[:16]


def _seed_stat(per_seed: list[Stat]) -> Stat:
    spec = per_seed[0].spec
    lo, hi = (spec.low, spec.high) if spec is not None else (-math.inf, math.inf)
    est = stats.seed_interval([s.value for s in per_seed], [s.stderr for s in per_seed], low=lo, high=hi)
    return Stat(est.estimate, est.se, min(s.n for s in per_seed), spec, seeds=est.seeds, seed_ci=(est.low, est.high))


def _seed_change(per_seed: list[Change]) -> Change:
    est = stats.seed_interval([c.value for c in per_seed], [c.se for c in per_seed])
    return Change(est.estimate, est.low, est.high, min(c.n for c in per_seed), all(c.paired for c in per_seed),
                  est.se, est.seeds)


def _order(row: Row):
    scale = row.it_size if row.it_size is not None else -1
    return (row.base, row.base_id, row.method != "base", METHOD_ORDER.get(row.method, 9), row.method,
            row.it_style or "", scale, row.checkpoint)


def _judges(run: Run, task: str) -> set[str]:
    """The judges named in a judged task's samples (the local default labelled weak)."""
    return {str(v["judge"]) for s in run.samples.get(task, []) if isinstance(v := s.get("judge_verdicts"), dict)
            and v.get("judge")}


def _cases(run: Run, task: str) -> list[dict]:
    """The tuned model's borrowed-token cases logged in a borrowed task's samples."""
    out = []
    for s in run.samples.get(task, []):
        case = s.get("borrowed_cases_tuned")
        if isinstance(case, dict) and case.get("span"):
            out.append({"task": task, **{k: case.get(k) for k in ("question", "response", "span", "source_id",
                                                                    "source_instruction", "source_response",
                                                                    "similarity")}})
    return out


def groups(board: Board) -> list[list[Row]]:
    """The rows of each base (base row first), bases in board order; grouped by fingerprint, so two
    bases that share a name stay apart."""
    out: dict[str, list[Row]] = {}
    for r in board.rows:
        out.setdefault(r.base_id, []).append(r)
    return list(out.values())


def stat(row: Row, task: str, metric: str) -> Stat | None:
    return row.metrics.get(task, {}).get(metric)


def to_records(board: Board) -> list[dict]:
    """Flat rows (for CSV and JSON): identity columns, then per task and metric its value, stderr
    and n, and for paired metrics the change from the base with its interval."""
    records = []
    for row in board.rows:
        rec = {"base": row.base, "base_id": row.base_id, "checkpoint": row.checkpoint,
               "checkpoint_id": row.checkpoint_id, "seeds": row.seeds, "method": row.method, "it_style": row.it_style,
               "it_scale": row.it_scale, "it_size": row.it_size, "suite_version": row.suite_version,
               "lm_eval_version": row.lm_eval_version,
               "task_versions": ";".join(f"{t}={v}" for t, v in sorted(row.task_versions.items()))}
        for task in board.tasks:
            for m, s in row.metrics.get(task, {}).items():
                key = f"{task}.{m}"
                rec[key], rec[f"{key}.stderr"], rec[f"{key}.n"] = _num(s.value), _num(s.stderr), s.n
                if s.seed_ci is not None:
                    rec[f"{key}.low"], rec[f"{key}.high"] = _num(s.seed_ci[0]), _num(s.seed_ci[1])
            for m, c in row.changes.get(task, {}).items():
                key = f"{task}.{m}.change"
                rec[key], rec[f"{key}.low"], rec[f"{key}.high"] = _num(c.value), _num(c.low), _num(c.high)
                rec[f"{key}.paired"] = c.paired
        records.append(rec)
    return records


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 6)
