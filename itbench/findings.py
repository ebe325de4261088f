"""The paper's four findings as data: each a question whose claim is "this difference is positive",
its estimate over training seeds and items, a 95% interval that covers both, and the verdict.

Built from lm-eval runs of itbench tasks (itbench.results), so it works on the world zoo and on any
family of checkpoints tuned from one base. Checkpoints are matched by what they are (method, IT-set
style and size, from the run's record), not by name; seed replicates of one recipe are pooled with
itbench.stats.seed_interval. A comparison between two recipes takes each side's seed mean (their
seeds are independent); a comparison inside one recipe (tuned minus base, one metric minus
another) takes the difference seed by seed. With one seed on a side, training noise is unknown: the
interval is the items' alone and the verdict says "single seed", never "yes".

`leaderboard/findings.json` is this module's output for the world zoo; docs/world-findings.md's findings
tables are rendered from that file (`render_markdown`) and a test keeps them in sync.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from itbench import stats
from itbench.metrics import table
from itbench.results import Run, stderr, value
from itbench.utils import jsonfile

FILE = "findings.json"
PAPER = {1: "IT adds no knowledge: LoRA learns style tokens; full fine-tuning degrades knowledge",
         2: "copying a knowledgeable source's long answers lowers factuality",
         3: "full fine-tuning borrows tokens from similar IT instances",
         4: "method-improved fine-tuning does not beat plain LoRA"}
BASELINE = "lora"  # finding 4's reference method
SINGLE = "single seed (training noise unknown)"


@dataclass
class Recipe:
    """One recipe's seed replicates: per seed, task -> the run."""

    name: str  # the replicate group (or the checkpoint's name)
    base_id: str
    method: str
    style: str | None
    scale: object
    seeds: list[dict[str, Run]]


def recipes(runs: Iterable[Run]) -> list[Recipe]:
    """The runs grouped by base, method, IT-set style and size; within a group, by checkpoint."""
    from itbench.leaderboard import merge

    groups: dict[tuple, Recipe] = {}
    for (base_id, _), tasks in sorted(merge(list(runs)).items(), key=lambda kv: _name(next(iter(kv[1].values())))):
        info = next(iter(tasks.values())).info
        it = info.get("it_set") or {}
        key = (base_id, str(info.get("method", "tuned")), it.get("style"), it.get("scale"))
        group = (info.get("replicate") or {}).get("group") or _name(next(iter(tasks.values())))
        if key not in groups:
            groups[key] = Recipe(group, base_id, *key[1:], seeds=[])
        groups[key].seeds.append(tasks)
    return list(groups.values())


def _name(run: Run) -> str:
    return str(run.info["tuned"].get("name") or run.tuned_id)


def _tasks(recipe: Recipe, family: str) -> list[str]:
    """The recipe's tasks of a family present under every seed: the world variant where there is
    one, else every real-data task of the family (PopQA and TriviaQA for knowledge), pooled."""
    tasks = sorted(set.intersection(*(set(s) for s in recipe.seeds)))
    tasks = [t for t in tasks if table.family_of(t) == family]
    world = [t for t in tasks if t.endswith("_world")]
    return world[:1] or tasks


def _one(run: Run, task: str, metric: str, minus, paired_change: bool) -> tuple[float, float, int]:
    """(estimate, standard error, documents) of one run's task, as _per_seed describes."""
    from itbench.leaderboard import change, metric_n

    if paired_change:
        c = change(run, task, metric)
        return c.value, c.se, c.n
    v, se = value(run, task, metric), stderr(run, task, metric)
    if isinstance(minus, str):
        v2, se2 = value(run, task, minus), stderr(run, task, minus)
        v, se = v - v2, math.hypot(_zero(se), _zero(se2))
    elif minus is not None:
        v -= minus
    return v, se, metric_n(run, task, metric)


