"""Time `itbench demo`, the README's first command, cold and warm in one run.

Cold: a fresh, empty $ITBENCH_HOME, so the world, the zoo, every paired lm-eval run, the
leaderboard and the gates are all computed. Warm: the same command again, everything cached.
Targets on a 2-core CPU machine: cold <= 15 min, warm <= 3 min. `--threads N` sets torch's thread
count (OMP_NUM_THREADS) for the run: 1 and 2 threads sum in different orders, the local stand-in for
another CPU (compare the two runs' leaderboard/findings.json).

    .venv/bin/python benchmarks/demo_time.py [--keep DIR] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"cold": 15 * 60, "warm": 3 * 60}


def run_demo(home: Path, label: str, threads: int | None = None) -> float:
    env = {**os.environ, "ITBENCH_HOME": str(home)}
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    t0 = time.perf_counter()
    with open(home / f"demo-{label}.log", "w") as log:
        proc = subprocess.run([sys.executable, "-m", "itbench.cli", "demo"], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"itbench demo ({label}) exited {proc.returncode}: see {home / f'demo-{label}.log'}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", help="use (and keep) this empty folder as $ITBENCH_HOME instead of a temporary one")
    ap.add_argument("--threads", type=int, help="torch threads (OMP_NUM_THREADS) for the demo (default: torch's)")
    args = ap.parse_args()
    home = Path(args.keep or tempfile.mkdtemp(prefix="itbench-demo-"))
    home.mkdir(parents=True, exist_ok=True)
    if any(p.name in ("world", "zoo", "results") for p in home.iterdir()):
        sys.exit(f"{home} already holds a world, zoo or results: a cold run needs an empty folder")
    times = {label: run_demo(home, label, args.threads) for label in ("cold", "warm")}
    print(f"itbench demo on {os.cpu_count()} CPU cores ({args.threads or 'default'} torch threads), "
          f"$ITBENCH_HOME={home}")
    for label, secs in times.items():
        verdict = "within" if secs <= TARGETS[label] else "OVER"
        print(f"  {label}: {secs:7.1f} s  ({secs / 60:.1f} min; target <= {TARGETS[label] // 60} min: {verdict})")
    print(f"  warm / cold = {times['warm'] / times['cold']:.3f}")


if __name__ == "__main__":
    main()
