"""Benchmark: build the default world and zoo cold in a fresh folder, then again warm.

Prints the cold and warm wall times (targets: cold <= 10 min, warm a few seconds on 2 cores) and
each checkpoint's probe accuracy. Run: .venv/bin/python benchmarks/zoo_build.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from itbench.models.zoo import build_zoo
from itbench.world import store
from itbench.world.config import WorldConfig


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--keep", help="build here instead of a temporary folder (kept afterwards)")
    args = p.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="itbench-bench-"))
    timings = {}
    for label in ("cold", "warm"):
        t0 = time.perf_counter()
        world = store.write_world(WorldConfig(), root / "world")
        results = build_zoo(world, root / "zoo", progress=False, log=print)
        timings[label] = time.perf_counter() - t0
        print(f"--- {label}: {timings[label]:.1f}s ({sum(r['built'] for r in results)} checkpoints built)")
    print(f"zoo build: cold {timings['cold']:.1f}s (target <= 600s), warm {timings['warm']:.1f}s, "
          f"ratio {timings['cold'] / timings['warm']:.0f}x")


if __name__ == "__main__":
    main()
