"""The gate's judgement: every check of a policy against a candidate's runs.

Checks compare interval bounds, never bare values. The gate fails closed: a task missing from the
results (not run, or failed), a metric that is missing, NaN or has no standard error, results scored
by another version of the suite or of a task, and results paired with another base all fail the
check they touch, with the reason; nothing unknown passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from itbench.errors import ItbenchError
from itbench.gate.policy import Check, Policy
from itbench.leaderboard import change, paired_names, stat_of
from itbench.results import Run, metric_names

PASS, FAIL, SMOKE = "pass", "fail", "smoke"  # smoke: within the threshold on a --limit run; never a pass


@dataclass
class Verdict:
    name: str
    task: str
    metric: str
    of: str
    status: str
    reason: str
    value: float = math.nan
    low: float = math.nan
    high: float = math.nan
    threshold: str = ""


@dataclass
class Report:
    candidate: str
    base: str
    policy: str
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.verdicts) and all(v.status == PASS for v in self.verdicts)


def _threshold(c: Check) -> str:
    parts = ([f"lower bound >= {c.at_least:g}"] if c.at_least is not None else []) + \
            ([f"upper bound <= {c.at_most:g}"] if c.at_most is not None else [])
    return " and ".join(parts)


def _preconditions(run: Run, task: str, base_id: str, installed: dict, suite_version: str) -> str | None:
    """Why results of this run cannot be judged, or None."""
    if run.base_id != base_id:
        return (f"the results of {task} ({run.path}) were paired with another base ({run.info['base'].get('name')}, "
                f"{run.base_id}), not the expected base ({base_id})")
    recorded = str(run.info.get("suite_version"))
    if recorded != suite_version:
        return f"the results of {task} were scored by itbench {recorded}, this is itbench {suite_version}: rerun them"
    if task not in installed:
        return f"{task} is not a task of this suite (itbench {suite_version})"
    if str(run.versions.get(task)) != str(installed[task]):
        return (f"{task} was scored by task version {run.versions.get(task)}, this suite's is {installed[task]}: "
                "rerun it")
    return None


def judge(runs: list[Run], policy: Policy, base_id: str, installed_versions: dict, suite_version: str,
          failed_tasks: dict[str, str] | None = None, candidate: str = "?", smoke: bool = False) -> Report:
    """Every check of the policy against the candidate's runs (newest run per task wins); `candidate`
    names it when no run could be read (every task failed). Results of a --limit run fail, unless
    `smoke` asks for a smoke verdict, which is never a pass."""
    if not runs and not failed_tasks:
        raise ItbenchError("no results to judge")
    tuned = {r.tuned_id for r in runs}
    if len(tuned) > 1:
        names = sorted({r.info["tuned"].get("name", r.tuned_id) for r in runs})
        raise ItbenchError(f"the results are of {len(tuned)} checkpoints ({', '.join(names)}): the gate judges one "
                           "candidate at a time")
    by_task: dict[str, Run] = {}
    for run in sorted(runs, key=lambda r: r.date):
        for task in run.results:
            by_task[task] = run
    first = runs[0] if runs else None
    report = Report(candidate=first.info["tuned"].get("name", first.tuned_id) if first else candidate,
                    base=base_id, policy=policy.name)
    for c in policy.checks:
        v = Verdict(c.name, c.task, c.metric, c.of, FAIL, "", threshold=_threshold(c))
        report.verdicts.append(v)
        run = by_task.get(c.task)
        if run is None:
            why = (failed_tasks or {}).get(c.task)
            v.reason = (f"{c.task} failed: {why}" if why else
                        f"{c.task} is not in the results: it was not run, or it failed")
            continue
        problem = _preconditions(run, c.task, base_id, installed_versions, suite_version)
        if problem:
            v.reason = problem
            continue
        if run.limit is not None and not smoke:
            v.reason = (f"the results of {c.task} come from a --limit {run.limit:g} run (a smoke run, not evidence): "
                        "rerun without --limit, or ask for a smoke verdict (--smoke), which never passes")
            continue
        names = metric_names(run, c.task)
        if c.of == "change":
            if c.metric not in paired_names(names):
                v.reason = (f"{c.metric} is not a paired metric of {c.task} (no {c.metric}_tuned and "
                            f"{c.metric}_base in the results)")
                continue
            ch = change(run, c.task, c.metric, z=policy.z)
            v.value, v.low, v.high = ch.value, ch.low, ch.high
        else:
            name = f"{c.metric}_tuned" if c.metric in paired_names(names) else c.metric
            if name not in names:
                v.reason = f"{c.metric} is missing from the results of {c.task}"
                continue
            s = stat_of(run, c.task, name)
            v.value, (v.low, v.high) = s.value, s.ci(policy.z)
        n = ch.n if c.of == "change" else s.n
        min_n = c.min_n or policy.min_n
        if math.isnan(v.value):
            v.reason = f"{c.metric} of {c.task} is not a number (NaN): nothing to judge"
        elif math.isnan(v.low) or math.isnan(v.high):
            v.reason = f"{c.metric} of {c.task} has no standard error, and the gate compares intervals"
        elif c.at_least is not None and v.low < c.at_least:
            v.reason = f"lower bound {v.low:.3f} < {c.at_least:g}"
        elif c.at_most is not None and v.high > c.at_most:
            v.reason = f"upper bound {v.high:.3f} > {c.at_most:g}"
        elif n < min_n:
            v.reason = (f"{c.metric} of {c.task} rests on {n} documents, fewer than the policy's minimum {min_n}: too "
                        "few to judge; evaluate more documents (or set min_n in the policy)")
        elif run.limit is not None:
            v.status, v.reason = SMOKE, f"within the threshold on a --limit {run.limit:g} smoke run (never a pass)"
        else:
            v.status, v.reason = PASS, "within the threshold"
    return report
