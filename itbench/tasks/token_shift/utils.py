"""Adapters for the itbench_token_shift_* tasks: load the instruction sets, and turn one paired
payload into per-document values with itbench.metrics.token_shift.score (declared in
itbench.metrics.table; per response, and pooled over all tokens)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from itbench import data
from itbench.metrics import token_shift as TS
from itbench.tasks.common import paired, world_dir

log = logging.getLogger(__name__)
URIAL_QUERY = "# Query:\n```\n{instruction}\n```\n\n# Answer:\n```\n"


def load_world(world: str | None = None, **_):
    """Open-ended instructions and questions about held-out entities."""
    from itbench.world import store

    path = world_dir(world)
    rows = [{"instruction": r["instruction"], "itbench_mode": "token_shift", "source": "open"}
            for r in store.read_rows(path, "open_instructions.jsonl")]
    rows += [{"instruction": p["question"], "itbench_mode": "token_shift", "source": "question"}
             for p in store.read_rows(path, "probes.jsonl") if p["split"] == "heldout"]
    return data.to_dataset(rows)


def load_just_eval(data_file: str | None = None, urial_prompt: str | None = None, limit_regular: int = 800,
                   n_instructions: int | None = None, **_):
    """just-eval-instruct's regular items (the first `limit_regular`, as the paper; `n_instructions`
    of those spread over them when given); the base is prompted URIAL-style (in-context prefix)."""
    rows = data.load_rows(data_file, "re-align/just-eval-instruct", "test", "ITBENCH_JUST_EVAL")
    regular = data.spread([r for r in rows if r.get("category", "regular") == "regular"][:limit_regular],
                          n_instructions)
    prefix = ""
    prompt_file = urial_prompt or _default_urial(data_file or os.environ.get("ITBENCH_JUST_EVAL"))
    if prompt_file:
        prefix = Path(prompt_file).read_text(encoding="utf-8").rstrip() + "\n\n"
    else:
        log.warning("no URIAL prompt found (set $ITBENCH_URIAL_PROMPT): base models see the bare query")
    return data.to_dataset([{"instruction": r["instruction"], "itbench_mode": "token_shift",
                             "source": r.get("dataset", ""),
                             "itbench_base_prompt": prefix + URIAL_QUERY.format(instruction=r["instruction"])}
                            for r in regular])


def _default_urial(data_file: str | None) -> str | None:
    for candidate in (os.environ.get("ITBENCH_URIAL_PROMPT"),
                      data_file and Path(data_file).parent / "urial_prompts" / "inst_1k_v4.help.txt"):
        if candidate and Path(candidate).exists():
            return str(candidate)
    return None


def process_results(doc: dict, results: list[str]) -> dict:
    return TS.score(paired(results[0], "itbench_token_shift")["shift"])
