"""The `itbench` command line: the top floor. Each command parses its flags and calls one library
function (itbench.demo, .study, .evaluate, .render, .gate, .models.*); no module imports this one.

Bad input raises ItbenchError (or a config's ValueError): printed as one line, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from itbench import escape, paths
from itbench.argtypes import positive_int
from itbench.errors import ItbenchError

say = escape.say


def cmd_world_build(args) -> int:
    from itbench.world import store
    from itbench.world.config import TINY_WORLD, WorldConfig

    config = TINY_WORLD if args.tiny else WorldConfig()
    if args.seed is not None:
        import dataclasses

        config = dataclasses.replace(config, seed=args.seed)
    out = Path(args.out or paths.world())
    store.write_world(config, out)
    manifest = store.read_manifest(out)
    say(f"world {manifest['fingerprint']} (format {manifest['format_version']}) at {out}: "
        f"{', '.join(sorted(manifest['files']))}")
    return 0


def cmd_zoo_build(args) -> int:
    from itbench.demo import base_recipe, ensure_world, stopping_rule
    from itbench.models.zoo import build_zoo

    out = Path(args.out or paths.zoo())
    t0 = time.perf_counter()
    results = build_zoo(ensure_world(args.world, args.tiny, args.seed), out,
                        base_recipe=base_recipe(args.tiny, args.base_seed), stopping=stopping_rule(args.tiny),
                        only=args.only, seeds=seeds_of(args), progress=not args.no_progress and sys.stderr.isatty(),
                        log=say)
    built = sum(r["built"] for r in results)
    say(f"zoo at {out}: {len(results)} checkpoints ({built} built, {len(results) - built} cached) "
        f"in {time.perf_counter() - t0:.1f}s")
    return 0


def cmd_zoo_list(args) -> int:
    from itbench.models.zoo import list_zoo

    for m in list_zoo(Path(args.out or paths.zoo())):
        it = m.get("it_set") or {}
        say(f"{m['name']:20s} method={m['method']:9s} style={it.get('style') or '-':6s} "
            f"scale={it.get('scale') or '-'}  fingerprint={m['fingerprint']}")
    return 0


def cmd_finetune(args) -> int:
    from itbench.models.finetune import finetune, read_judge_scores
    from itbench.models.recipes import FinetuneRecipe

    fields = {k: getattr(args, k) for k in ("epochs", "lr", "batch_size", "seed", "max_length", "lora_r",
                                            "instruction_field", "response_field", "id_field")
              if getattr(args, k) is not None}
    recipe = FinetuneRecipe(method=args.method, **fields)
    from itbench.models.checkpoint import MANIFEST
    from itbench.utils import atomic

    # before the judge scores are read (finetune() checks again, with an embedded base resolved)
    local = args.base if Path(args.base).exists() else None  # else a hub or embedded name
    atomic.check_output(args.out, [local, args.data, args.judge_scores], ours=(MANIFEST,), what="checkpoint")
    scores = read_judge_scores(args.judge_scores) if args.judge_scores else None
    from itbench.utils.progress import Steps

    manifest = finetune(args.base, args.data, recipe, args.out, judge_scores=scores, log=say,
                        progress=Steps(f"{args.method} training", lines=True))
    say(f"{args.method} checkpoint at {args.out} ({manifest['training']['steps']} steps, "
        f"final loss {manifest['training']['final_loss']:.3f})")
    return 0


def cmd_probe(args) -> int:
    from itbench.demo import ensure_world
    from itbench.models import checkpoint
    from itbench.world.probe import probe_checkpoint

    model, tok = checkpoint.load(args.checkpoint, adapter=args.adapter)
    world = ensure_world(args.world, args.tiny, args.seed)
    say(json.dumps(probe_checkpoint(model, tok, world, chat=args.form == "chat"), indent=2))
    return 0


def cmd_doctor(args) -> int:
    import torch

    from itbench.models import backends

    say(f"torch {torch.__version__} (cuda available: {torch.cuda.is_available()})")
    backends.check_torchvision()
    try:
        say(f"vLLM: {backends.vllm_flavour()} build installed; the vLLM path is available")
    except ItbenchError as err:
        say(f"vLLM: not usable ({err}); the HF transformers path is used")
    return 0


def cmd_demo(args) -> int:
    from itbench.demo import run_demo

    run_demo(args.world, args.out, args.leaderboard, limit=args.limit, tiny=args.tiny, seed=args.seed,
             seeds=seeds_of(args), base_seed=args.base_seed, log=say, verbose=args.verbose)
    return 0


def cmd_compare(args) -> int:
    from itbench import compare, evaluate
    from itbench.demo import ensure_world
    from itbench.utils import atomic

    out = Path(args.out or paths.results())
    results = evaluate.evaluate_zoo(Path(args.zoo or paths.zoo()), ensure_world(args.world, args.tiny, args.seed),
                                    out, names=args.checkpoints, limit=args.limit, log=say)
    report = compare.report(results, out)
    atomic.write_text(out / "comparisons.md", report + "\n")
    say(report + f"\n\nlm-eval results per checkpoint and comparisons.md in {out}")
    return 0


def cmd_rescore(args) -> int:
    from itbench.evaluate import RESULTS_FILE, rescore

    folders = [Path(f) for f in args.folders]
    bad = [str(f) for f in folders if not (f / RESULTS_FILE).is_file()]
    if bad:
        raise ItbenchError(f"no {RESULTS_FILE} in {', '.join(bad)}: give the folders of paired runs (a study's or "
                           "a zoo's results/<checkpoint>)")
    for f in folders:
        done = rescore(f)
        say(f"{f}: rescored " + ", ".join(f"{t} ({n} documents)" for t, n in done.items()))
    return 0


def cmd_leaderboard(args) -> int:
    from itbench.publish import publish

    publish(args.results, Path(args.out), f"itbench leaderboard {' '.join(args.results)} --out {args.out}", log=say)
    return 0


def cmd_gate(args) -> int:
    from itbench.gate import run_gate

    report = run_gate(args.policy, args.base, args.results, args.candidate, args.junit, args.summary,
                      run_dir=Path(args.run_dir) if args.run_dir else None, limit=args.limit,
                      model_args=args.model_args, smoke=args.smoke, log=say)
    return 0 if report.passed else 1


def cmd_tasks_path(args) -> int:
    say(paths.tasks())
    return 0


def _seeds_arg(sp) -> None:
    sp.add_argument("--seeds", type=positive_int, default=None,
                    help="training seeds per tuned recipe (default 3; 1 with --tiny): findings need at least 2")
    sp.add_argument("--base-seed", type=int, default=0,
                    help="the base organism's training seed (default 0): another seed is another base, the "
                         "stand-in for another CPU's floating-point path")


def seeds_of(args) -> int:
    from itbench.models.zoo import DEFAULT_SEEDS

    return args.seeds if args.seeds is not None else (1 if args.tiny else DEFAULT_SEEDS)  # the zoo checks >= 1


def _world_args(sp) -> None:
    sp.add_argument("--tiny", action="store_true", help="a tiny world and base (for tests and smoke runs)")
    sp.add_argument("--seed", type=int, default=None, help="world seed (default 0)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="itbench", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    w = sub.add_parser("world", help="the synthetic knowledge world").add_subparsers(dest="action", required=True)
    wb = w.add_parser("build", help="generate the world's files")
    wb.add_argument("--out", help="folder (default $ITBENCH_HOME/world)")
    _world_args(wb)
    wb.set_defaults(func=cmd_world_build)

    z = sub.add_parser("zoo", help="the model organisms").add_subparsers(dest="action", required=True)
    zb = z.add_parser("build", help="train (or reuse) the base and every tuned checkpoint")
    zb.add_argument("--world", help="a world folder (default: build the embedded one)")
    zb.add_argument("--out", help="zoo folder (default $ITBENCH_HOME/zoo)")
    zb.add_argument("--only", nargs="+", help="build only these checkpoints or replicate groups (and the base)")
    _seeds_arg(zb)
    zb.add_argument("--no-progress", action="store_true", help="no progress bars")
    _world_args(zb)
    zb.set_defaults(func=cmd_zoo_build)
    zl = z.add_parser("list", help="list the zoo's checkpoints")
    zl.add_argument("--out", help="zoo folder (default $ITBENCH_HOME/zoo)")
    zl.set_defaults(func=cmd_zoo_list)

    from itbench.models.recipes import METHODS

    f = sub.add_parser("finetune", help="fine-tune any causal LM (hub name or folder) with one recipe")
    f.add_argument("--base", required=True, help="base model: hub name or folder")
    f.add_argument("--data", required=True, help="instruction-tuning set: JSON/JSONL/CSV file or hub data set")
    f.add_argument("--method", required=True, help=f"a registered tuning method: {', '.join(METHODS)}")
    f.add_argument("--out", required=True, help="output folder (written atomically)")
    f.add_argument("--judge-scores", help="JSONL of {id, score} (1-5), needed by the filtered method")
    for name, typ in (("epochs", int), ("lr", float), ("batch-size", int), ("seed", int), ("max-length", int),
                      ("lora-r", int), ("instruction-field", str), ("response-field", str), ("id-field", str)):
        f.add_argument(f"--{name}", type=typ, default=None, help="overrides the recipe's default")
    f.set_defaults(func=cmd_finetune)

    pr = sub.add_parser("probe", help="world knowledge probes of one checkpoint")
    pr.add_argument("checkpoint", help="model folder (or a LoRA adapter folder)")
    pr.add_argument("--adapter", help="a peft adapter to put on the checkpoint")
    pr.add_argument("--form", choices=("completion", "chat"), default="chat")
    pr.add_argument("--world", help="a world folder (default: the embedded one)")
    _world_args(pr)
    pr.set_defaults(func=cmd_probe)

    c = sub.add_parser("compare", help="paired evaluation of every zoo checkpoint against its base, "
                                       "and the paper's comparisons with 95%% intervals")
    c.add_argument("--zoo", help="zoo folder (default $ITBENCH_HOME/zoo)")
    c.add_argument("--world", help="world folder (default: the embedded one)")
    c.add_argument("--checkpoints", nargs="+", help="only these checkpoints")
    c.add_argument("--out", help="results folder (default $ITBENCH_HOME/results)")
    c.add_argument("--limit", type=positive_int, default=None, help="documents per task (smoke runs)")
    _world_args(c)
    c.set_defaults(func=cmd_compare)

    rs = sub.add_parser("rescore", help="recompute every metric of paired runs from their logged samples with the "
                                        "installed metric code (no model runs)")
    rs.add_argument("folders", nargs="+", help="run folders holding results.json and samples_<task>.jsonl")
    rs.set_defaults(func=cmd_rescore)

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
    g.add_argument("--limit", type=positive_int, default=None,
                   help="documents per task in a run the gate starts (smoke runs: needs --smoke)")
    g.add_argument("--smoke", action="store_true", help="judge results of a --limit run: a smoke verdict, never a "
                                                        "pass (exit 1 at best)")
    g.add_argument("--model-args", default="", help="more --model itbench arguments for a run the gate starts, "
                                                    "e.g. backend=vllm,batch_size=16")
    g.add_argument("--junit", help="write JUnit XML here")
    g.add_argument("--summary", help="write a Markdown summary here")
    g.set_defaults(func=cmd_gate)

    sub.add_parser("eval", help="run lm-eval with itbench's tasks and paired model (flags pass through; "
                                "`itbench eval --help`)")
    sub.add_parser("tasks-path", help="print the folder to give lm_eval --include_path").set_defaults(
        func=cmd_tasks_path)
    sub.add_parser("doctor", help="check the installed backends").set_defaults(func=cmd_doctor)

    dm = sub.add_parser("demo", help="the main job on the embedded world (cached after the first run)")
    dm.add_argument("--world", help="a world folder (default: build the embedded one)")
    dm.add_argument("--out", help="zoo folder (default $ITBENCH_HOME/zoo)")
    dm.add_argument("--leaderboard", help="leaderboard folder (default $ITBENCH_HOME/leaderboard)")
    dm.add_argument("--limit", type=positive_int, default=None, help="documents per task (smoke runs)")
    _seeds_arg(dm)
    _world_args(dm)
    dm.set_defaults(func=cmd_demo)
    for quiet in (dm, f):
        quiet.add_argument("--verbose", action="store_true", help="every step's lines and third-party progress bars")

    from itbench import causal_cli, findings_cli, judge_cli, study_cli

    study_cli.add_commands(sub)
    findings_cli.add_commands(sub)
    causal_cli.add_commands(sub)

    judge_cli.add_commands(sub)
    return p


EVAL_HELP = """itbench eval: lm-eval with itbench's tasks and its paired model registered. Examples:
  itbench eval --model itbench --model_args base=ZOO/base,lora=ZOO/lora-short-4x --tasks itbench \\
      --output_path results/ --log_samples
  itbench eval --model itbench --model_args base=B,tuned=T --tasks my_qa --include_path my_tasks/
      (your own data: a YAML that includes an itbench template; see itbench/tasks/knowledge/README.md)
