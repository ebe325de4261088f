"""`itbench judge serve` and `itbench judge audit`: the local judge and the judge's own accuracy."""

from __future__ import annotations

from pathlib import Path

from itbench import paths
from itbench.argtypes import port, positive_int
from itbench.escape import say


def cmd_judge_serve(args) -> int:
    """Convert the local judge's model once, print how to point itbench at it, then become
    `vllm serve` (Ctrl-C stops it)."""
    import os

    from itbench import judge

    argv = judge.serve_argv(judge.local_model_dir(log=say), args.port, args.host)
    url = f"http://{args.host}:{args.port}/v1"
    say(f"itbench judge: serving {judge.LOCAL_MODEL} (a weak local judge) at {url}; in another shell:\n"
        f"  export {judge.ENV_URL}={url} {judge.ENV_MODEL}={judge.LOCAL_MODEL}\n"
        f"then run the judged tasks (itbench_judge_just_eval, itbench_judge_world) or `itbench judge audit`.")
    os.execv(argv[0], argv)
    return 0  # not reached


def cmd_judge_audit(args) -> int:
    from itbench import judge, judge_audit

    zoo = Path(args.zoo or paths.zoo()).expanduser()
    world = Path(args.world or paths.world()).expanduser()
    out = Path(args.out).expanduser() if args.out else judge_audit.default_out()
    judge_audit.check_paths(zoo, world, out)  # before a local judge takes a minute to start
    if args.serve:
        with judge.LocalServer(args.port, log=say) as config:
            report = judge_audit.run(zoo, world, out, args.names, args.n, config, log=say)
    else:
        report = judge_audit.run(zoo, world, out, args.names, args.n, log=say)
    say(judge_audit.to_markdown(report))
    return 0


def add_commands(sub) -> None:
    jd = sub.add_parser("judge", help="the five-aspect judge (any OpenAI-compatible endpoint; local by default)")
    ja = jd.add_subparsers(dest="action", required=True)
    js = ja.add_parser("serve", help="serve the local judge (SmolLM2-135M-Instruct from PyPI) with `vllm serve`")
    js.add_argument("--port", type=port, default=8765)
    js.add_argument("--host", default="127.0.0.1")
    js.set_defaults(func=cmd_judge_serve)
    jau = ja.add_parser("audit", help="the judge's own accuracy on the world zoo: factuality vs exact precision, "
                                      "consistency, unparseable verdicts")
    jau.add_argument("--zoo", help="zoo folder (default $ITBENCH_HOME/zoo, as `itbench demo` builds it)")
    jau.add_argument("--world", help="world folder (default $ITBENCH_WORLD or $ITBENCH_HOME/world)")
    jau.add_argument("--names", nargs="+", help="checkpoints to judge (default: seed 0 of every recipe)")
    jau.add_argument("-n", type=positive_int, default=20, help="open instructions judged per checkpoint (default 20)")
    jau.add_argument("--out", help="report folder (default $ITBENCH_HOME/judge/audit)")
    jau.add_argument("--serve", action="store_true", help="start the local judge for the run (else the endpoint "
                                                          "in $ITBENCH_JUDGE_URL / $ITBENCH_JUDGE_MODEL)")
    jau.add_argument("--port", type=port, default=8765, help="the local judge's port with --serve")
    jau.set_defaults(func=cmd_judge_audit)
