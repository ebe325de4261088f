"""Screening a base over whole question pools: which questions it answers right in the kept form
(the base's own few-shot prompt), so that retention is measured where the base has knowledge to
lose instead of on the few questions a blind sample of a pool happens to hold.

A screen is computed once per base, prompt form and pool, and cached in $ITBENCH_HOME/screen by
those three: the base's weights fingerprint, the reference-cache settings its answers were made
under (decoding, dtype, batch size) and the prompts, and the pool's content. The base answers go
through the paired model's reference cache (itbench.models.paired), so every later paired run
under the same settings reads the very answers the screen judged.

The selection a task reads (`--metadata '{"screen": FILE}'`, itbench.tasks.knowledge.utils) is,
per pool: every base-known question (up to `n_known`, spread over them), plus `n_sample` questions
spread over the whole pool, known or not, whose base-unknown ones measure knowledge gained.
"""

from __future__ import annotations

import time
from pathlib import Path

from itbench import paths
from itbench.errors import ItbenchError
from itbench.utils import atomic

TASKS = ("itbench_knowledge_popqa", "itbench_knowledge_triviaqa")
FORMAT = 1  # the screen file's layout


def _task(name: str, pool: int | None):
    """The task built by lm-eval over its whole pool (or `pool` questions spread over it)."""
    from lm_eval.tasks import get_task_dict

    from itbench.tasks import task_manager

    task = get_task_dict([name], task_manager({"n_questions": pool} if pool else {}))[name]
    task.build_all_requests(limit=None, rank=0, world_size=1)
    return task


def screen_pool(lm, task_name: str, pool_size: int | None = None, cache: Path | None = None, log=print) -> dict:
    """Which of a pool's questions the base answers right in its few-shot form: {"pool": its
    content hash, "right": a bool per question in pool order, ...}, cached. `pool_size`: screen
    that many questions spread over the pool (a smoke run), not all of it."""
    from itbench.metrics.knowledge import answer_correct

    task = _task(task_name, pool_size)
    reqs = sorted(task.instances, key=lambda r: r.doc_id)
    docs = [r.doc for r in reqs]
    until, max_tokens = lm.request_settings(reqs[0])
    prompts = [d["itbench_base_prompt"] for d in docs]
    settings = lm._reference_key(max_tokens=max_tokens, until=until, backend=lm.backend)
    pool = pool_hash(docs)
    key = atomic.sha256_json({"task": task_name, "base": lm.base_key, "settings": settings,
                              "prompts": atomic.sha256_json(prompts), "pool": pool, "format": FORMAT})[:16]
    path = (cache or paths.home() / "screen") / f"{task_name}-{key}.json"
    if path.is_file():
        got = _read(path)
        if isinstance(got, dict) and got.get("key") == key and len(got.get("right", [])) == len(docs):
            return got
    t0 = time.perf_counter()
    answers = lm.base_answers(prompts, until, max_tokens)
    right = [answer_correct(a, d["answers"], d["pool"]) for a, d in zip(answers, docs, strict=True)]
    record = {"key": key, "task": task_name, "pool": pool, "spread": pool_size, "base": lm.base_key,
              "settings": settings, "right": right, "seconds": round(time.perf_counter() - t0, 1)}
    atomic.write_json(path, record)
    log(f"screened {task_name}: the base knows {sum(right)} of {len(right)} "
        f"({time.perf_counter() - t0:.0f}s)")
    return record


def pool_hash(docs: list[dict]) -> str:
    """A pool's content: its questions and gold answers, in order."""
    return atomic.sha256_json([[d["question"], d["answers"]] for d in docs])


def _read(path: Path):
    import json

    from itbench.utils import jsonfile

    try:
        return jsonfile.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # a damaged cache entry is recomputed


def select(right: list[bool], n_known: int, n_sample: int) -> list[int]:
    """The questions a screened task asks (pool indices, in pool order): every known one, or
    `n_known` spread over them, plus `n_sample` spread over the whole pool."""
    from itbench.data import spread

    known = [i for i, r in enumerate(right) if r]
    known = spread(known, n_known) if known else []
    sample = spread(list(range(len(right))), n_sample) if n_sample and right else []
    return sorted(set(known) | set(sample))


def build(base: str, out: Path, *, n_known: int, n_sample: int, pool_size: int | None = None, tasks=TASKS,
          log=print, **model_args) -> dict:
    """Screen `base` over each task's pool and write the selection file the tasks read (`out`):
    {task: {"pool", "indices", "known", "size"}}. `model_args` are the paired model's (backend,
    dtype, batch_size, max_gen_cap): the same as the evaluation's, so its base answers are reused."""
    import logging

    import itbench.models.paired as paired

    logging.getLogger("lm_eval").setLevel(logging.ERROR)  # its per-task notices
    if n_known < 1 or n_sample < 0:
        raise ItbenchError(f"screen: n_known must be at least 1 and n_sample at least 0 (got {n_known}, {n_sample})")
    lm = paired.PairedLM(base=base, base_only=True, **model_args)
    try:
        selection = {}
        for name in tasks:
            got = screen_pool(lm, name, pool_size, log=log)
            idx = select(got["right"], n_known, n_sample)
            selection[name] = {"pool": got["pool"], "spread": pool_size, "indices": idx, "size": len(got["right"]),
                               "known": sum(got["right"]), "known_asked": sum(got["right"][i] for i in idx),
                               "screen": got["key"]}
    finally:
        lm.close()
    record = {"format": FORMAT, "base": lm.base_key, "n_known": n_known, "n_sample": n_sample, "tasks": selection}
    atomic.write_json(Path(out), record)
    return record


def select_docs(path: str | Path, task: str, docs: list[dict]) -> list[dict]:
    """The documents of a pool that a screen file selects for `task`, checked against the pool."""
    from itbench.data import spread

    path = Path(path).expanduser()
    try:
        entry = _read(path)["tasks"][task]
        indices, want, size = entry["indices"], entry["pool"], entry.get("spread")
        docs = spread(docs, size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None)
    except (KeyError, TypeError, AttributeError) as err:
        raise ItbenchError(f"screen file {path}: no selection for {task} ({type(err).__name__}: {err}); "
                           "write it with `itbench study` (or itbench.screen.build)") from None
    pool = pool_hash(docs)
    if want != pool:
        raise ItbenchError(f"screen file {path} was made over another {task} pool (its hash {str(want)[:12]}, the "
                           f"pool read now {pool[:12]}): screen the base again over this data")
    if not isinstance(indices, list) or not indices or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(docs) for i in indices):
        raise ItbenchError(f"screen file {path}: {task}.indices is not a non-empty list of positions in its pool "
                           f"of {len(docs)}")
    return [docs[i] for i in indices]
