"""Release-gate policies: a TOML or YAML file of checks, validated by a schema (pydantic) so that a
mistake is an error naming the file, the check and the field, never a check that silently passes.

    name = "release"            # optional
    confidence = 0.95           # optional: intervals at this two-sided level
    min_n = 100                 # optional: fewer documents under a metric fail its check
    [[checks]]
    task = "itbench_knowledge_world"
    metric = "retention"
    at_least = 0.95             # the interval's lower bound must reach 0.95
    [[checks]]
    task = "itbench_borrowed_world"
    metric = "borrowed_rate"
    of = "change"               # tuned minus base, paired; default "value"
    at_most = 0.02              # the interval's upper bound must stay within 0.02
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from itbench import paths, stats
from itbench.errors import ItbenchError

Bound = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class Check(BaseModel):
    """One threshold: `of` is "value" (the tuned checkpoint's metric) or "change" (tuned minus base);
    at_least binds the interval's lower bound, at_most its upper bound (one or both)."""

    model_config = ConfigDict(extra="forbid")
    task: str
    metric: Annotated[str, Field(min_length=1)]
    of: str = "value"
    at_least: Bound | None = None
    at_most: Bound | None = None
    name: str = ""
    min_n: Annotated[int, Field(strict=True, ge=1)] | None = None  # this check's own minimum (else the policy's)

    @field_validator("task")
    @classmethod
    def _task(cls, v: str) -> str:
        if not v.startswith("itbench_"):
            raise ValueError(f"task must name an itbench task (itbench_...), not {v!r}")
        return v

    @field_validator("of")
    @classmethod
    def _of(cls, v: str) -> str:
        if v not in ("value", "change"):
            raise ValueError(f"of must be 'value' or 'change' (tuned minus base), not {v!r}")
        return v

    @model_validator(mode="after")
    def _bounds(self) -> Check:
        if self.at_least is None and self.at_most is None:
            raise ValueError("give at_least (bounds the interval's lower end) or at_most (its upper end)")
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise ValueError(f"at_least {self.at_least} is above at_most {self.at_most}: no interval can pass")
        self.name = self.name or f"{self.metric} {self.of}"
        return self


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    checks: list[Check] = Field(default_factory=list, validate_default=True)
    name: str = "policy"
    confidence: Annotated[float, Field(strict=True, allow_inf_nan=False)] = 0.95
    # the fewest documents a metric may rest on: below it the gate cannot tell, and fails the check
    min_n: Annotated[int, Field(strict=True, ge=1)] = 100

    @field_validator("checks")
    @classmethod
    def _checks(cls, v: list[Check]) -> list[Check]:
        if not v:
            raise ValueError("the policy has no checks: add [[checks]] entries (task, metric, at_least/at_most)")
        return v

    @field_validator("confidence")
    @classmethod
    def _confidence(cls, v: float) -> float:
        if not 0 < v < 1:
            raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95), not {v!r}")
        return v

    @property
    def z(self) -> float:
        return stats.z_value(self.confidence)

    @property
    def tasks(self) -> list[str]:
        return sorted({c.task for c in self.checks})


def policy_path(policy: str) -> Path:
    """A policy file, or the name of one shipped with itbench (itbench/policies/NAME.toml)."""
    p = Path(policy)
    if p.suffix or p.exists():
        return p
    shipped = paths.policies() / f"{policy}.toml"
    if not shipped.exists():
        names = sorted(f.stem for f in paths.policies().glob("*.toml"))
        raise ItbenchError(f"no policy file {policy!r}, and itbench ships no policy of that name ({', '.join(names)})")
    return shipped