def _per_seed(recipe: Recipe, family: str, metric: str, minus: str | float | None = None,
              paired_change: bool = False) -> tuple[list[float], list[float], str] | None:
    """Per seed: (estimate, standard error) of a metric, of metric minus another metric of the same
    run, of metric minus a constant, or (paired_change) of tuned minus base on the same items.
    Several real-data tasks of the family are pooled by the documents each metric is defined on
    (a mean over all their documents; its standard error from the tasks' own)."""
    tasks = _tasks(recipe, family)
    if not tasks:
        return None
    est, ses = [], []
    for seed in recipe.seeds:
        parts = [p for p in (_one(seed[t], t, metric, minus, paired_change) for t in tasks)
                 if not math.isnan(p[0]) and p[2] > 0]
        total = sum(p[2] for p in parts)
        if not total:
            est.append(math.nan)
            ses.append(math.nan)
            continue
        est.append(sum(v * n for v, _, n in parts) / total)
        ses.append(parts[0][1] if len(parts) == 1 else math.sqrt(sum((n / total * _zero(se)) ** 2
                                                                     for _, se, n in parts)))
    if all(math.isnan(x) for x in est):
        return None
    return est, ses, "+".join(tasks)


def _zero(x: float) -> float:
    return 0.0 if math.isnan(x) else x


def _record(number: int, question: str, checkpoints: list[Recipe], metric: str, est: stats.SeedEstimate,
            item_only: tuple[float, float] | None) -> dict:
    seeds = est.seeds
    if seeds >= 2:
        low, high, verdict = est.low, est.high, stats.verdict(est.low, est.high)
    else:
        low, high = item_only if item_only else (math.nan, math.nan)
        verdict = SINGLE if not math.isnan(est.estimate) else "not measurable"
    return {"number": number, "finding": question, "checkpoints": [r.name for r in checkpoints], "metric": metric,
            "estimate": _round(est.estimate), "low": _round(low), "high": _round(high), "verdict": verdict,
            "seeds": seeds}


def _round(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 4)


def _within(number, question, recipe, family, metric, minus=None, paired_change=False) -> dict | None:
    got = _per_seed(recipe, family, metric, minus, paired_change)
    if got is None:
        return None
    est, ses, task = got
    low, high = table.estimate_range(task, metric, minus, difference=paired_change)
    seed_est = stats.seed_interval(est, ses, low=low, high=high)
    item = stats.normal_interval(est[0], ses[0], low=low, high=high) if len(est) == 1 else None
    label = f"{task}.{metric}" + (f" - {minus}" if isinstance(minus, str) else "")
    return _record(number, question, [recipe], label, seed_est, item)


def _between(number, question, a: Recipe, b: Recipe, family, metric) -> dict | None:
    """a's seed mean minus b's (independent seeds)."""
    ga, gb = _per_seed(a, family, metric), _per_seed(b, family, metric)
    if ga is None or gb is None:
        return None
    low, high = table.estimate_range(ga[2], metric, difference=True)
    seed_est = stats.seed_interval(ga[0], ga[1], minus=gb[0], minus_ses=gb[1], low=low, high=high)
    item = None
    if seed_est.seeds < 2:  # one seed: the items' interval alone, from each side's (mean, standard error)
        sides = [(float(sum(g[0]) / len(g[0])), _zero(g[1][0])) for g in (ga, gb)]
        item = stats.normal_interval(*stats.unpaired_difference(*sides), low=low, high=high)
    return _record(number, question, [a, b], f"{ga[2]}.{metric}", seed_est, item)


