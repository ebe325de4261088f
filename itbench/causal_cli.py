"""`itbench causal`: the causal check of borrowed tokens (itbench.causal) on chosen zoo recipes,
beyond the two the demo checks; needs the recipes' borrowed-task samples (`itbench compare` or
`itbench demo` writes them)."""

from __future__ import annotations

from pathlib import Path

from itbench import paths
from itbench.argtypes import positive_int
from itbench.errors import ItbenchError
from itbench.escape import md_cell, say


def zoo_checkpoints(zoo: Path, wanted: list[str]) -> list[str]:
    """The zoo checkpoints `wanted` names: every seed of a recipe (its replicate group), or one
    checkpoint by its folder name; in the zoo's order, each once."""
    from itbench.models.zoo import list_zoo

    groups = {m["name"]: (m.get("replicate") or {}).get("group") or m["name"]
              for m in list_zoo(zoo) if m["name"] != "base"}
    names: list[str] = []
    for w in wanted:
        found = [n for n, g in groups.items() if w in (n, g)]
        if not found:
            recipes = sorted(set(groups.values()))
            raise ItbenchError(f"{w!r} is neither a recipe nor a checkpoint of the zoo {zoo}; its recipes: "
                               f"{', '.join(recipes) or 'none (build it with `itbench zoo build`)'}")
        names += [n for n in found if n not in names]
    return names


def summary_table(summary: list[dict]) -> str:
    """The causal check per recipe as Markdown: shares gone with their intervals, the effect."""
    def share(g: dict, key: str) -> str:
        low, high = g[key.replace("_gone", "_ci")]
        return f"{g[key]:.2f} [{low:.2f}, {high:.2f}]"

    rows = ["| recipe | method | seeds | cases | gone, traced removed | gone, random removed | "
            "effect (traced - random) [95% CI] | verdict |", "|---|---|---|---|---|---|---|---|"]
    for g in summary:
        if not g["cases"]:
            rows.append(f"| {md_cell(g['group'])} | – | 0 | 0 | – | – | – | no borrowed cases |")
            continue
        ci = "" if g["low"] is None else f" [{g['low']:+.2f}, {g['high']:+.2f}]"
        rows.append(f"| {md_cell(g['group'])} | {md_cell(g['method'])} | {g['seeds']} | {g['cases']} | "
                    f"{share(g, 'traced_gone')} | {share(g, 'control_gone')} | {g['effect']:+.2f}{ci} | "
                    f"{md_cell(g['verdict'])} |")
    return "\n".join(rows)


def cmd_causal(args) -> int:
    from itbench import causal
    from itbench.demo import ensure_world
    from itbench.utils import atomic, jsonfile

    zoo = Path(args.zoo or paths.zoo())
    results = Path(args.results or paths.results())
    if not (zoo / "base").is_dir():
        raise ItbenchError(f"{zoo} is not a zoo (no base/ folder): give --zoo, or build one with `itbench demo`")
    names = zoo_checkpoints(zoo, args.recipes)
    missing = [n for n in names if not (results / n / causal.SAMPLES).exists()]
    if missing:
        raise ItbenchError(f"no borrowed-task samples for {', '.join(missing)} in {results}: run "
                           f"`itbench compare --checkpoints {' '.join(missing)}` first (or give --results)")
    world = ensure_world(args.world, args.tiny, args.seed)
    out = atomic.check_output_file(args.out, [zoo, world, *(results / n for n in names)], flag="--out")
    if out.name == causal.FILE and out.parent == results.resolve():
        raise ItbenchError(f"--out {out} is the demo's own causal check, which `itbench demo` rewrites for its "
                           "recipes: choose another file")
    if out.exists():  # reused when it is an earlier causal check (its cache key decides), else kept
        try:
            earlier = jsonfile.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            earlier = err
        if not (isinstance(earlier, dict) and {"key", "checkpoints"} <= earlier.keys()):
            raise ItbenchError(f"--out {out} exists and is not an `itbench causal` file: choose another path "
                               "(nothing was written)")
    data = causal.run(zoo, world, results, names, max_cases=args.max_cases, log=say, out=out)
    say(summary_table(data["summary"]))
    say(f"\nevery case (borrowed value, answers after each retraining) in {out}")
    return 0


def add_commands(sub) -> None:
    c = sub.add_parser("causal", help="the causal check of borrowed tokens on chosen zoo recipes: retrain "
                                      "without the traced IT instances, and without as many random ones")
    c.add_argument("recipes", nargs="+", help="zoo recipes (every seed of each) or single checkpoints, e.g. "
                                              "full-long-4x lora-long-4x")
    c.add_argument("--out", required=True, help="the JSON file to write (every case and the summary); rerun "
                                                "with the same file to reuse its retraining")
    c.add_argument("--max-cases", type=positive_int, default=6, help="borrowed cases per checkpoint (default 6)")
    c.add_argument("--zoo", help="zoo folder (default $ITBENCH_HOME/zoo)")
    c.add_argument("--results", help="where `itbench compare` wrote the checkpoints' results (default "
                                     "$ITBENCH_HOME/results)")
    c.add_argument("--world", help="world folder (default: the embedded one)")
    c.add_argument("--tiny", action="store_true", help="the tiny world (with a tiny zoo)")
    c.add_argument("--seed", type=int, default=None, help="world seed (default 0)")
    c.set_defaults(func=cmd_causal)

