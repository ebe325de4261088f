"""The judge judged, on the world zoo where factual precision is known exactly.

`itbench judge audit` runs `itbench_judge_world` for zoo checkpoints paired with their base (lm-eval
results cached like the zoo's), then reports
  - validity: Spearman's rho of the judge's factuality and the exact factual precision of the same
    tuned answers, with its interval;
  - consistency: every tuned answer judged a second time with the prompt's order reversed (the
    aspects listed in reverse, the scale written from 5 down to 1); per aspect, the share of answers
    given the same score (Wilson interval);
  - the share of unparseable verdicts (all three runs of verdicts: tuned, base, reversed).
Nothing here makes a weak judge look strong: a judge is labelled by its model, and the local
default as weak.
"""

from __future__ import annotations

import math
from pathlib import Path

from itbench import judge, paths, stats
from itbench.errors import ItbenchError
from itbench.metrics.judge import aspect_value
from itbench.models.payload import parse_payload
from itbench.results import read_samples
from itbench.utils import atomic

TASK = "itbench_judge_world"


def _recipes(zoo: Path, names: list[str] | None) -> list[str]:
    from itbench.models.zoo import list_zoo

    found = [m["name"] for m in list_zoo(zoo) if m.get("name") and m["name"] != "base"]
    if names:
        missing = sorted(set(names) - set(found))
        if missing:
            raise ItbenchError(f"judge audit: {', '.join(missing)} not in {zoo} "
                               f"(it has: {', '.join(found) or 'nothing'})")
        return list(names)
    # one checkpoint per recipe (seed 0, which keeps the recipe's name): answers of every kind
    return [n for n in found if "-seed" not in n]


def check_paths(zoo: Path, world: Path, out: Path) -> None:
    """A zoo to audit, and a report folder that destroys nothing (checked before a judge starts)."""
    if not (zoo / "base").is_dir():
        raise ItbenchError(f"judge audit: {zoo} holds no zoo (no base/): build it with `itbench demo` or "
                           "`itbench zoo build`, or pass --zoo")
    atomic.check_output(out, [zoo, world], ours=("audit.json", "audit.md", "results"), what="judge audit")


def run(zoo: Path, world: Path, out: Path, names: list[str] | None = None, n_judged: int | None = 20,
        config: judge.JudgeConfig | None = None, log=print) -> dict:
    """Judge the zoo's answers, audit the judge, write out/audit.json and out/audit.md."""
    from itbench.evaluate import cached_paired

    check_paths(zoo, world, out)
    config = config or judge.JudgeConfig.from_env()
    checkpoints = _recipes(zoo, names)
    rows = []
    for i, name in enumerate(checkpoints, 1):
        res_dir = out / "results"
        cached_paired(zoo / "base", zoo / name, [TASK], res_dir, name,
                      {"judge": {"url": config.url, "model": config.model, "prompt": judge.PROMPT_VERSION},
                       "n_judged": n_judged},
                      metadata={"world": str(world), "n_judged": n_judged, "judge_url": config.url,
                                "judge_model": config.model})
        for s in read_samples(res_dir / name / f"samples_{TASK}.jsonl"):
            v, resp = s["judge_verdicts"], s["filtered_resps"]
            rows.append({"checkpoint": name, "instruction": s["doc"]["instruction"],
                         "tuned": parse_payload(resp[0] if isinstance(resp, list) else resp)["tuned"],
                         "verdict_tuned": v["tuned"], "verdict_base": v["base"],
                         "precision": s["exact_precision_tuned"]})
        log(f"[judge audit {i}/{len(checkpoints)}] {name}: judged")
    report = audit(rows, judge.Judge(config), config.label)
    atomic.write_json(out / "audit.json", report)
    atomic.write_text(out / "audit.md", to_markdown(report))
    log(f"judge audit: {out / 'audit.md'}")
    return report


def audit(rows: list[dict], j: judge.Judge, label: str) -> dict:
    """The audit's figures from judged rows (instruction, tuned answer, both verdicts, exact
    precision); the reversed-order verdicts are asked of `j` (cached)."""
    if not rows:
        raise ItbenchError("judge audit: no judged answers to audit")
    reversed_order = tuple(reversed(judge.ASPECTS))
    again = j.judge_many([(r["instruction"], r["tuned"]) for r in rows], order=reversed_order, reverse=True)
    fact = [aspect_value(r["verdict_tuned"], "factuality") for r in rows]
    precision = [float("nan") if r["precision"] is None else float(r["precision"]) for r in rows]
    rho, low, high, n = stats.spearman_interval(fact, precision)
    consistency = {}
    for a in judge.ASPECTS:
        pairs = [(aspect_value(r["verdict_tuned"], a), again[i].scores.get(a)) for i, r in enumerate(rows)]
        pairs = [(x, y) for x, y in pairs if not math.isnan(x) and y is not None]
        same = sum(x == y for x, y in pairs)
        share = same / len(pairs) if pairs else float("nan")
        lo, hi = stats.wilson_interval(share, len(pairs))
        consistency[a] = {"same": share, "low": lo, "high": hi, "n": len(pairs)}
    verdicts = ([r["verdict_tuned"] for r in rows] + [r["verdict_base"] for r in rows]
                + [v.to_dict() for v in again])
    bad = sum(not v["parsed"] for v in verdicts)
    lo, hi = stats.wilson_interval(bad / len(verdicts), len(verdicts))
    return {"judge": label, "prompt_version": judge.PROMPT_VERSION, "answers": len(rows),
            "checkpoints": sorted({r["checkpoint"] for r in rows}),
            "validity": {"spearman_factuality_vs_exact_precision": rho, "low": low, "high": high, "n": n},
            "consistency_reversed_order": consistency,
            "unparseable": {"share": bad / len(verdicts), "low": lo, "high": hi, "verdicts": len(verdicts),
                            "count": bad},
            "mean_scores_tuned": {a: stats.mean_stderr([aspect_value(r["verdict_tuned"], a) for r in rows])[0]
                                  for a in judge.ASPECTS}}


def _rho(v: dict) -> str:
    rho = v["spearman_factuality_vs_exact_precision"]
    if isinstance(rho, float) and math.isnan(rho):
        return ("undefined: fewer than 5 answers with both" if v["n"] < 5
                else "undefined: one side is constant (every factuality score, or every precision, the same)")
    return f"{_f(rho)} [{_f(v['low'])}, {_f(v['high'])}]"


def _f(x: float, d: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{d}f}"


def to_markdown(r: dict) -> str:
    v, u = r["validity"], r["unparseable"]
    lines = [f"# The judge judged: {r['judge']}", "",
             f"{r['answers']} tuned answers of the world zoo ({len(r['checkpoints'])} checkpoints), prompt "
             f"version {r['prompt_version']}.", "",
             "| check | value [95% CI] | n |", "|---|---|---|",
             f"| Spearman: judge factuality vs exact factual precision | {_rho(v)} | {v['n']} |",
             f"| unparseable verdicts | {_f(u['share'], 3)} [{_f(u['low'], 3)}, {_f(u['high'], 3)}] | "
             f"{u['verdicts']} |"]
    for a, c in r["consistency_reversed_order"].items():
        lines.append(f"| same {a} score, prompt order reversed | {_f(c['same'])} [{_f(c['low'])}, "
                     f"{_f(c['high'])}] | {c['n']} |")
    lines += ["", "Mean scores of the tuned answers: "
              + ", ".join(f"{a} {_f(x)}" for a, x in r["mean_scores_tuned"].items()) + "."]
    return "\n".join(lines) + "\n"


def default_out() -> Path:
    return paths.judge() / "audit"
