"""The main job on the embedded default: build the world and the zoo, run the suite through lm-eval
for every tuned checkpoint paired with its base, write the leaderboard, run the release gate on
every checkpoint, and say where to look. A plain function: `itbench demo` calls it, so can a notebook.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from itbench import paths


@dataclass(frozen=True)
class DemoPaths:
    world: Path
    zoo: Path
    results: Path
    leaderboard: Path

    @property
    def gate(self) -> Path:
        return self.results / "gate"


# The recipes whose borrowed-token cases the demo checks causally (every seed of each).
CAUSAL_GROUPS = ("full-short-4x", "lora-short-4x")


def ensure_world(world: str | Path | None = None, tiny: bool = False, seed: int | None = None) -> Path:
    """A world folder: the one given (checked), else the embedded one in $ITBENCH_HOME (built once)."""
    from dataclasses import replace

    from itbench.world import store
    from itbench.world.config import TINY_WORLD, WorldConfig

    if world:
        store.read_manifest(world)
        return Path(world)
    config = TINY_WORLD if tiny else WorldConfig()
    if seed is not None:
        config = replace(config, seed=seed)
    return store.write_world(config, paths.home() / "world")


def base_recipe(tiny: bool = False, seed: int = 0):
    from dataclasses import replace

    from itbench.world.organisms import TINY_BASE, BaseRecipe

    return replace(TINY_BASE if tiny else BaseRecipe(), seed=seed)


def stopping_rule(tiny: bool = False):
    """The tuned organisms' stopping rule: the zoo's, or the tiny zoo's (one round at most)."""
    from itbench.models.zoo import FORMAT_RULE, TINY_FORMAT_RULE

    return TINY_FORMAT_RULE if tiny else FORMAT_RULE


def zoo_table(results: list[dict]) -> str:
    """The zoo's quick probes as a Markdown table, a row per recipe and a value per seed in each
    cell ("76% / 60% / 58%" for seeds 0 / 1 / 2): docs/world.md's zoo table is this, from a cold run.
    Answers about the asked fact are counted on the seen entities' probes (held-out and Q/A-trained),
    and on the unseen entities' apart: a name the base never read is not one it learnt to copy."""
    pct = "{:.0%}".format
    groups: dict[str, list[dict]] = {}
    for r in results:
        groups.setdefault((r.get("replicate") or {}).get("group", r["name"]), []).append(r)
    lines = ["| recipe | built in (s, per seed) | epochs | knows: held-out | knows: Q/A-trained | unseen entities "
             "| well-formed answers | about the asked fact: seen entities | unseen entities |",
             "|---|---|---|---|---|---|---|---|---|"]

    def share(r, key: str, splits=None) -> str:
        probe = r.get("probe", {})
        acc = probe.get("chat") or probe.get("completion") or {}
        parts = [v for s, v in acc.items() if key in v and (splits is None or s in splits)]
        return pct(sum(v[key] * v["n"] for v in parts) / sum(v["n"] for v in parts)) if parts else "–"

    for name, runs in groups.items():
        def cell(value, runs=runs) -> str:
            return " / ".join(value(r) for r in runs)

        unseen = cell(lambda r: share(r, "accuracy", {"unseen"}))
        if runs[0]["method"] == "base":
            name = f"{name} (completion form)"
            unseen += f" (chance {pct(runs[0]['probe']['chance_unseen'])})"
        seconds = cell(lambda r: f"{r['seconds']:.1f}" if "seconds" in r else "–")
        epochs = cell(lambda r: str((r.get("training") or {}).get("epochs", "–")))
        lines.append(f"| {name} | {seconds} | {epochs} | {cell(lambda r: share(r, 'accuracy', {'heldout'}))} "
                     f"| {cell(lambda r: share(r, 'accuracy', {'qa'}))} | {unseen} "
                     f"| {cell(lambda r: share(r, 'well_formed'))} "
                     f"| {cell(lambda r: share(r, 'on_topic', {'heldout', 'qa'}))} "
                     f"| {cell(lambda r: share(r, 'on_topic', {'unseen'}))} |")
    if any(r["method"] == "base" for r in results):
        lines.append("\nbase: completion-form probes; chance on unseen entities = the most frequent value. "
                     "Tuned checkpoints: question form through the chat template; well-formed answers are "
                     "whole sentences of the IT set's templates (itbench.world.claims.well_formed); about the "
                     "asked fact: the first claim names the asked entity and attribute, right value or not; "
                     "epochs as the stopping rules decided.")
    return "\n".join(lines)


def verdict_counts(findings_file: Path) -> str:
    """One line: how many of the paper's questions each verdict answers, from a findings.json."""
    from itbench import findings

    found = findings.read(findings_file)
    counts = Counter(f["verdict"] for f in found)
    return (f"findings: {len(found)} questions: " + ", ".join(f"{n} {v}" for v, n in counts.most_common())
            + f" ({findings_file.parent / 'leaderboard.md'})")


