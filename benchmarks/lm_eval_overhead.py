"""Benchmark: what lm-eval and itbench's task code add to the model's own work (target <= 1.2x).

One zoo checkpoint paired with its base on the world tasks, measured side by side in one process,
alternating, best of `--repeats`:
  - bare: the same requests (built by the same tasks) handed straight to the paired model's
    generate_until: both models' generation, the kept-knowledge choice and the token-shift
    scoring, nothing else;
  - itbench: the whole `itbench compare` step for that checkpoint (run_paired: lm-eval's
    simple_evaluate with task loading, request building, process_results, metrics and their
    standard errors, samples written).
Both load the two models each time. Before run_paired computed standard errors in closed form it
was 1.21x here (lm-eval's Python bootstrap of 40 metrics); measured 2026-12-06: 0.93x, min of 3.
The reference cache is off in both, so the base's answers are computed each time.
Needs a built world and zoo: `itbench demo` (or `itbench world build` + `itbench zoo build`) first.
    .venv/bin/python benchmarks/lm_eval_overhead.py [--home $ITBENCH_HOME] [--checkpoint lora-short-4x]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path


def requests_of(tasks: list[str], world: Path):
    """The Instances lm-eval would hand to the model for `tasks`, built by the tasks themselves."""
    from lm_eval.tasks import get_task_dict

    from itbench.tasks import task_manager

    instances = []
    for task in get_task_dict(tasks, task_manager({"world": str(world)})).values():
        task.build_all_requests(limit=None, rank=0, world_size=1)
        instances += task.instances
    return instances


def main() -> None:
    from itbench import paths
    from itbench.evaluate import TASKS, run_paired
    from itbench.models import checkpoint
    from itbench.models.paired import PairedLM

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=None, help="an $ITBENCH_HOME holding world/ and zoo/ (default: yours)")
    ap.add_argument("--checkpoint", default="lora-short-4x")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    home = args.home or paths.home()
    world, zoo = home / "world", home / "zoo"
    base, cand = zoo / "base", zoo / args.checkpoint
    if not (base.exists() and cand.exists()):
        raise SystemExit(f"no zoo checkpoint {cand} (and base) here: run `itbench demo` with ITBENCH_HOME={home}")
    arg = "lora" if checkpoint.is_adapter(cand) else "tuned"
    instances = requests_of(list(TASKS), world)

    def bare() -> None:
        lm = PairedLM(base=str(base), **{arg: str(cand)}, reference_cache="none")
        try:
            lm.generate_until(instances)
        finally:
            lm.close()

    def full() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            run_paired(base, cand, list(TASKS), Path(tmp) / "run", Path(tmp) / "run.log",
                       model_args="reference_cache=none", metadata={"world": str(world)})

    times: dict[str, list[float]] = {"bare": [], "itbench": []}
    with contextlib.redirect_stderr(io.StringIO()):
        for _ in range(args.repeats):
            for label, fn in (("bare", bare), ("itbench", full)):
                t0 = time.perf_counter()
                fn()
                times[label].append(time.perf_counter() - t0)
    b, f = min(times["bare"]), min(times["itbench"])
    print(f"{args.checkpoint} vs base on {', '.join(TASKS)}: {len(instances)} requests")
    print(f"bare (the paired model's generate_until on the same requests) {b:.1f}s; itbench (run_paired: "
          f"lm-eval + tasks + metrics + stderrs + samples) {f:.1f}s; ratio {f / b:.2f}x (target <= 1.2x); "
          f"all times: {times}")


if __name__ == "__main__":
    main()
