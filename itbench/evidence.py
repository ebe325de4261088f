"""The schema of evidence read from results files (pydantic): which checkpoints were paired, and
metric values inside their declared ranges. Everything in a results file is untrusted: a value
outside its metric's range, an infinite or negative standard error, a boolean where a number
belongs, or a malformed identity is an error naming the file, the task and the field."""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from itbench.errors import ItbenchError
from itbench.metrics import table


class Identity(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    fingerprint: str = Field(min_length=1)


class Replicate(BaseModel):
    """A zoo checkpoint's place among the seed replicates of one recipe."""

    group: str = Field(min_length=1)
    seed: int = Field(ge=0)


class ItSet(BaseModel):
    """What the tuned checkpoint was tuned on, as its manifest records it: counts are non-negative
    integers, names are text (they reach the leaderboard page)."""

    model_config = ConfigDict(extra="allow")
    style: str | None = None
    scale: int | float | str | None = None
    rows: int | None = Field(default=None, ge=0)
    trained_rows: int | None = Field(default=None, ge=0)
    source: str | None = None
    file: str | None = None


class PairInfo(BaseModel):
    """results["config"]["itbench"], as the paired model records it."""

    model_config = ConfigDict(extra="allow")
    suite_version: str
    base: Identity
    tuned: Identity
    method: str = "tuned"
    it_set: ItSet | None = None
    replicate: Replicate | None = None


def pair_info(info, path: Path) -> dict:
    if not isinstance(info, dict) or "base" not in info or "tuned" not in info:
        raise ItbenchError(f"{path} does not say which base and tuned checkpoint were paired (no config.itbench): "
                           "it was not run with `--model itbench` of itbench >= 0.1; rerun it with `itbench eval "
                           "--model itbench ...` or `itbench compare`")
    try:
        PairInfo.model_validate(info, strict=True)
    except ValidationError as err:
        e = err.errors()[0]
        raise ItbenchError(f"{path}: config.itbench.{'.'.join(map(str, e['loc']))}: {e['msg']} (got "
                           f"{e.get('input')!r}); rerun the evaluation that wrote it") from err
    return info


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_metrics(task: str, metrics: dict, path: Path) -> None:
    """Each metric value a number (NaN allowed: "does not apply") inside its declared range, or None;
    each standard error a finite non-negative number, NaN (unknown) or lm-eval's "N/A"."""
    for key, v in metrics.items():
        if "," not in key:
            continue
        name = key.split(",")[0]
        where = f"{path}: task {task}, {key}"
        if name.endswith("_stderr"):
            if v == "N/A" or v is None:
                continue
            if not _number(v) or math.isinf(v) or v < 0:  # NaN: unknown (lm-eval's, when no value applies)
                raise ItbenchError(f"{where} = {v!r}: a standard error must be a finite number >= 0 (or \"N/A\")")
            continue
        if v is None:
            continue
        if not _number(v):
            raise ItbenchError(f"{where} = {v!r}: expected a number")
        spec = table.lookup(task, name)
        if spec is not None and not math.isnan(v) and not spec.low <= v <= spec.high:
            raise ItbenchError(f"{where} = {v!r}: outside the metric's range [{spec.low:g}, {spec.high:g}]")
        if spec is None and math.isinf(v):
            raise ItbenchError(f"{where} = {v!r}: expected a finite number")