def run_demo(world: str | None = None, zoo: str | None = None, leaderboard: str | None = None,
             limit: int | None = None, tiny: bool = False, seed: int | None = None, seeds: int = 3,
             base_seed: int = 0, log=print, verbose: bool = False) -> DemoPaths:
    """Every step, cached in $ITBENCH_HOME after the first run; returns where everything went.
    Quiet unless `verbose`: one line per phase, the zoo's table, counts of the findings' and the
    gate's verdicts (the full tables are in the files it names)."""
    from itbench import causal, compare, evaluate, publish
    from itbench.gate import policy_path, run_gate
    from itbench.models.zoo import build_zoo
    from itbench.utils import atomic

    t_start = time.perf_counter()
    log("itbench demo [1/4]: building the synthetic world and its model organisms (cached after the first run)")
    world_dir = ensure_world(world, tiny, seed)
    zoo_dir = Path(zoo) if zoo else paths.zoo()
    t0 = time.perf_counter()
    built = build_zoo(world_dir, zoo_dir, base_recipe=base_recipe(tiny, base_seed), seeds=seeds,
                      stopping=stopping_rule(tiny), progress=verbose and sys.stderr.isatty(), log=log,
                      quiet=not verbose)
    if verbose:
        log(f"\nzoo ready in {time.perf_counter() - t0:.1f}s at {zoo_dir}")
    log(f"\n{zoo_table(built)}")
    out = DemoPaths(world_dir, zoo_dir, zoo_dir.parent / "results", Path(leaderboard) if leaderboard
                    else paths.leaderboard())
    log("\nitbench demo [2/4]: the itbench suite through lm-eval, every tuned checkpoint paired with the base "
        "(cached after the first run):")
    results = evaluate.evaluate_zoo(zoo_dir, world_dir, out.results, limit=limit, log=log, quiet=not verbose)
    groups = {n: ((r.get("itbench") or {}).get("manifest") or {}).get("replicate", {}).get("group", n)
              for n, r in results.items()}
    checked = [n for n in sorted(results) if groups[n] in CAUSAL_GROUPS]
    if checked:
        t0 = time.perf_counter()
        log(f"\nthe causal check of borrowed tokens: {', '.join(checked)} retrained without traced / random "
            "IT instances (cached after the first run)")
        causal.run(zoo_dir, world_dir, out.results, checked, log=log if verbose else (lambda _: None))
        log(f"causal check in {time.perf_counter() - t0:.1f}s ({out.results / 'causal_borrowing.json'})")
    report = compare.report(results, out.results)
    atomic.write_text(out.results / "comparisons.md", report + "\n")
    if verbose:
        log(report)
    log(f"lm-eval results per checkpoint and comparisons.md in {out.results}")
    log(f"\nitbench demo [3/4]: the leaderboard -> {out.leaderboard}")
    command = f"itbench demo --leaderboard {leaderboard}" if leaderboard else "itbench demo"
    publish.publish([out.results], out.leaderboard, command, log=log)
    log(verdict_counts(out.leaderboard / "findings.json"))
    log(f"\nitbench demo [4/4]: the release gate on every checkpoint, default policy ({policy_path('default')})")
    lines = ["| checkpoint | verdict | failed checks |", "|---|---|---|"]
    passed, failed_checks = 0, Counter()
    for name in sorted(results):
        verdict = run_gate("default", str(zoo_dir / "base"), [str(out.results / name)], None,
                           out.gate / f"{name}.xml", out.gate / f"{name}.md", quiet=True, smoke=limit is not None)
        failed = [v.name for v in verdict.verdicts if v.status != "pass"]
        passed += verdict.passed
        failed_checks.update(failed)
        lines.append(f"| {name} | {'PASS' if verdict.passed else 'FAIL'} | {'; '.join(failed) or '-'} |")
    if verbose:
        log("\n".join(lines))
    log(f"gate: {passed} of {len(results)} checkpoints pass, {len(results) - passed} fail; reports in {out.gate}")
    for check, n in failed_checks.most_common():
        log(f"  {n:>3} fail: {check}")
    log(f"\ndone in {time.perf_counter() - t_start:.0f}s. Where to look:\n"
        f"  leaderboard page:  {out.leaderboard / 'index.html'} (open it in a browser; no server needed)\n"
        f"  leaderboard data:  {out.leaderboard / 'leaderboard.csv'}, leaderboard.json, leaderboard.md\n"
        f"  comparisons:       {out.results / 'comparisons.md'}\n"
        f"  gate reports:      {out.gate}/<checkpoint>.md and .xml (JUnit)\n"
        f"  lm-eval results:   {out.results}/<checkpoint>/ (results.json, samples_*.jsonl; logs *.log)\n"
        f"  world, zoo:        {world_dir}, {zoo_dir}")
    return out