def _yaml(text: str):
    """YAML without duplicate keys (a second `at_least` would silently win otherwise)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
        dup = sorted({k for k in keys if keys.count(k) > 1}, key=str)
        if dup:
            raise ValueError(f"duplicate keys {dup} (line {node.start_mark.line + 1})")
        return loader.construct_mapping(node, deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(text, Loader=Loader)  # noqa: S506  (a SafeLoader subclass)


def _where(loc: tuple) -> str:
    if len(loc) >= 2 and loc[0] == "checks" and isinstance(loc[1], int):
        rest = ".".join(map(str, loc[2:]))
        return f"check {loc[1] + 1}" + (f", {rest}" if rest else "")
    return ".".join(map(str, loc))


def _message(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            allowed = sorted(Check.model_fields if len(loc) > 2 else Policy.model_fields)
            parts.append(f"{_where(loc[:-1]) or 'policy'}: unknown keys ['{loc[-1]}']; allowed: {allowed}")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            parts.append(f"{_where(loc)}: {msg}" if loc else msg)
    return "; ".join(parts)


def load_policy(path: str | Path) -> Policy:
    """A policy from a .toml, .yaml or .yml file; any mistake is an error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ItbenchError(f"policy file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = _yaml(text)
        else:
            raise ValueError("give a .toml, .yaml or .yml file")
    except Exception as err:  # the parsers' own errors say where the syntax breaks
        raise ItbenchError(f"policy {path} cannot be read: {err}") from err
    if not isinstance(data, dict):
        raise ItbenchError(f"policy {path}: expected a table with `checks`, got {type(data).__name__}")
    data.setdefault("name", path.stem)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as err:
        raise ItbenchError(f"policy {path}: {_message(err)}") from err
    problems = [f"check {i} ({c.name}): {why}" for i, c in enumerate(policy.checks, 1) if (why := against_table(c))]
    if problems:
        raise ItbenchError(f"policy {path}: " + "; ".join(problems))
    return policy


def _nearest(word: str, names) -> str:
    import difflib

    near = difflib.get_close_matches(word, sorted(names), n=3, cutoff=0.5)
    return f"; nearest: {', '.join(near)}" if near else ""


def against_table(check: Check) -> str | None:
    """What is wrong with a check against the metric table (itbench.metrics.table), or None: a task
    of no itbench family, a metric its family does not declare (for `of = "change"`, one without a
    tuned and a base side), a bound on the side that lets a worse model pass, or a bound outside
    the metric's range (a check that can never pass, or never fail)."""
    from itbench.evaluate import task_versions
    from itbench.leaderboard import paired_names
    from itbench.metrics.table import FAMILIES, METRICS, family_of

    family = family_of(check.task)
    if family is None:
        return (f"task {check.task!r} belongs to no itbench task family (itbench_<family>_<name>, family one of "
                f"{', '.join(FAMILIES)}){_nearest(check.task, task_versions())}")
    declared = {m.name for m in FAMILIES[family].metrics}
    sides = set(paired_names(list(declared)))
    if check.of == "change":
        if check.metric not in sides:
            return (f"metric {check.metric!r} of {check.task} has no tuned and base side to take a change of "
                    f"(of = \"change\"){_nearest(check.metric, sides)}")
        metric = METRICS[(family, check.metric + "_tuned")]
        low, high = metric.low - metric.high, metric.high - metric.low
    else:
        name = check.metric + "_tuned" if check.metric in sides else check.metric
        if name not in declared:
            return (f"metric {check.metric!r} is not a metric of {check.task} (family {family})"
                    f"{_nearest(check.metric, declared | sides)}")
        metric = METRICS[(family, name)]
        low, high = metric.low, metric.high
    what = f"{check.metric}{' change' if check.of == 'change' else ''}"
    if metric.higher_is_better and check.at_least is None:
        return (f"{what} is higher-is-better, and at_most {check.at_most:g} alone passes a model that loses it: "
                "bound it with at_least")
    if not metric.higher_is_better and check.at_most is None:
        return (f"{what} is lower-is-better, and at_least {check.at_least:g} alone passes a model that makes it "
                "worse: bound it with at_most")
    for key, bound in (("at_least", check.at_least), ("at_most", check.at_most)):
        if bound is not None and not low <= bound <= high:
            return f"{key} {bound:g} is outside the range of {what}, [{low:g}, {high:g}]: the check could never decide"
    return None
