"""Adapters for the itbench_token_shift_* tasks: load the instruction sets, turn one paired payload
into a response summary, and aggregate (per response, and pooled over all tokens)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from itbench.metrics import token_shift as TS
from itbench.tasks.common import paired, rows_from, to_dataset, world_dir

log = logging.getLogger(__name__)
METRICS = ("unshifted_share", "marginal_share", "shifted_share", "mean_kl", "mean_base_rank", "mean_base_rank0",
           "mean_base_prob", "kl_sentence_start", "kl_sentence_rest", "kl_response_start", "kl_response_rest",
           "shifted_style_share")


def load_world(world: str | None = None, **_):
    """Open-ended instructions and questions about held-out entities."""
    from itbench.world import store

    path = world_dir(world)
    rows = [{"instruction": r["instruction"], "itbench_mode": "token_shift", "source": "open"}
            for r in store.read_rows(path, "open_instructions.jsonl")]
    rows += [{"instruction": p["question"], "itbench_mode": "token_shift", "source": "question"}
             for p in store.read_rows(path, "probes.jsonl") if p["split"] == "heldout"]
    return to_dataset(rows)


URIAL_QUERY = "# Query:\n```\n{instruction}\n```\n\n# Answer:\n```\n"


def load_just_eval(data_file: str | None = None, urial_prompt: str | None = None, limit_regular: int = 800, **_):
    """just-eval-instruct's regular items; the base is prompted URIAL-style (in-context prefix)."""
    rows = rows_from(data_file, "re-align/just-eval-instruct", "test", "ITBENCH_JUST_EVAL")
    regular = [r for r in rows if r.get("category", "regular") == "regular"][:limit_regular]
    prefix = ""
    prompt_file = urial_prompt or _default_urial(data_file or os.environ.get("ITBENCH_JUST_EVAL"))
    if prompt_file:
        prefix = Path(prompt_file).read_text(encoding="utf-8").rstrip() + "\n\n"
    else:
        log.warning("no URIAL prompt found (set $ITBENCH_URIAL_PROMPT): base models see the bare query")
    return to_dataset([{"instruction": r["instruction"], "itbench_mode": "token_shift", "source": r.get("dataset", ""),
                        "itbench_base_prompt": prefix + URIAL_QUERY.format(instruction=r["instruction"])}
                       for r in regular])


def _default_urial(data_file: str | None) -> str | None:
    for candidate in (os.environ.get("ITBENCH_URIAL_PROMPT"),
                      data_file and Path(data_file).parent / "urial_prompts" / "inst_1k_v4.help.txt"):
        if candidate and Path(candidate).exists():
            return str(candidate)
    return None


def process_results(doc: dict, results: list[str]) -> dict:
    payload = paired(doc, results[0], "itbench_token_shift")
    shift = payload["shift"]
    summary = TS.summarize(shift, shift["tokens"])
    per_response = TS.metrics(summary)
    out = {name: per_response[name] for name in METRICS}
    out.update({f"{name}_pooled": summary for name in METRICS})
    out["n_tokens"] = summary["n"]
    out["empty_responses"] = int(summary["n"] == 0)
    return out


def _pooled(name: str):
    def aggregate(summaries) -> float:
        return TS.metrics(TS.pool(summaries))[name]

    aggregate.__name__ = f"pooled_{name}"
    return aggregate


# One named corpus-level aggregation per metric: pooled over every token of every response.
pooled_unshifted_share = _pooled("unshifted_share")
pooled_marginal_share = _pooled("marginal_share")
pooled_shifted_share = _pooled("shifted_share")
pooled_mean_kl = _pooled("mean_kl")
pooled_mean_base_rank = _pooled("mean_base_rank")
pooled_mean_base_rank0 = _pooled("mean_base_rank0")
pooled_mean_base_prob = _pooled("mean_base_prob")
pooled_kl_sentence_start = _pooled("kl_sentence_start")
pooled_kl_sentence_rest = _pooled("kl_sentence_rest")
pooled_kl_response_start = _pooled("kl_response_start")
pooled_kl_response_rest = _pooled("kl_response_rest")
pooled_shifted_style_share = _pooled("shifted_style_share")


def total(values) -> int:
    return int(sum(values))
