"""The release gate: judge a tuned checkpoint against its base under a policy of thresholds.

A policy (TOML or YAML) is a list of checks, each on one metric of one task:

    name = "release"            # optional
    confidence = 0.95           # optional: intervals at this two-sided level
    [[checks]]
    task = "itbench_knowledge_world"
    metric = "retention"
    at_least = 0.95             # the interval's lower bound must reach 0.95
    [[checks]]
    task = "itbench_borrowed_world"
    metric = "borrowed_rate"
    of = "change"               # tuned minus base, paired; default "value"
    at_most = 0.02              # the interval's upper bound must stay within 0.02

Checks compare interval bounds, never bare values. The gate fails closed: a task missing from the
results (not run, or failed), a metric that is missing, NaN or has no standard error, results scored
by another version of the suite or of a task, and results paired with another base all fail the
check they touch, with the reason; nothing unknown passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

from itbench.errors import ItbenchError
from itbench.leaderboard import change, paired_names, stat_of
from itbench.render import md_cell
from itbench.results import Run, metric_names

PASS, FAIL = "pass", "fail"
CHECK_KEYS = {"name", "task", "metric", "of", "at_least", "at_most"}
POLICY_KEYS = {"name", "confidence", "checks"}


@dataclass
class Check:
    """One threshold: `of` is "value" (the tuned checkpoint's metric) or "change" (tuned minus base);
    at_least binds the interval's lower bound, at_most its upper bound (one or both)."""

    task: str
    metric: str
    of: str = "value"
    at_least: float | None = None
    at_most: float | None = None
    name: str = ""

    def __post_init__(self):
        where = f"check {self.name or self.metric!r}"
        if not isinstance(self.task, str) or not self.task.startswith("itbench_"):
            raise ValueError(f"{where}: task must name an itbench task (itbench_...), not {self.task!r}")
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError(f"{where}: metric must be a metric name, e.g. retention")
        if self.of not in ("value", "change"):
            raise ValueError(f"{where}: of must be 'value' or 'change' (tuned minus base), not {self.of!r}")
        if self.at_least is None and self.at_most is None:
            raise ValueError(f"{where}: give at_least (bounds the interval's lower end) or at_most (its upper end)")
        for bound in ("at_least", "at_most"):
            v = getattr(self, bound)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v)):
                raise ValueError(f"{where}: {bound} must be a number, not {v!r}")
        self.name = self.name or f"{self.metric} {self.of}"


@dataclass
class Policy:
    checks: list[Check]
    name: str = "policy"
    confidence: float = 0.95

    def __post_init__(self):
        if not self.checks:
            raise ValueError("the policy has no checks: add [[checks]] entries (task, metric, at_least/at_most)")
        if isinstance(self.confidence, bool) or not isinstance(self.confidence, (int, float)) \
                or not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95), not {self.confidence!r}")

    @property
    def z(self) -> float:
        return NormalDist().inv_cdf(0.5 + self.confidence / 2)

    @property
    def tasks(self) -> list[str]:
        return sorted({c.task for c in self.checks})


def load_policy(path: str | Path) -> Policy:
    """A policy from a .toml, .yaml or .yml file; any mistake is a ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ItbenchError(f"policy file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            raise ValueError("give a .toml, .yaml or .yml file")
    except Exception as err:  # the parsers' own errors say where the syntax breaks
        raise ValueError(f"policy {path} cannot be read: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"policy {path}: expected a table with `checks`, got {type(data).__name__}")
    unknown = set(data) - POLICY_KEYS
    if unknown:
        raise ValueError(f"policy {path}: unknown keys {sorted(unknown)}; allowed: {sorted(POLICY_KEYS)}")
    checks = data.get("checks") or []
    if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        raise ValueError(f"policy {path}: `checks` must be a list of tables ([[checks]] in TOML)")
    out = []
    for i, c in enumerate(checks, 1):
        bad = set(c) - CHECK_KEYS
        if bad:
            raise ValueError(f"policy {path}, check {i}: unknown keys {sorted(bad)}; allowed: {sorted(CHECK_KEYS)}")
        missing = {"task", "metric"} - set(c)
        if missing:
            raise ValueError(f"policy {path}, check {i}: missing {sorted(missing)}")
        try:
            out.append(Check(**c))
        except ValueError as err:
            raise ValueError(f"policy {path}, check {i}: {err}") from err
    try:
        return Policy(checks=out, name=str(data.get("name", path.stem)), confidence=data.get("confidence", 0.95))
    except ValueError as err:
        raise ValueError(f"policy {path}: {err}") from err


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
          failed_tasks: dict[str, str] | None = None, candidate: str = "?") -> Report:
    """Every check of the policy against the candidate's runs (newest run per task wins); `candidate`
    names it when no run could be read (every task failed)."""
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
        if math.isnan(v.value):
            v.reason = f"{c.metric} of {c.task} is not a number (NaN): nothing to judge"
        elif math.isnan(v.low) or math.isnan(v.high):
            v.reason = f"{c.metric} of {c.task} has no standard error, and the gate compares intervals"
        elif c.at_least is not None and v.low < c.at_least:
            v.reason = f"lower bound {v.low:.3f} < {c.at_least:g}"
        elif c.at_most is not None and v.high > c.at_most:
            v.reason = f"upper bound {v.high:.3f} > {c.at_most:g}"
        else:
            v.status, v.reason = PASS, "within the threshold"
    return report


# --- reports --------------------------------------------------------------------------------
def _num(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.3f}"


def table(report: Report, confidence: float = 0.95) -> str:
    lines = [f"| check | task | metric | of | value [{confidence:.0%} interval] | threshold | verdict | reason |",
             "|---|---|---|---|---|---|---|---|"]
    for v in report.verdicts:
        interval = "" if math.isnan(v.low) else f" [{_num(v.low)}, {_num(v.high)}]"
        lines.append(f"| {md_cell(v.name)} | {v.task} | {v.metric} | {v.of} | {_num(v.value)}{interval} | "
                     f"{v.threshold} | {v.status.upper()} | {md_cell(v.reason)} |")
    return "\n".join(lines)


def markdown(report: Report, confidence: float = 0.95) -> str:
    verdict = "PASS" if report.passed else "FAIL"
    failed = sum(v.status != PASS for v in report.verdicts)
    return (f"# itbench gate: {verdict}\n\ncandidate {md_cell(report.candidate)} against base {report.base} under "
            f"policy {md_cell(report.policy)}: {len(report.verdicts) - failed} of {len(report.verdicts)} checks "
            f"passed.\n\n{table(report, confidence)}\n")


def junit(report: Report) -> str:
    import xml.etree.ElementTree as ET

    failures = sum(v.status != PASS for v in report.verdicts)
    suites = ET.Element("testsuites", name="itbench gate", tests=str(len(report.verdicts)), failures=str(failures),
                        errors="0")
    suite = ET.SubElement(suites, "testsuite", name=f"itbench gate: {report.candidate}",
                          tests=str(len(report.verdicts)), failures=str(failures), errors="0", skipped="0")
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="base", value=report.base)
    for v in report.verdicts:
        case = ET.SubElement(suite, "testcase", classname=f"itbench.gate.{report.policy}", name=v.name)
        if v.status != PASS:
            fail = ET.SubElement(case, "failure", message=v.reason, type="threshold")
            fail.text = f"{v.task} {v.metric} ({v.of}) = {_num(v.value)} [{_num(v.low)}, {_num(v.high)}]; " \
                        f"needed {v.threshold}"
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
