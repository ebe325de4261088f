"""Validity of the judge-free unsupported-specifics count (itbench.metrics.specifics), where truth
is known. Prints figures; asserts nothing.

1. The world: over every checkpoint of a world zoo's results (`itbench demo` writes them to
   $ITBENCH_HOME/results), Spearman's rho between the mean unsupported items of a checkpoint's
   pattern-copy answers and the world's exact count of invented details (false claims) in them;
   the same over single answers.
2. Real text: the items `real_items` extracts against items marked by hand in a sample of
   answers (a JSONL of {"text", "items"}), precision and recall over items (matched after
   normalisation): benchmarks/data/specifics_hand_labels.jsonl (26 lora-short answers, read while
   the rules were written) and specifics_hand_labels_heldout.jsonl (24 lora-long answers drawn with
   a fixed seed and labelled before the extractor was run on them; the rules were not changed after).
    .venv/bin/python benchmarks/specifics_validity.py [--world-results DIR] [--labels FILE]
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path

TASK = "itbench_pattern_copy_world"


def world(results: Path) -> None:
    from itbench import stats

    per_ckpt, answers = [], []
    for folder in sorted(p for p in results.iterdir() if (p / f"samples_{TASK}.jsonl").is_file()):
        rows = [json.loads(line) for line in (folder / f"samples_{TASK}.jsonl").read_text().splitlines()]
        pairs = [(r["unsupported_tuned"], r["invented_tuned"]) for r in rows
                 if isinstance(r.get("unsupported_tuned"), (int, float)) and isinstance(r.get("invented_tuned"),
                                                                                         (int, float))]
        pairs = [(u, i) for u, i in pairs if not (math.isnan(u) or math.isnan(i))]
        if not pairs:
            continue
        answers += pairs
        per_ckpt.append((folder.name, sum(u for u, _ in pairs) / len(pairs), sum(i for _, i in pairs) / len(pairs)))
    if not per_ckpt:
        print(f"world: no {TASK} samples with unsupported_tuned under {results} (run `itbench demo` first)")
        return
    rho, lo, hi, n = stats.spearman_interval([u for _, u, _ in per_ckpt], [i for _, _, i in per_ckpt])
    print(f"world, {n} checkpoints: Spearman(mean unsupported items, mean invented details) = {rho:.3f} "
          f"[{lo:.3f}, {hi:.3f}]")
    rho, lo, hi, n = stats.spearman_interval([u for u, _ in answers], [i for _, i in answers])
    print(f"world, {n} answers: Spearman(unsupported items, invented details) = {rho:.3f} [{lo:.3f}, {hi:.3f}]")
    for name, u, i in per_ckpt:
        print(f"  {name:28s} unsupported {u:6.3f}  invented {i:6.3f}")


def _key(item: str) -> str:
    """An item as matched: normalised, spaces dropped ("F.C." and "F C" are one spelling)."""
    from itbench.metrics.text import normalize

    return normalize(item).replace(" ", "")


def hand(labels: Path) -> None:
    from itbench.metrics.specifics import real_items

    tp = fp = fn = 0
    misses, extras = Counter(), Counter()
    rows = [json.loads(line) for line in labels.read_text().splitlines() if line.strip()]
    for r in rows:
        got = Counter(_key(x) for x in real_items(r["text"]))
        want = Counter(_key(x) for x in r["items"])
        tp += sum((got & want).values())
        fp += sum((got - want).values())
        fn += sum((want - got).values())
        extras.update(got - want)
        misses.update(want - got)
    from itbench.stats import wilson_interval

    p, rc = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    (plo, phi), (rlo, rhi) = wilson_interval(p, tp + fp), wilson_interval(rc, tp + fn)
    print(f"hand-read sample {labels.name}, {len(rows)} answers, {tp + fn} items marked: extraction precision "
          f"{p:.3f} [{plo:.3f}, {phi:.3f}] ({tp} of {tp + fp}), recall {rc:.3f} [{rlo:.3f}, {rhi:.3f}] "
          f"({tp} of {tp + fn}; Wilson intervals over items)")
    print(f"  extracted but not marked: {extras.most_common(12)}")
    print(f"  marked but not extracted: {misses.most_common(12)}")


def main() -> None:
    from itbench import paths

    ap = argparse.ArgumentParser()
    ap.add_argument("--world-results", default=str(paths.results()))
    data = Path(__file__).parent / "data"
    ap.add_argument("--labels", nargs="+", default=[str(data / "specifics_hand_labels.jsonl"),
                                                    str(data / "specifics_hand_labels_heldout.jsonl")],
                    help="hand-read samples: the first tuned the rules, the held-out one did not")
    args = ap.parse_args()
    if Path(args.world_results).is_dir():
        world(Path(args.world_results))
    for labels in map(Path, args.labels):
        if labels.is_file():
            hand(labels)


if __name__ == "__main__":
    main()
