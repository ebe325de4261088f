"""The causal check of borrowed tokens: does a borrowed answer go away when the IT instances it was
traced to are taken out of the training set?

The paper traced, by hand, 87% of full fine-tuning's hallucinated phrases to its IT set (13.9% for
LoRA). A trace is a correlation: the borrowed value occurs in the response of a similar instance.
On the world it can be tested. For each borrowed-token case of a zoo checkpoint (a wrong answer
about a held-out entity whose value occurs in the response of an IT instance about an entity of
the same cluster), the checkpoint is retrained with the same recipe and seed twice:

- *traced*: without every similar instance whose response holds the borrowed value;
- *control*: without as many instances drawn at random from the rest (so that "any change to the
  data moves the answer", which chaotic training makes likely, is measured, not assumed).

The case's question is asked again (greedy, chat form). The borrowed token is *gone* when the
answer no longer gives that value. The metric, per method, is the share of cases whose token goes
when the traced instances go, minus the share when random ones go: the causal effect of the traced
instances, with a paired interval per seed pooled over seeds (itbench.stats.seed_interval).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

from itbench import stats

FILE = "causal_borrowing.json"
SAMPLES = "samples_itbench_borrowed_world.jsonl"


def cases_of(results_dir: Path, max_cases: int) -> list[dict]:
    """The tuned model's borrowed cases in a checkpoint's borrowed-task samples (first `max_cases`,
    in document order), each with its entity, question and borrowed value."""
    from itbench.results import read_samples

    path = results_dir / SAMPLES
    if not path.exists():
        return []
    out = []
    for row in read_samples(path):
        case = row.get("borrowed_cases_tuned")
        doc = row.get("doc") or {}
        if isinstance(case, dict) and case.get("span") and doc.get("entity"):
            out.append({"entity": doc["entity"], "question": doc["question"], "span": case["span"],
                        "answer": doc.get("answer"), "pool": list(doc.get("pool") or [])})
        if len(out) >= max_cases:
            break
    return out


def _recipe(manifest: dict):
    from itbench.models.recipes import FinetuneRecipe

    fields = {f.name for f in dataclasses.fields(FinetuneRecipe)}
    rec = {k: v for k, v in manifest["recipe"].items() if k in fields}
    rec["lora_targets"] = tuple(rec.get("lora_targets", ()))
    return FinetuneRecipe(**rec)


def _answer(model, tok, question: str, pool: list[str]) -> str | None:
    from itbench.world.probe import chat_responses, extract_answer

    return extract_answer(chat_responses(model, tok, [question], max_new_tokens=24)[0], set(pool))


def _replay(manifest: dict):
    """The checkpoint's own schedule (its recipe's epochs and the rounds its stopping rule ran), to
    follow without measuring: a retrain differs from the checkpoint in its data only."""
    from itbench.models.recipes import StoppingRule

    if not manifest.get("stopping"):
        return None
    return StoppingRule(**manifest["stopping"]["rule"], replay=manifest["training"]["epochs"])


def retrain_answer(base: Path, rows: list[dict], recipe, question: str, pool: list[str], judge=None,
                   rule=None) -> str | None:
    """Train `recipe` (and `rule`'s replayed rounds) on `rows` from `base` in a scratch folder and
    answer `question`."""
    from itbench.models import checkpoint
    from itbench.models.finetune import finetune

    with tempfile.TemporaryDirectory(prefix="itbench-causal-") as tmp:
        data = Path(tmp) / "it.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        out = Path(tmp) / "ckpt"
        finetune(base, data, recipe, out, judge_scores=judge, rule=rule)
        if recipe.spec.tuning == "lora":
            model, tok = checkpoint.load(base, adapter=out)
        else:
            model, tok = checkpoint.load(out)
        return _answer(model, tok, question, pool)


def check_checkpoint(zoo: Path, name: str, results_dir: Path, world: Path, max_cases: int = 6,
                     log: Callable[[str], None] = print) -> dict:
    """Every case of one checkpoint (up to `max_cases`): traced and control retraining."""
    from itbench.data import it_set_rows
    from itbench.models import checkpoint
    from itbench.tracing import contains_span, world_tracer
    from itbench.world import claims, store

    manifest = checkpoint.read_manifest(zoo / name)
    recipe, rule = _recipe(manifest), _replay(manifest)
    it_file = manifest["data"]["source"]
    rows = it_set_rows(it_file)  # the rows the tracer reads (read once per process)
    judge = claims.judge_scores(rows, store.read_rows(world, "entities.jsonl")) if recipe.spec.filtered else None
    tracer = world_tracer(it_file, str(world))
    out = []
    for i, case in enumerate(cases_of(results_dir / name, max_cases)):
        sources = {r["id"] for r in tracer.similar(case["entity"]) if contains_span(r["response"], case["span"])}
        if not sources:
            continue
        rest = [r for r in rows if r["id"] not in sources and not contains_span(r["response"], case["span"])]
        rng = random.Random(f"{name}:{i}")
        control = set(r["id"] for r in rng.sample(rest, min(len(sources), len(rest))))
        traced = retrain_answer(zoo / "base", [r for r in rows if r["id"] not in sources], recipe,
                                case["question"], case["pool"], judge, rule)
        ctrl = retrain_answer(zoo / "base", [r for r in rows if r["id"] not in control], recipe,
                              case["question"], case["pool"], judge, rule)
        out.append({**{k: case[k] for k in ("entity", "question", "span")}, "removed": len(sources),
                    "traced_answer": traced, "control_answer": ctrl,
                    "traced_gone": traced != case["span"], "control_gone": ctrl != case["span"]})
    log(f"causal borrowing: {name}: {len(out)} cases, token gone after removing the traced instances in "
        f"{sum(c['traced_gone'] for c in out)}, after removing random ones in {sum(c['control_gone'] for c in out)}")
    group = (manifest.get("replicate") or {}).get("group") or name
    return {"checkpoint": name, "group": group, "method": manifest["method"], "seed": manifest.get("seed", 0),
            "cases": out}


def summarize(checked: list[dict]) -> list[dict]:
    """Per replicate group: the shares gone (traced, control) and the causal effect (traced minus
    control, paired per case) as a seed mean with its interval over seeds and cases."""
    groups: dict[str, list[dict]] = {}
    for c in checked:
        groups.setdefault(c["group"], []).append(c)
    out = []
    for group, seeds in sorted(groups.items()):
        seeds = [s for s in seeds if s["cases"]]
        cases = [c for s in seeds for c in s["cases"]]
        if not cases:
            out.append({"group": group, "method": None, "cases": 0, "seeds": 0})
            continue
        traced = sum(c["traced_gone"] for c in cases) / len(cases)
        control = sum(c["control_gone"] for c in cases) / len(cases)
        per_seed = [stats.paired_difference([float(c["traced_gone"]) for c in s["cases"]],
                                            [float(c["control_gone"]) for c in s["cases"]]) for s in seeds]
        est = stats.seed_interval([m for m, _, _ in per_seed], [_case_se(se, n) for _, se, n in per_seed],
                                  low=-1.0, high=1.0)
        out.append({"group": group, "method": seeds[0]["method"], "cases": len(cases), "seeds": len(seeds),
                    "traced_gone": round(traced, 4), "traced_ci": [round(x, 4) for x in
                                                                   stats.wilson_interval(traced, len(cases))],
                    "control_gone": round(control, 4), "control_ci": [round(x, 4) for x in
                                                                      stats.wilson_interval(control, len(cases))],
                    "effect": round(est.estimate, 4), "low": _r(est.low), "high": _r(est.high),
                    "verdict": stats.verdict(est.low, est.high) if len(seeds) >= 2 else "single seed"})
    return out


def _case_se(se: float, n: int) -> float:
    """A seed's standard error over its cases; where the cases cannot give one (one case, or all
    alike: a sample variance of zero from a handful of binary outcomes), the largest a mean of
    differences in [-1, 1] can have, 1 / sqrt(n): few cases never look certain."""
    return se if not math.isnan(se) and se > 0 else 1.0 / math.sqrt(max(n, 1))


def _r(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 4)


def run(zoo: Path, world: Path, results: Path, names: list[str], max_cases: int = 6, log=print,
        out: Path | None = None) -> dict:
    """The causal check over `names` (their borrowed cases read from `results`/NAME/), cached in
    `out` (default `results`/causal_borrowing.json, the file the findings read) by the checkpoints'
    fingerprints and the case cap."""
    from itbench.models import checkpoint
    from itbench.utils import atomic

    key = atomic.sha256_json({"ckpts": {n: checkpoint.weights_fingerprint(zoo / n) for n in names},
                              "base": checkpoint.weights_fingerprint(zoo / "base"), "max_cases": max_cases,
                              "v": 1})[:16]
    path = out or results / FILE
    if path.exists():
        try:
            cached = json.loads(path.read_text())
            if cached.get("key") == key:  # the retraining is cached; the summary is recomputed from it
                return {**cached, "summary": summarize(cached["checkpoints"])}
        except json.JSONDecodeError:
            pass
    checked = [check_checkpoint(zoo, n, results, world, max_cases, log) for n in names]
    data = {"key": key, "max_cases": max_cases, "checkpoints": checked, "summary": summarize(checked)}
    atomic.write_json(path, data)
    return data
