"""Benchmark: `itbench study` cold on this machine, step by step (target: the default study well
within an hour, `--seeds 3` within 2 hours on 2 CPU cores).

Runs the whole study on the embedded Gemma 3 270M from an empty $ITBENCH_HOME (conversion
included) and prints each step's time from the study's own record; nothing is asserted.
    .venv/bin/python benchmarks/study_time.py [--data ../shared/data] [--rows 64] [--threads 2]
        [--seeds 1] [--improved-seeds N] [--home EMPTY_DIR] [--leaderboard DIR]
With --home the study's files stay there (a temporary folder otherwise); --leaderboard also writes
the leaderboard folder there (how leaderboard/gemma-3-270m is made).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--base", default="gemma-3-270m")
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--improved-seeds", type=int)
    ap.add_argument("--home", help="an empty folder to keep the study in (default: a temporary one)")
    ap.add_argument("--leaderboard", help="where to write the leaderboard folder")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.home and Path(args.home).exists() and any(Path(args.home).iterdir()):
        raise SystemExit(f"--home {args.home} is not empty: a cold run needs an empty folder")
    with tempfile.TemporaryDirectory(prefix="itbench-study-") as tmp:
        home = args.home or tmp
        os.environ["ITBENCH_HOME"] = home
        from itbench.study import StudyConfig, run_study

        t0 = time.perf_counter()
        config = StudyConfig(base=args.base, rows=args.rows, seeds=args.seeds, improved_seeds=args.improved_seeds)
        record = run_study(config, args.data, Path(home) / "study", args.leaderboard or Path(home) / "board",
                           command=f"itbench study --base {args.base} --data DATA --rows {args.rows} "
                                   f"--seeds {args.seeds}")
        total = time.perf_counter() - t0
    s = record["seconds"]
    c = record["config"]
    print(f"\nitbench study cold, {args.base}, {args.rows} rows per style, {args.seeds} seed(s), {args.threads} "
          f"threads, training {c['precision']}, evaluation {c['dtype']}:")
    print(f"  conversion {s['base']:.0f}s, training {s['train']:.0f}s, screening {s['screen']:.0f}s, "
          f"evaluation {s['evaluate']:.0f}s, total {total:.0f}s ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()
