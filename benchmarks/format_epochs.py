"""Benchmark: how many epochs a tuned organism needs before it answers in its IT set's format.

Fine-tunes a built zoo's base on the chosen IT sets for each epoch count (the zoo's recipe in
everything else, seed 0) and prints, per checkpoint, the training time and the chat probe's
well-formed share and accuracy on held-out, Q/A-trained and unseen entities: fixed epoch counts,
where the zoo trains each checkpoint to its format stopping rule (itbench.models.zoo.FORMAT_RULE).
It measured why the rule exists (issue 10): three epochs left the long style and the 1x sets
unlearned (0% well-formed), so finding 2 compared a learned style with an unlearned one.
Run: .venv/bin/python benchmarks/format_epochs.py --home $ITBENCH_HOME [--epochs 3 6 10]
     [--sets long_4x short_1x] [--methods lora full]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from itbench import paths
from itbench.models import checkpoint
from itbench.models.finetune import finetune
from itbench.models.recipes import FinetuneRecipe
from itbench.world import store
from itbench.world.probe import probe_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", default=str(paths.home()), help="an ITBENCH_HOME with world/ and zoo/base built")
    ap.add_argument("--epochs", type=int, nargs="+", default=[3, 6, 10])
    ap.add_argument("--sets", nargs="+", default=["long_4x", "short_1x"], help="STYLE_SCALEx")
    ap.add_argument("--methods", nargs="+", default=["lora", "full"])
    args = ap.parse_args()
    world, base = Path(args.home) / "world", Path(args.home) / "zoo" / "base"
    for name in args.sets:
        style, scale = name.removesuffix("x").split("_")
        data = store.world_file(world, store.it_filename(style, int(scale)))
        for method in args.methods:
            for epochs in args.epochs:
                with tempfile.TemporaryDirectory() as tmp:
                    out = Path(tmp) / "checkpoint"
                    t0 = time.perf_counter()
                    finetune(base, data, FinetuneRecipe(method=method, epochs=epochs), out, owned=True)
                    took = time.perf_counter() - t0
                    model, tok = checkpoint.load(base, adapter=out) if method == "lora" else checkpoint.load(out)
                    probe = probe_checkpoint(model, tok, world, chat=True)
                row = {"it_set": name, "method": method, "epochs": epochs, "train_s": round(took, 1)}
                for split, summary in probe.items():
                    if isinstance(summary, dict):
                        row[split] = {k: round(v, 3) for k, v in summary.items() if isinstance(v, float)}
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