The world tasks read $ITBENCH_WORLD (default $ITBENCH_HOME/world); PopQA, TriviaQA and just-eval
load by hub name, or from $ITBENCH_POPQA / $ITBENCH_TRIVIAQA / $ITBENCH_JUST_EVAL offline.
itbench's own option: --bootstrap_iters N (default 1000; lm-eval's CLI fixes 100000).
With --model itbench and no --batch_size, the batch size is auto (64; lm-eval's default is 1).
lm-eval's own options follow."""


def cmd_eval(argv: list[str]) -> int:
    """lm-eval's own CLI with itbench's model registered and its tasks on the include path; every
    other flag passes through unchanged (--include_path adds the user's own task folder)."""
    import lm_eval as run
    from lm_eval.__main__ import cli_evaluate
    from lm_eval.tasks import TaskManager

    import itbench.models.paired  # noqa: F401  (registers --model itbench)

    if any(a in ("-h", "--help") for a in argv):
        say(EVAL_HELP)
    argv = list(argv)
    bootstrap_iters = 1000
    if "--bootstrap_iters" in argv:
        i = argv.index("--bootstrap_iters")
        try:
            bootstrap_iters = int(argv[i + 1])
        except (IndexError, ValueError) as err:
            raise ItbenchError("--bootstrap_iters takes a whole number, e.g. --bootstrap_iters 1000") from err
        del argv[i:i + 2]
    # lm-eval's --batch_size defaults to 1, which at Gemma's 262k vocabulary reads the whole LM head
    # once per generated token (a 200-question pair: 22.7 min at 1, 88 s at 64): the paired model
    # gets "auto" (its AUTO_BATCH) unless the user names a size.
    model = next((a.split("=", 1)[1] for a in argv if a.startswith("--model=")), None) or \
        next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--model"), None)
    if model == "itbench" and not any(a == "--batch_size" or a.startswith("--batch_size=") for a in argv):
        argv += ["--batch_size", "auto"]
    # lm-eval's CLI has no flag for bootstrap_iters and its default (100000) costs minutes per
    # metric on two cores; 1000 draws give stderrs to about 2% of their size.
    from itbench.evaluate import in_process_bootstrap

    in_process_bootstrap()
    original = run.simple_evaluate
    run.simple_evaluate = lambda *a, **kw: original(*a, **{"bootstrap_iters": bootstrap_iters, **kw})
    # lm-eval's CLI takes one --include_path: itbench's tasks join whatever the user gives (their
    # own task folder) in every TaskManager the CLI builds.
    manager_init = TaskManager.__init__

    def init(self, verbosity=None, include_path=None, *a, **kw):
        given = list(include_path) if isinstance(include_path, (list, tuple)) else [include_path]
        manager_init(self, verbosity, [p for p in given if p] + [str(paths.tasks())], *a, **kw)

    saved = sys.argv
    sys.argv = ["lm_eval", *argv]
    TaskManager.__init__ = init
    try:
        cli_evaluate()
    finally:
        sys.argv, run.simple_evaluate, TaskManager.__init__ = saved, original, manager_init
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["eval"]:
            return cmd_eval(argv[1:])
        args = build_parser().parse_args(argv)
        if not getattr(args, "verbose", False):
            from itbench.utils.progress import silence_third_party

            silence_third_party()
        return args.func(args)
    except (ItbenchError, ValueError) as err:
        print(f"itbench: error: {escape.terminal(err)}", file=sys.stderr)
        return 2
    except Exception as err:
        if not argv or argv[0] != "gate":
            raise
        # The gate's exit code is its contract: 1 means "judged and failed", not an unexpected error
        import traceback

        traceback.print_exc()
        print(f"itbench: error: the gate could not judge ({type(err).__name__}: {escape.terminal(err)})",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
