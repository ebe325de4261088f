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

    print("itbench demo: building the synthetic world and its model organisms (cached after the first run)")
    world = _ensure_world(args)
    out = Path(args.out or home() / "zoo")
    t0 = time.perf_counter()
    results = build_zoo(world, out, base_recipe=_base_recipe(args), progress=sys.stderr.isatty())
    print(f"\nzoo ready in {time.perf_counter() - t0:.1f}s at {out}")
    print(_zoo_table(results))
    print("\nPaired evaluation through lm-eval of every tuned checkpoint against the base "
          "(cached after the first run):")
    args.zoo, args.checkpoints, args.limit = str(out), None, None
    args.out = str(out.parent / "results")
    cmd_compare(args)
    print(f"\nworld files: {world}\ncheckpoints: {out} (each with itbench_manifest.json)")
    return 0


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
    sub.add_parser("eval", help="run lm-eval with itbench's tasks and paired model (flags pass through)")
    sub.add_parser("tasks-path", help="print the folder to give lm_eval --include_path")
    d = sub.add_parser("doctor", help="check the installed backends")
    d.set_defaults(func=cmd_doctor)

    dm = sub.add_parser("demo", help="the main job on the embedded world (cached after the first run)")
    dm.add_argument("--world", help="a world folder (default: build the embedded one)")
    dm.add_argument("--out", help="zoo folder (default $ITBENCH_HOME/zoo)")
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


if __name__ == "__main__":
    sys.exit(main())
