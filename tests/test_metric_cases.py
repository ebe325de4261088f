"""Golden cases for every public metric function (tests/metric_cases/*.json): inputs, expected
output and tolerance, degenerate cases included. A public metric without a case file fails, and so
does a metric declared in itbench.metrics.table whose per-document or corpus function has none."""

from __future__ import annotations

import importlib
import inspect
import json
import math
import pkgutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import itbench.metrics

CASES = Path(__file__).parent / "metric_cases"


def _case_files():
    return sorted(CASES.glob("*.json"))


def _resolve(dotted: str):
    module, name = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def _close(got, want, tol, where):
    if isinstance(want, dict):
        for k, v in want.items():
            _close(got[k], v, tol, f"{where}.{k}")
    elif isinstance(want, list):
        got = np.asarray(got).tolist()
        assert len(got) == len(want), f"{where}: {len(got)} items, expected {len(want)}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _close(g, w, tol, f"{where}[{i}]")
    elif want == "nan":
        assert isinstance(got, float) and math.isnan(got), f"{where}: {got!r}, expected NaN"
    elif isinstance(want, str):
        assert got == want, f"{where}: {got!r}, expected {want!r}"
    elif isinstance(want, bool):
        assert bool(got) is want, f"{where}: {got!r}, expected {want!r}"
    else:
        assert abs(float(got) - float(want)) <= tol, f"{where}: {got!r}, expected {want!r} (tol {tol})"


def _arg(name, value):
    """JSON to the function's argument: logits as float arrays, "nan" as NaN, openers as a Counter."""
    if name.endswith("logits"):
        return np.asarray(value, dtype=float)
    if name in ("it_openers", "it_closers"):
        return Counter(value)
    if name == "it":  # an IT set's summary (pattern_copy.it_set_stats)
        return {**value, "openers": Counter(value["openers"]), "closers": Counter(value["closers"])}
    if isinstance(value, list):
        return [float("nan") if v == "nan" else v for v in value]
    return float("nan") if value == "nan" else value


@pytest.mark.parametrize("path", _case_files(), ids=lambda p: p.stem)
def test_golden_cases(path):
    spec = json.loads(path.read_text())
    fn = _resolve(spec["function"])
    assert spec["cases"], f"{path.name} has no cases"
    for case in spec["cases"]:
        args = {k: _arg(k, v) for k, v in case["args"].items()}
        _close(fn(**args), case["expected"], case["tol"], f"{path.stem}: {case['name']}")


def _covered() -> set[str]:
    return {json.loads(p.read_text())["function"] for p in _case_files()}


def _name(fn) -> str:
    """A function's dotted name; a generated one (pooled_<metric>) by the function it wraps."""
    fn = getattr(fn, "__wrapped__", fn)
    return f"{fn.__module__}.{fn.__name__}"


def test_every_public_metric_has_a_case_file():
    covered = _covered()
    public = set()
    for info in pkgutil.iter_modules(itbench.metrics.__path__):
        if info.name == "table":  # the declarations, not metrics
            continue
        module = importlib.import_module(f"itbench.metrics.{info.name}")
        for name, obj in inspect.getmembers(module, inspect.isfunction):
            if obj.__module__ == module.__name__ and not name.startswith("_"):
                public.add(_name(obj))
    missing = sorted(public - covered)
    assert not missing, f"public metric functions without golden cases: {missing}"


def test_every_declared_metric_runs_functions_with_golden_cases():
    """Each family's per-document function and each metric's corpus function has a case file, and
    every declared metric is in the expected output of some case of its family's function."""
    from itbench.metrics import table

    covered = _covered()
    for family in table.FAMILIES.values():
        assert _name(family.sample) in covered, f"{family.name}: {_name(family.sample)} has no golden cases"
        seen = set()
        for path in _case_files():
            spec = json.loads(path.read_text())
            if spec["function"] == _name(family.sample):
                for case in spec["cases"]:
                    seen |= set(case["expected"])
        missing = sorted(m.name for m in family.metrics if m.name not in seen)
        assert not missing, f"{family.name}: no golden case shows {missing}"
        for m in family.metrics:
            if callable(m.corpus):
                assert _name(m.corpus) in covered, f"{m.name}: corpus function {_name(m.corpus)} has no golden cases"
            else:
                assert m.corpus in ("mean", "nanmean"), f"{m.name}: unknown aggregation {m.corpus!r}"
            assert m.low < m.high, m.name


def test_in_process_bootstrap_gives_the_pool_s_stderr(monkeypatch):
    """itbench runs lm-eval's bootstrap in-process (no fork of a process holding two models); the
    stderr must be the one the multiprocessing pool gives, draw for draw."""
    import os
    import statistics

    from lm_eval.api.metrics import bootstrap_stderr

    from itbench.evaluate import in_process_bootstrap

    xs = [float(i % 7) for i in range(50)]
    monkeypatch.delenv("DISABLE_MULTIPROC", raising=False)
    pooled = bootstrap_stderr(statistics.fmean, xs, 2000)
    in_process_bootstrap()  # monkeypatch restores the variable afterwards
    assert os.environ["DISABLE_MULTIPROC"] == "1"
    assert bootstrap_stderr(statistics.fmean, xs, 2000) == pooled
