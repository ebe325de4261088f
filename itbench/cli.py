"""The `itbench` command line: build the world and the zoo, fine-tune a model, probe a checkpoint,
check the install, and run the demo.

Bad input raises ItbenchError (or a config's ValueError): printed as one line, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from itbench.errors import ItbenchError


def home() -> Path:
    """Where the embedded world and zoo are cached: $ITBENCH_HOME, else ~/.cache/itbench."""
    return Path(os.environ.get("ITBENCH_HOME", Path.home() / ".cache" / "itbench")).expanduser()


def _world_config(args):
    from itbench.world.config import TINY_WORLD, WorldConfig

    base = TINY_WORLD if getattr(args, "tiny", False) else WorldConfig()
    if getattr(args, "seed", None) is not None:
        from dataclasses import replace

        base = replace(base, seed=args.seed)
    return base


def _base_recipe(args):
    from itbench.world.organisms import TINY_BASE, BaseRecipe

    return TINY_BASE if getattr(args, "tiny", False) else BaseRecipe()


def cmd_world_build(args) -> int:
    from itbench.world import store

    out = Path(args.out or home() / "world")
    store.write_world(_world_config(args), out)
    manifest = store.read_manifest(out)
    print(f"world {manifest['fingerprint']} (format {manifest['format_version']}) at {out}: "
          f"{', '.join(sorted(manifest['files']))}")
    return 0


def _ensure_world(args) -> Path:
    from itbench.world import store

    if args.world:
        store.read_manifest(args.world)
        return Path(args.world)
    return store.write_world(_world_config(args), home() / "world")


def cmd_zoo_build(args) -> int:
    from itbench.models.zoo import build_zoo

    world = _ensure_world(args)
    out = Path(args.out or home() / "zoo")
    t0 = time.perf_counter()
    results = build_zoo(world, out, base_recipe=_base_recipe(args), only=args.only,
                        progress=not args.no_progress and sys.stderr.isatty())
    built = sum(r["built"] for r in results)
    print(f"zoo at {out}: {len(results)} checkpoints ({built} built, {len(results) - built} cached) "
          f"in {time.perf_counter() - t0:.1f}s")
    return 0


def cmd_zoo_list(args) -> int:
    from itbench.models import checkpoint

    out = Path(args.out or home() / "zoo")
    if not out.exists():
        raise ItbenchError(f"no zoo at {out}: build it with `itbench zoo build`")
    for d in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")):
        m = checkpoint.read_manifest(d, required=False)
        if m:
            it = m.get("it_set") or {}
            print(f"{m['name']:20s} method={m['method']:9s} style={it.get('style') or '-':6s} "
                  f"scale={it.get('scale') or '-'}  fingerprint={m['fingerprint']}")
    return 0


def cmd_finetune(args) -> int:
    from itbench.models.finetune import finetune
    from itbench.models.recipes import FinetuneRecipe

    fields = {k: getattr(args, k) for k in ("epochs", "lr", "batch_size", "seed", "max_length", "lora_r",
                                            "instruction_field", "response_field", "id_field")
              if getattr(args, k) is not None}
    recipe = FinetuneRecipe(method=args.method, **fields)
    scores = None
    if args.judge_scores:
        path = Path(args.judge_scores)
        if not path.exists():
            raise ItbenchError(f"judge scores file {path} does not exist")
        from itbench.models.finetune import read_json_rows

        rows = read_json_rows(path)
        scores = {r["id"]: float(r["score"]) for r in rows}
    manifest = finetune(args.base, args.data, recipe, args.out, judge_scores=scores)
    print(f"{args.method} checkpoint at {args.out} ({manifest['training']['steps']} steps, "
          f"final loss {manifest['training']['final_loss']:.3f})")
    return 0


def cmd_probe(args) -> int:
    from itbench.models import checkpoint
    from itbench.world.probe import probe_checkpoint

    model, tok = checkpoint.load(args.checkpoint, adapter=args.adapter)
    world = _ensure_world(args)
    chat = args.form == "chat"
    print(json.dumps(probe_checkpoint(model, tok, world, chat=chat), indent=2))
    return 0


def cmd_doctor(args) -> int:
    import torch

    from itbench.models import backends

    print(f"torch {torch.__version__} (cuda available: {torch.cuda.is_available()})")
    backends.check_torchvision()
    try:
        flavour = backends.vllm_flavour()
        print(f"vLLM: {flavour} build installed; the vLLM path is available")
    except ItbenchError as err:
        print(f"vLLM: not usable ({err}); the HF transformers path is used")
    return 0


def cmd_demo(args) -> int:
    from itbench.models.zoo import build_zoo

    t_start = time.perf_counter()
    print("itbench demo [1/4]: building the synthetic world and its model organisms (cached after the first run)",
          flush=True)
    world = _ensure_world(args)
    out = Path(args.out or home() / "zoo")
    t0 = time.perf_counter()
    results = build_zoo(world, out, base_recipe=_base_recipe(args), progress=sys.stderr.isatty())
    print(f"\nzoo ready in {time.perf_counter() - t0:.1f}s at {out}")
    print(_zoo_table(results))
    print("\nitbench demo [2/4]: the itbench suite through lm-eval, every tuned checkpoint paired with the base "
          "(cached after the first run):", flush=True)
    results_dir = out.parent / "results"
    args.zoo, args.checkpoints, args.out = str(out), None, str(results_dir)
    cmd_compare(args)
    board_dir = Path(args.leaderboard or home() / "leaderboard")
    print(f"\nitbench demo [3/4]: the leaderboard -> {board_dir}", flush=True)
    command = f"itbench demo --leaderboard {args.leaderboard}" if args.leaderboard else "itbench demo"
    _write_leaderboard([results_dir], board_dir, command)
    print("\nitbench demo [4/4]: the release gate on every checkpoint, default policy "
          f"({_policy_path('default')})", flush=True)
    gate_dir = results_dir / "gate"
    lines = ["| checkpoint | verdict | failed checks |", "|---|---|---|"]
    for name in sorted(p.name for p in results_dir.iterdir() if (p / "results.json").exists()):
        report = _gate("default", str(out / "base"), [str(results_dir / name)], None, gate_dir / f"{name}.xml",
                       gate_dir / f"{name}.md", quiet=True)
        failed = [v.name for v in report.verdicts if v.status != "pass"]
        lines.append(f"| {name} | {'PASS' if report.passed else 'FAIL'} | {'; '.join(failed) or '-'} |")
    print("\n".join(lines))
    print(f"\ndone in {time.perf_counter() - t_start:.0f}s. Where to look:\n"
          f"  leaderboard page:  {board_dir / 'index.html'} (open it in a browser; no server needed)\n"
          f"  leaderboard data:  {board_dir / 'leaderboard.csv'}, leaderboard.json, leaderboard.md\n"
          f"  comparisons:       {results_dir / 'comparisons.md'}\n"
          f"  gate reports:      {gate_dir}/<checkpoint>.md and .xml (JUnit)\n"
          f"  lm-eval results:   {results_dir}/<checkpoint>/ (results.json, samples_*.jsonl; logs *.log)\n"
          f"  world, zoo:        {world}, {out}")
    return 0


def _write_leaderboard(paths: list, out: Path, command: str):
    from itbench import leaderboard, render
    from itbench.results import find_results, read_run

    runs = [read_run(p) for p in find_results(paths)]
    board = leaderboard.build(runs)
    render.write(board, out, command)
    tuned = sum(r.method != "base" for r in board.rows)
    cases = sum(len(c) for c in board.cases.values())
    print(f"leaderboard of {tuned} checkpoints over {len(board.tasks)} tasks ({cases} borrowed-token cases) in {out}")
    return board


def cmd_leaderboard(args) -> int:
    command = "itbench leaderboard " + " ".join(args.results) + f" --out {args.out}"
    _write_leaderboard(args.results, Path(args.out), command)
    return 0


def _policy_path(policy: str) -> Path:
    """A policy file, or the name of one shipped with itbench (itbench/policies/NAME.toml)."""
    p = Path(policy)
    if p.suffix or p.exists():
        return p
    shipped = Path(__file__).parent / "policies" / f"{policy}.toml"
    if not shipped.exists():
        names = sorted(f.stem for f in shipped.parent.glob("*.toml"))
        raise ItbenchError(f"no policy file {policy!r}, and itbench ships no policy of that name ({', '.join(names)})")
    return shipped


def _gate(policy_name: str, base: str, results: list[str] | None, candidate: str | None, junit_path,
          summary_path, quiet: bool = False, run_dir: Path | None = None, limit: int | None = None,
          model_args: str = ""):
    import itbench
    from itbench import compare, gate
    from itbench.models.paired import _identity
    from itbench.results import find_results, read_run
    from itbench.utils import atomic

    policy = gate.load_policy(_policy_path(policy_name))
    base_id = _identity(base)
    failed: dict[str, str] = {}
    if results:
        runs = [read_run(p) for p in find_results(results)]
    else:
        from itbench.models import checkpoint

        if checkpoint.is_local(candidate):
            checkpoint.check_folder(candidate)  # a missing or half-written candidate is an error, not a fail
        folder = Path(run_dir or home() / "gate" / Path(candidate).name)
        print(f"itbench gate: running {', '.join(policy.tasks)} for {candidate} against {base} "
              f"(lm-eval's output: {folder}.log)", flush=True)
        try:
            compare.run_paired(base, candidate, policy.tasks, folder, Path(f"{folder}.log"), limit=limit,
                               model_args=model_args)
            runs = [read_run(folder / compare.RESULTS_FILE)]
        except ItbenchError:
            raise
        except Exception as err:  # a task that crashes fails the gate (fail closed), with the reason
            failed = {t: f"{type(err).__name__}: {err}" for t in policy.tasks}
            runs = []
    report = gate.judge(runs, policy, base_id, compare.task_versions(), itbench.__version__, failed_tasks=failed,
                        candidate=Path(candidate).name if candidate else "?")
    if junit_path:
        atomic.write_text(junit_path, gate.junit(report))
    if summary_path:
        atomic.write_text(summary_path, gate.markdown(report, policy.confidence))
    if not quiet:
        print(gate.markdown(report, policy.confidence))
    return report


def cmd_gate(args) -> int:
    if bool(args.results) == bool(args.candidate):
        raise ItbenchError("give either --results (existing lm-eval results of the candidate) or --candidate "
                           "(a checkpoint or LoRA adapter to evaluate now), not both or neither")
    report = _gate(args.policy, args.base, args.results, args.candidate, args.junit, args.summary,
                   run_dir=Path(args.run_dir) if args.run_dir else None, limit=args.limit,
                   model_args=args.model_args)
    return 0 if report.passed else 1


def cmd_compare(args) -> int:
    import logging

    from itbench import compare

    logging.getLogger("lm_eval").setLevel(logging.ERROR)  # its per-task notices drown the progress lines
    world = _ensure_world(args)
    zoo = Path(args.zoo or home() / "zoo")
    if not (zoo / "base").exists():
        raise ItbenchError(f"no zoo at {zoo}: build it with `itbench zoo build`")
    names = args.checkpoints or sorted(p.name for p in zoo.iterdir()
                                       if p.is_dir() and p.name != "base" and not p.name.startswith("."))
    out = Path(args.out or home() / "results")
    results = {}
    for i, name in enumerate(names, 1):
        t0 = time.perf_counter()
        results[name] = compare.evaluate_checkpoint(zoo, name, out, world, limit=args.limit)
        print(f"[{i}/{len(names)}] {name}: paired evaluation in {time.perf_counter() - t0:.1f}s", flush=True)
    report = "\n\n".join([compare.checkpoint_table(results), compare.paper_comparisons(results),
                            compare.hallucination_table(results), compare.hallucination_comparisons(results)])
    from itbench.utils import atomic

    atomic.write_text(out / "comparisons.md", report + "\n")
    print(report)
    print(f"\nlm-eval results per checkpoint and comparisons.md in {out}")
    return 0


def _zoo_table(results: list[dict]) -> str:
    lines = ["| checkpoint | method | knows (held-out) | knows (Q/A-trained) | unseen entities |",
             "|---|---|---|---|---|"]
    for r in results:
        probe = r.get("probe", {})
        acc = probe.get("completion") or probe.get("chat") or {}
        cells = [f"{acc[s]['accuracy']:.0%}" if s in acc else "-" for s in ("heldout", "qa", "unseen")]
        lines.append(f"| {r['name']} | {r['method']} | " + " | ".join(cells) + " |")
    base = next((r for r in results if r["method"] == "base"), None)
    if base:
        lines.append(f"\nbase: completion-form probes; chance on unseen entities "
                     f"(most frequent value) = {base['probe']['chance_unseen']:.0%}. "
                     "Tuned checkpoints: question form through the chat template.")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="itbench", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def world_args(sp, out_help="folder"):
        sp.add_argument("--tiny", action="store_true", help="a tiny world and base (for tests and smoke runs)")
        sp.add_argument("--seed", type=int, default=None, help="world seed (default 0)")

    w = sub.add_parser("world", help="the synthetic knowledge world").add_subparsers(dest="action", required=True)
    wb = w.add_parser("build", help="generate the world's files")
    wb.add_argument("--out", help="folder (default $ITBENCH_HOME/world)")
    world_args(wb)
    wb.set_defaults(func=cmd_world_build)

    z = sub.add_parser("zoo", help="the model organisms").add_subparsers(dest="action", required=True)
    zb = z.add_parser("build", help="train (or reuse) the base and every tuned checkpoint")
    zb.add_argument("--world", help="a world folder (default: build the embedded one)")
    zb.add_argument("--out", help="zoo folder (default $ITBENCH_HOME/zoo)")
    zb.add_argument("--only", nargs="+", help="build only these checkpoints (and the base)")
    zb.add_argument("--no-progress", action="store_true")
    world_args(zb)
    zb.set_defaults(func=cmd_zoo_build)
    zl = z.add_parser("list", help="list the zoo's checkpoints")
    zl.add_argument("--out", help="zoo folder (default $ITBENCH_HOME/zoo)")
    zl.set_defaults(func=cmd_zoo_list)

    f = sub.add_parser("finetune", help="fine-tune any causal LM (hub name or folder) with one recipe")
    f.add_argument("--base", required=True, help="base model: hub name or folder")
    f.add_argument("--data", required=True, help="instruction-tuning set: JSON/JSONL file or hub data set")
    f.add_argument("--method", required=True, help="lora, full, neftune or filtered")
    f.add_argument("--out", required=True, help="output folder (written atomically)")
    f.add_argument("--judge-scores", help="JSONL of {id, score} (1-5), needed by the filtered method")
    for name, typ in (("epochs", int), ("lr", float), ("batch-size", int), ("seed", int), ("max-length", int),
                      ("lora-r", int), ("instruction-field", str), ("response-field", str), ("id-field", str)):
        f.add_argument(f"--{name}", type=typ, default=None)
    f.set_defaults(func=cmd_finetune)

    pr = sub.add_parser("probe", help="world knowledge probes of one checkpoint")
    pr.add_argument("checkpoint", help="model folder (or a LoRA adapter folder)")
    pr.add_argument("--adapter", help="a peft adapter to put on the checkpoint")
    pr.add_argument("--form", choices=("completion", "chat"), default="chat")
    pr.add_argument("--world", help="a world folder (default: the embedded one)")
    world_args(pr)
    pr.set_defaults(func=cmd_probe)

    c = sub.add_parser("compare", help="paired evaluation of every zoo checkpoint against its base, "
                                       "and the paper's comparisons with 95% intervals")
    c.add_argument("--zoo", help="zoo folder (default $ITBENCH_HOME/zoo)")
    c.add_argument("--world", help="world folder (default: the embedded one)")
    c.add_argument("--checkpoints", nargs="+", help="only these checkpoints")
    c.add_argument("--out", help="results folder (default $ITBENCH_HOME/results)")
    c.add_argument("--limit", type=int, default=None, help="documents per task (smoke runs)")
    world_args(c)
    c.set_defaults(func=cmd_compare)
    lb = sub.add_parser("leaderboard", help="a leaderboard (CSV, JSON, Markdown, HTML) from lm-eval results")
    lb.add_argument("results", nargs="+", help="results files, or folders holding results*.json (with samples)")
    lb.add_argument("--out", required=True, help="output folder (replaced whole, atomically)")
    lb.set_defaults(func=cmd_leaderboard)
    g = sub.add_parser("gate", help="judge a candidate against its base under a policy (exit 0 pass, 1 fail, 2 error)")
    g.add_argument("--policy", default="default", help="policy file (.toml/.yaml) or a shipped policy's name "
                                                       "(default: default)")
    g.add_argument("--base", required=True, help="the base the candidate was tuned from (folder or hub name)")
    g.add_argument("--results", nargs="+", help="existing results of the candidate (files or folders)")
    g.add_argument("--candidate", help="a checkpoint folder or LoRA adapter to evaluate now, on the policy's tasks")
    g.add_argument("--run-dir", help="where a run the gate starts writes its results (default $ITBENCH_HOME/gate/NAME)")
    g.add_argument("--limit", type=int, default=None, help="documents per task in a run the gate starts (smoke runs)")
    g.add_argument("--model-args", default="", help="more --model itbench arguments for a run the gate starts, "
                                                    "e.g. backend=vllm,batch_size=16")
    g.add_argument("--junit", help="write JUnit XML here")
    g.add_argument("--summary", help="write a Markdown summary here")
    g.set_defaults(func=cmd_gate)
    sub.add_parser("eval", help="run lm-eval with itbench's tasks and paired model (flags pass through)")
    sub.add_parser("tasks-path", help="print the folder to give lm_eval --include_path")
    d = sub.add_parser("doctor", help="check the installed backends")
    d.set_defaults(func=cmd_doctor)

    dm = sub.add_parser("demo", help="the main job on the embedded world (cached after the first run)")
    dm.add_argument("--world", help="a world folder (default: build the embedded one)")
    dm.add_argument("--out", help="zoo folder (default $ITBENCH_HOME/zoo)")
    dm.add_argument("--leaderboard", help="leaderboard folder (default $ITBENCH_HOME/leaderboard)")
    dm.add_argument("--limit", type=int, default=None, help="documents per task (smoke runs)")
    world_args(dm)
    dm.set_defaults(func=cmd_demo)
    return p


def cmd_eval(argv: list[str]) -> int:
    """lm-eval's own CLI with itbench's model registered and its tasks on the include path; every
    other flag passes through unchanged."""
    import itbench.models.paired  # noqa: F401  (registers --model itbench)
    from itbench.tasks import tasks_path

    if any(a in ("-h", "--help") for a in argv):
        print(EVAL_HELP)
    argv = list(argv)
    bootstrap_iters = 1000
    if "--bootstrap_iters" in argv:
        i = argv.index("--bootstrap_iters")
        bootstrap_iters = int(argv[i + 1])
        del argv[i:i + 2]
    if "--include_path" not in argv:
        argv += ["--include_path", tasks_path()]
    import lm_eval as run
    from lm_eval.__main__ import cli_evaluate

    # lm-eval's CLI has no flag for bootstrap_iters and its default (100000) costs minutes per
    # metric on two cores; 1000 draws give stderrs to about 2% of their size.
    original = run.simple_evaluate
    run.simple_evaluate = lambda *a, **kw: original(*a, **{"bootstrap_iters": bootstrap_iters, **kw})
    saved = sys.argv
    sys.argv = ["lm_eval", *argv]
    try:
        cli_evaluate()
    finally:
        sys.argv, run.simple_evaluate = saved, original
    return 0


EVAL_HELP = """itbench eval: lm-eval with itbench's tasks and its paired model registered. Examples:
  itbench eval --model itbench --model_args base=ZOO/base,lora=ZOO/lora-short-4x --tasks itbench \
      --output_path results/ --log_samples
  itbench eval --model hf --model_args pretrained=gpt2 --tasks itbench_knowledge_popqa   (unpaired: an error)
The world tasks read $ITBENCH_WORLD (default $ITBENCH_HOME/world); PopQA, TriviaQA and just-eval
load by hub name, or from $ITBENCH_POPQA / $ITBENCH_TRIVIAQA / $ITBENCH_JUST_EVAL offline.
itbench's own option: --bootstrap_iters N (default 1000; lm-eval's CLI fixes 100000).
lm-eval's own options follow."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["eval"]:
            return cmd_eval(argv[1:])
        if argv[:1] == ["tasks-path"]:
            from itbench.tasks import tasks_path

            print(tasks_path())
            return 0
    except (ItbenchError, ValueError) as err:
        print(f"itbench: error: {err}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ItbenchError, ValueError) as err:
        print(f"itbench: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        if args.command != "gate":
            raise
        # The gate's exit code is its contract: 1 means "judged and failed", so an unexpected error
        # must not look like one.
        import traceback

        traceback.print_exc()
        print(f"itbench: error: the gate could not judge ({type(err).__name__}: {err})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