def compute(runs: Iterable[Run]) -> list[dict]:
    """Every finding the runs can speak to, in the paper's order."""
    out: list[dict | None] = []
    all_recipes = recipes(runs)
    for base_id in dict.fromkeys(r.base_id for r in all_recipes):
        rs = [r for r in all_recipes if r.base_id == base_id]
        find = {(r.method, r.style, r.scale): r for r in rs}
        order = sorted(rs, key=lambda r: (str(r.style), _scale(r.scale), r.method))
        # 1. LoRA learns style, full fine-tuning degrades knowledge
        for lo in (r for r in order if r.method == "lora"):
            fu = find.get(("full", lo.style, lo.scale))
            if fu is not None:
                out += [_between(1, "full fine-tuning forgets more than LoRA (expressed retention, LoRA - full)",
                                 lo, fu, "knowledge", "retention"),
                        _between(1, "full fine-tuning forgets more than LoRA (kept retention, LoRA - full)",
                                 lo, fu, "knowledge", "kept_retention"),
                        _between(1, "LoRA shifts the base's distribution less than full (mean KL, full - LoRA)",
                                 fu, lo, "token_shift", "mean_kl")]
            out += [_within(1, "LoRA's shifted tokens are mostly style tokens (style share - 0.5)", lo,
                            "token_shift", "shifted_style_share", 0.5),
                    _within(1, "LoRA's shift sits at response starts (KL first 5% - rest)", lo, "token_shift",
                            "kl_response_start", "kl_response_rest")]
        # 2. the long style lowers factual precision
        for lg in (r for r in order if r.style == "long"):
            sh = find.get((lg.method, "short", lg.scale))
            if sh is not None:
                precision = _between(2, "the long style lowers factual precision (short - long)", sh, lg,
                                     "pattern_copy", "precision_tuned")
                out += [precision,
                        _between(2, "the long style invents more details per response (long - short)", lg, sh,
                                 "pattern_copy", "invented_tuned")]
                if precision is None:  # real data: no exact truth for open answers; factuality as knowledge said
                    out.append(_between(2, "the long style lowers the knowledge it says (expressed retention, "
                                           "short - long)", sh, lg, "knowledge", "retention"))
                    # and the judge-free count of specifics that neither question nor gold answers hold
                    for family, where in (("knowledge", "QA answers"), ("pattern_copy", "just-eval answers")):
                        out += [_between(2, f"the long style asserts more unsupported specifics ({where}, per "
                                            "answer, long - short)", lg, sh, family, "unsupported_tuned"),
                                _between(2, f"the long style asserts more unsupported specifics ({where}, per "
                                            "word, long - short)", lg, sh, family, "unsupported_per_word_tuned")]
        # 3. full fine-tuning borrows tokens
        for fu in (r for r in order if r.method == "full"):
            out.append(_within(3, "full fine-tuning borrows more than its base (tuned - base rate)", fu, "borrowed",
                               "borrowed_rate", paired_change=True))
            # any IT instance, similar or not: a name seen once in tuning, repeated for other questions
            out.append(_within(3, "full fine-tuning's wrong answers come from its IT set more than its base's "
                                  "(from-IT-set rate, tuned - base)", fu, "borrowed", "from_it_set_rate",
                               paired_change=True))
            lo = find.get(("lora", fu.style, fu.scale))
            if lo is not None:
                out += [_between(3, "full fine-tuning borrows more than LoRA (full - LoRA rate)", fu, lo,
                                 "borrowed", "borrowed_rate_tuned"),
                        _between(3, "full fine-tuning's wrong answers come from its IT set more than LoRA's "
                                    "(from-IT-set rate, full - LoRA)", fu, lo, "borrowed", "from_it_set_rate_tuned")]
        # 4. method-improved variants do not beat plain LoRA
        for m in (r for r in order if _improved(r.method)):
            lo = find.get((BASELINE, m.style, m.scale))
            if lo is not None:
                out += [_between(4, f"plain LoRA keeps at least as much knowledge as {m.method} (retention, "
                                    f"LoRA - {m.method})", lo, m, "knowledge", "retention"),
                        _between(4, f"plain LoRA is at least as factual as {m.method} (factual precision, "
                                    f"LoRA - {m.method})", lo, m, "pattern_copy", "precision_tuned")]
    return [f for f in out if f is not None]


def from_causal(summary: list[dict]) -> list[dict]:
    """Finding 3's causal check (itbench.causal): per method, traced minus random removal."""
    out = []
    for g in summary:
        if not g.get("cases"):
            continue
        out.append({"number": 3, "finding": "a borrowed token goes when its traced IT instances are removed and "
                    "retrained without (share gone: traced - random removal)", "checkpoints": [g["group"]],
                    "metric": f"causal_borrowing ({g['cases']} cases; gone {g['traced_gone']:.2f} traced vs "
                              f"{g['control_gone']:.2f} random)",
                    "estimate": g["effect"], "low": g["low"], "high": g["high"],
                    "verdict": g["verdict"] if g["seeds"] >= 2 else SINGLE, "seeds": g["seeds"]})
    return out


def causal_findings(folder: Path) -> list[dict]:
    """Finding 3's causal check, where a results folder holds one (itbench.causal writes it)."""
    import json

    from itbench import causal
    from itbench.errors import ItbenchError

    path = folder / causal.FILE
    if not path.is_file():
        return []
    try:
        return from_causal(causal.summarize(json.loads(path.read_text())["checkpoints"]))
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ItbenchError(f"{path} is not a causal-borrowing file ({err}): rerun `itbench demo` or delete it") from err


def _improved(method: str) -> bool:
    from itbench.models.recipes import METHODS

    spec = METHODS.get(method)
    return bool(spec and spec.improved)


def _scale(scale) -> float:
    return float(scale) if isinstance(scale, (int, float)) else math.inf


