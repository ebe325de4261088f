"""Benchmark: `itbench study` cold on this machine, step by step (target: <= 45 min on 2 CPU cores).

Runs the whole study on the embedded Gemma 3 270M from an empty $ITBENCH_HOME (conversion
included) and prints each step's time from the study's own record; nothing is asserted.
    .venv/bin/python benchmarks/study_time.py [--data ../shared/data] [--rows 64] [--threads 2]
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
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="itbench-study-") as home:
        os.environ["ITBENCH_HOME"] = home
        from itbench.study import StudyConfig, run_study

        t0 = time.perf_counter()
        record = run_study(StudyConfig(base=args.base, rows=args.rows), args.data, Path(home) / "study",
                           Path(home) / "board")
        total = time.perf_counter() - t0
    s = record["seconds"]
    print(f"\nitbench study cold, {args.base}, {args.rows} rows per style, {args.threads} threads:")
    print(f"  conversion {s['base']:.0f}s, training {s['train']:.0f}s, evaluation {s['evaluate']:.0f}s, "
          f"total {total:.0f}s ({total / 60:.1f} min; target 45 min)")


if __name__ == "__main__":
    main()