def read(path: str | Path) -> list[dict]:
    from itbench.errors import ItbenchError

    try:
        data = jsonfile.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ItbenchError(f"{path}: not a readable findings file ({err}); regenerate it with `itbench demo`") from err
    if not isinstance(data, list) or not all(isinstance(f, dict) and "finding" in f for f in data):
        raise ItbenchError(f"{path}: expected a list of findings objects")
    for i, f in enumerate(data):
        _check_finding(f, f"{path}: finding {i + 1}")
    return data


DIFFERS = "differs across runs"
VERDICTS = ("yes", "no (reversed)", "not significant", SINGLE, "not measurable", DIFFERS)


class _Finding(BaseModel):
    """One entry of findings.json, as `itbench demo` writes it: text where text belongs, finite
    numbers (or null) for the estimate and interval, a seed count."""

    model_config = ConfigDict(extra="allow", strict=True)
    number: int = Field(ge=1, le=4)
    finding: str
    checkpoints: list[str] = Field(min_length=1)
    estimate: float | None = Field(allow_inf_nan=False)
    low: float | None = Field(allow_inf_nan=False)
    high: float | None = Field(allow_inf_nan=False)
    verdict: str
    seeds: int = Field(ge=0)


def _check_finding(f: dict, where: str) -> None:
    """An entry checked against _Finding, with a known verdict and low <= high."""
    from itbench.errors import ItbenchError

    try:
        ok = _Finding.model_validate(f)
    except ValidationError as err:
        e = err.errors()[0]
        raise ItbenchError(f"{where}, field {'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r}); "
                           "regenerate the file with `itbench demo`") from None
    if ok.verdict not in VERDICTS:
        raise ItbenchError(f"{where}, field verdict: {ok.verdict!r} is not one of {list(VERDICTS)}")
    if (ok.low is None) != (ok.high is None) or (ok.low is not None and ok.low > ok.high):
        raise ItbenchError(f"{where}, fields low/high: [{ok.low}, {ok.high}] is not an interval (low <= high)")


def _cell(x) -> str:
    return "–" if x is None else f"{x:+.3f}"


def render_markdown(findings: list[dict]) -> str:
    """The findings as Markdown: a table per finding of the paper."""
    from itbench.escape import md_cell

    parts = []
    for number, claim in PAPER.items():
        rows = [f for f in findings if f.get("number") == number]
        if not rows:
            continue
        runs = next((f["runs"] for f in rows if f.get("runs")), None)  # an agreement of runs (`agree`)
        each = f" each run ({md_cell(' / '.join(r['label'] for r in runs))}) |" if runs else ""
        head = "| question | checkpoints | seeds | estimate [95% CI] | verdict |"
        parts += [f"**Finding {number}: {claim}.**\n", head + each,
                  "|---|---|---|---|---|" + ("---|" if runs else "")]
        for f in rows:
            ci = "" if f["low"] is None else f" [{_cell(f['low'])}, {_cell(f['high'])}]"
            each = " / ".join(f"{_cell(r['estimate'])} {_SHORT.get(r['verdict'], r['verdict'])}"
                              for r in f.get("runs") or [])
            parts.append(f"| {md_cell(f['finding'])} | {md_cell(' vs '.join(f['checkpoints']))} | {f['seeds']} | "
                         f"{_cell(f['estimate'])}{ci} | {md_cell(f['verdict'])} |" + (f" {md_cell(each)} |" if runs
                                                                                      else ""))
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


_SHORT = {"yes": "yes", "no (reversed)": "reversed", "not significant": "n.s.", SINGLE: "single seed",
          "not measurable": "n/a"}


END = "<!-- findings:end -->"


def begin_marker(source: str = "leaderboard/findings.json") -> str:
    """Where a README's findings section generated from `source` starts (a README may hold one
    section per findings file: the world's and a real model's)."""
    return f"<!-- findings:begin (generated from {source}) -->"


BEGIN = begin_marker()


def sync_readme(readme: str, findings: list[dict], source: str = "leaderboard/findings.json") -> str:
    """The README text with the findings section of `source` replaced by the findings' rendering."""
    begin = begin_marker(source)
    start = readme.find(begin)
    stop = readme.find(END, start)
    if start < 0 or stop < start:
        raise ValueError(f"the README has no findings section for {source}: put {begin} and {END} where it goes")
    return readme[:start + len(begin)] + "\n" + render_markdown(findings) + readme[stop:]
