"""`itbench study`: the paper's study on any base model, with real instruction data.

From one base (an embedded name such as gemma-3-270m, a hub name or a folder) and a short/long
pair of IT sets with the same instructions (Alpaca's short answers and Alpaca-GPT4's long GPT-4
answers by default), the study trains the paper's family with the zoo's recipes code: LoRA and
full fine-tuning, NEFTune, an AlpaGasus-style filtered set, every other method-improved variant of
the method registry (DoRA), and both styles for LoRA and full. It then runs the real-data suite on
every checkpoint paired with its base (knowledge kept and expressed on PopQA and TriviaQA, token
shift and pattern copy on just-eval-instruct, borrowed tokens on PopQA traced to the checkpoint's
own IT set) and writes a leaderboard folder with findings.json. Every step is cached by content
(a rerun does only what changed) and prints one line per step.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from itbench import paths
from itbench.errors import ItbenchError
from itbench.models.zoo import ZooEntry, replicates
from itbench.study_data import heuristic_scores, it_sets  # noqa: F401  (the study's data, used below)
from itbench.utils import atomic
from itbench.utils.progress import Steps

TASKS = ("itbench_knowledge_popqa", "itbench_knowledge_triviaqa", "itbench_borrowed_popqa",
         "itbench_token_shift_just_eval", "itbench_pattern_copy_just_eval")
# Where each data set is in ../shared/data's layout (`--data DIR`), and the variable its task reads.
DATA_LAYOUT = {"ITBENCH_POPQA": "popqa/popqa_1000.jsonl", "ITBENCH_TRIVIAQA": "triviaqa/triviaqa_sm_sub.jsonl",
               "ITBENCH_JUST_EVAL": "just-eval-instruct/just_eval_instruct_1000.instructions_only.jsonl"}
URIAL_1SHOT = "just-eval-instruct/urial_prompts/inst_1shot.txt"


@dataclass(frozen=True)
class StudyConfig:
    """Everything that decides a study's checkpoints and numbers (recorded in its study.json).

    Learning rates: the paper's 5e-5 for full fine-tuning; LoRA's usual 2e-4, since the paper's
    5e-5 over a few dozen steps leaves an adapter that has learned no answer format."""

    base: str
    rows: int = 64  # IT instances per set (the same instructions in both styles)
    seeds: int = 1
    improved_seeds: int | None = None  # seeds of the method-improved recipes (NEFTune, filtered, DoRA); None: seeds
    epochs: int = 3
    batch_size: int = 4  # 48 steps on 64 rows: at 8 (24 steps) LoRA had learned no answer format
    max_length: int = 192
    lr: dict = field(default_factory=lambda: {"lora": 2e-4, "dora": 2e-4, "full": 5e-5, "neftune": 5e-5,
                                              "filtered": 5e-5})
    precision: str = "auto"  # training: bf16-mixed where bfloat16 is fast (checkpoint.bf16_is_fast), else fp32
    dtype: str = "auto"  # evaluation weights: bfloat16 where it is fast, else float32
    backend: str = "hf"
    eval_batch_size: int = 64  # with generation in rounds (itbench.models.generation): 1.5x batch 32
    max_gen_cap: int = 192
    # Sizes for two CPU cores (float32 there: about 3 core-minutes of generation per 100 chat answers):
    n_questions: int = 100  # PopQA borrowed; the spread sample of PopQA / TriviaQA knowledge (knowledge gained)
    n_known: int = 250  # base-known questions per knowledge pool, at most (all of them where a pool has fewer)
    pool: int | None = None  # questions of each QA pool screened, spread over it (None: the whole pool)
    n_instructions: int = 50  # just-eval token shift and pattern copy
    urial_prompt: str = URIAL_1SHOT
    only: tuple[str, ...] = ()  # recipe names (e.g. lora-short-64) to build and evaluate; () = the whole family
    judge: bool = False  # also the five judged aspects on just-eval (the endpoint in $ITBENCH_JUDGE_URL, else local)
    n_judged: int = 50  # just-eval instructions judged (of the n_instructions the suite asks)
    filter_by: str = "heuristic"  # the filtered recipe's scores: "heuristic" or "judge" (mean of the five aspects)

    def __post_init__(self):
        if self.precision not in ("auto", "fp32", "bf16-mixed"):
            raise ItbenchError(f"study: --precision is auto, fp32 or bf16-mixed, not {self.precision!r}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ItbenchError(f"study: --dtype is auto, float32, bfloat16 or float16, not {self.dtype!r}")
        if self.filter_by not in ("heuristic", "judge"):
            raise ItbenchError(f"study: --filter-by is heuristic or judge, not {self.filter_by!r}")
        if self.improved_seeds is not None and int(self.improved_seeds) < 1:
            raise ItbenchError(f"study: improved_seeds must be at least 1, not {self.improved_seeds}")
        for name in ("rows", "seeds", "epochs", "batch_size", "n_questions", "n_known", "n_instructions",
                     "max_gen_cap", "n_judged"):
            if int(getattr(self, name)) < 1:
                raise ItbenchError(f"study: {name} must be at least 1, not {getattr(self, name)}")
        if self.pool is not None and int(self.pool) < 1:
            raise ItbenchError(f"study: pool must be at least 1 (or left out for the whole pool), not {self.pool}")


def entries(config: StudyConfig) -> list[ZooEntry]:
    """The study's family: base; LoRA and full in both styles; every method-improved method of the
    registry on the short set; each under `seeds` seeds. The IT-set size is the scale."""
    from itbench.models.recipes import METHODS

    n = config.rows
    tuned = [ZooEntry(f"{m}-{style}-{n}", m, style, n) for m in ("lora", "full") for style in ("short", "long")]
    improved = [ZooEntry(f"{m}-short-{n}", m, "short", n) for m, spec in METHODS.items() if spec.improved]
    tuned += improved
    if config.only:
        unknown = sorted(set(config.only) - {e.name for e in tuned})
        if unknown:
            raise ItbenchError(f"study: unknown recipe(s) {unknown}; choose from {[e.name for e in tuned]}")
        tuned = [e for e in tuned if e.name in config.only]
    seeds = {e.name: config.improved_seeds or config.seeds for e in improved}
    return [ZooEntry("base", "base")] + [r for e in tuned for r in replicates(e, seeds.get(e.name, config.seeds))]


def judged_scores(rows: list[dict], log=print) -> tuple[dict[str, float], str]:
    """AlpaGasus's filter with itbench's judge: each IT instance's score is the mean of the aspects
    the judge scored (0 when it scored none, so an unjudgeable instance is dropped)."""
    from itbench import judge

    with judge_endpoint(log) as config:
        verdicts = judge.Judge(config).judge_many([(r["instruction"], r["response"]) for r in rows])
    scores = {}
    for r, v in zip(rows, verdicts, strict=True):
        got = [x for x in v.scores.values() if x is not None]
        scores[r["id"]] = sum(got) / len(got) if got else 0.0
    return scores, f"judge {config.label} (mean of the five aspects)"


def build(config: StudyConfig, base: str, files: dict[str, Path], out: Path, log=print) -> list[dict]:
    """Train (or reuse) every tuned checkpoint; returns their manifests."""
    from itbench.models import checkpoint
    from itbench.models.finetune import finetune
    from itbench.models.recipes import FinetuneRecipe

    base_id = checkpoint.identity(base)
    done = []
    by_name = {e.name: e for e in entries(config) if e.method != "base"}
    names = _tuned_names(config)
    index = {name: i for i, name in enumerate(names, 1)}
    for name in atomic.claimed(names, lambda n: out / f".{n}.lock", log=log):
        entry, i = by_name[name], index[name]
        recipe = FinetuneRecipe(method=entry.method, seed=entry.seed, epochs=config.epochs,
                                batch_size=config.batch_size, max_length=config.max_length,
                                lr=config.lr.get(entry.method), precision=config.precision)
        data = files[entry.style]
        keyed = {"recipe": recipe.to_dict(), "data": atomic.sha256_file(data), "base": base_id}
        if recipe.spec.filtered and config.filter_by != "heuristic":
            keyed["filter"] = config.filter_by
        key = atomic.sha256_json(keyed)[:16]
        path = out / entry.name
        manifest = checkpoint.cached_manifest(path, key)
        t0 = time.perf_counter()
        if manifest is None:
            scores, how = None, None
            if recipe.spec.filtered:
                from itbench.data import read_rows

                if config.filter_by == "judge":
                    scores, how = judged_scores(read_rows(data), log=log)
                else:
                    scores, how = heuristic_scores(read_rows(data)), "heuristic (itbench.study.heuristic_scores)"
            manifest = finetune(base, data, recipe, path, judge_scores=scores, owned=True,
                                progress=Steps(entry.name), extra_manifest={
                "name": entry.name, "recipe_hash": key, "seed": entry.seed,
                "replicate": {"group": entry.replicate_of, "seed": entry.seed},
                "it_set": {"style": entry.style, "scale": entry.scale, "file": data.name},
                "filter": how})
            state = "trained"
        else:
            state = "cached"
        rows = manifest["data"]
        log(f"[train {i}/{len(names)}] {entry.name}: {state} in {time.perf_counter() - t0:.0f}s "
            f"({rows['trained_rows']} of {rows['rows']} rows, final loss {manifest['training']['final_loss']:.3f})")
        done.append(manifest)
    return sorted(done, key=lambda m: index.get(m.get("name"), 0))


def _tuned_names(config: StudyConfig) -> list[str]:
    """Seed-major, as they are trained: a run stopped part-way has whole seeds to show."""
    return [e.name for e in sorted((e for e in entries(config) if e.method != "base"), key=lambda e: e.seed)]


def _model_args(config: StudyConfig) -> str:
    """The paired model's arguments for every evaluation of the study."""
    return (f"backend={config.backend},dtype={config.dtype},batch_size={config.eval_batch_size},"
            f"max_gen_cap={config.max_gen_cap}")


def screen(config: StudyConfig, base: str, out: Path, log=print) -> dict:
    """The base screened over the whole PopQA and TriviaQA pools in the kept (few-shot) form, under
    the evaluation's own settings (itbench.screen); writes the selection the knowledge tasks read."""
    from itbench import screen as screening

    with atomic.lock(out.parent / f".{out.name}.lock"):  # a second study process waits, then reads the cache
        return screening.build(base, out, n_known=config.n_known, n_sample=config.n_questions,
                               pool_size=config.pool, log=log, backend=config.backend, dtype=config.dtype,
                               batch_size=config.eval_batch_size, max_gen_cap=config.max_gen_cap)


def evaluate(config: StudyConfig, base: str, out: Path, results: Path, screen_file: Path | None = None,
             log=print, names: list[str] | None = None) -> dict[str, dict]:
    """The real-data suite on every tuned checkpoint (or `names`) paired with the base (cached by
    both fingerprints, the task versions, the study's evaluation settings and the screen's
    selection): a process evaluating checkpoints as another trains them shares the cache."""
    import logging

    from itbench.evaluate import cached_paired

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    settings = {k: getattr(config, k) for k in ("dtype", "backend", "eval_batch_size", "max_gen_cap",
                                               "n_questions", "n_known", "pool", "n_instructions",
                                               "urial_prompt")}
    model_args = _model_args(config)
    metadata = {"n_questions": config.n_questions, "n_instructions": config.n_instructions}
    if screen_file is not None:
        metadata["screen"] = str(screen_file)
        settings["screen"] = atomic.sha256_file(screen_file)
    names = names or _tuned_names(config)
    got = {}
    index = {name: i for i, name in enumerate(names, 1)}
    for name in atomic.claimed(names, lambda n: results / f".{n}.lock", log=log):
        i, t0 = index[name], time.perf_counter()
        got[name] = cached_paired(base, out / name, list(TASKS), results, name, {"settings": settings},
                                  extra={"study": settings}, model_args=model_args, metadata=metadata)
        log(f"[eval {i}/{len(names)}] {name}: paired evaluation in {time.perf_counter() - t0:.0f}s")
    return {name: got[name] for name in names}


JUDGE_TASK = "itbench_judge_just_eval"


@contextlib.contextmanager
def judge_endpoint(log=print):
    """The judge named in the environment, else the local one served for the length of the block."""
    from itbench import judge

    if os.environ.get(judge.ENV_URL) or os.environ.get(judge.ENV_MODEL):
        yield judge.JudgeConfig.from_env()
        return
    log(f"itbench study: starting the local judge ({judge.LOCAL_MODEL}, weak) with vllm serve")
    with judge.LocalServer(log=log) as config:
        yield judge.JudgeConfig.from_env(url=config.url, model=config.model)


def evaluate_judged(config: StudyConfig, base: str, out: Path, results: Path, log=print) -> None:
    """The judged task on every tuned checkpoint (results/judged/<name>, merged into the leaderboard
    by checkpoint), cached by the judge's endpoint and model as well."""
    from itbench import judge
    from itbench.evaluate import cached_paired

    names, model_args = _tuned_names(config), _model_args(config)
    with judge_endpoint(log) as jc:
        settings = {k: getattr(config, k) for k in ("dtype", "backend", "eval_batch_size", "max_gen_cap",
                                                   "n_instructions", "n_judged")}
        settings["judge"] = {"url": jc.url, "model": jc.model, "mode": jc.mode, "prompt": judge.PROMPT_VERSION}
        metadata = {"n_instructions": config.n_instructions, "n_judged": config.n_judged, "judge_url": jc.url,
                    "judge_model": jc.model}
        for i, name in enumerate(names, 1):
            t0 = time.perf_counter()
            cached_paired(base, out / name, [JUDGE_TASK], results / "judged", name, {"settings": settings},
                          extra={"study": settings}, model_args=model_args, metadata=metadata)
            log(f"[judge {i}/{len(names)}] {name}: judged by {jc.label} in {time.perf_counter() - t0:.0f}s")


@contextlib.contextmanager
def use_data(data_dir: Path, config: StudyConfig):
    """Point the real-data tasks at a local copy laid out as ../shared/data (offline machines) for
    the length of one study: `--data` wins over the environment, and the environment is restored
    afterwards (a second study in the same process reads its own data, not the first one's)."""
    for rel in DATA_LAYOUT.values():
        if not (data_dir / rel).is_file():
            raise ItbenchError(f"study data: {data_dir / rel} is missing (--data takes a folder laid out as "
                               "../shared/data)")
    wanted = {var: str(data_dir / rel) for var, rel in DATA_LAYOUT.items()}
    prompt = data_dir / config.urial_prompt
    if prompt.is_file():
        wanted["ITBENCH_URIAL_PROMPT"] = str(prompt)
    before = {var: os.environ.get(var) for var in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for var, value in before.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def default_out(base: str) -> Path:
    return paths.home() / "study" / re.sub(r"[^A-Za-z0-9._-]+", "_", Path(base).name or base)


def run_study(config: StudyConfig, data_dir: str | Path | None = None, out: str | Path | None = None,
              leaderboard: str | Path | None = None, command: str = "itbench study", log=print) -> dict:
    """Every step, cached under `out` ($ITBENCH_HOME/study/<base> by default); returns the timings
    and where everything went."""
    from itbench import publish
    from itbench.models import embedded

    t_start = time.perf_counter()
    timings = {}
    config = resolved(config)
    data_dir = Path(data_dir).expanduser() if data_dir else None
    if data_dir is None:
        raise ItbenchError("itbench study needs its data: --data DIR, a folder laid out as ../shared/data "
                           "(alpaca/, alpaca-gpt4/, popqa/, triviaqa/, just-eval-instruct/)")
    out = Path(out) if out else default_out(config.base)
    entries(config)  # an unknown --only recipe fails here, before any data or model is touched
    local_base = config.base if Path(config.base).expanduser().exists() else None
    atomic.check_output(out, [data_dir, local_base], what="study folder",
                        ours=("study.json", "data/it_*.jsonl", "data/.it_*.tmp", "checkpoints/*/*"))
    if leaderboard:  # it may lie in the study folder (its default is <out>/leaderboard), not in what it reads
        publish.check_output(leaderboard, [data_dir, local_base, out / "results", out / "checkpoints"])
    with use_data(data_dir, config):
        files = it_sets(data_dir, config.rows, out / "data")  # bad data fails before any model is touched
        t0 = time.perf_counter()
        base = embedded.resolve(config.base, log=log)
        timings["base"] = time.perf_counter() - t0
        log(f"itbench study [1/4]: the family of {config.base} ({base}), tuned on {config.rows} instructions "
            f"in two styles, {config.seeds} seed(s) each")
        t0 = time.perf_counter()
        build(config, base, files, out / "checkpoints", log=log)
        timings["train"] = time.perf_counter() - t0
        log("itbench study [2/4]: the base screened over the PopQA and TriviaQA pools (what it knows)")
        t0 = time.perf_counter()
        selection = screen(config, base, out / "data" / "screen.json", log=log)
        timings["screen"] = time.perf_counter() - t0
        log("itbench study [3/4]: the real-data suite, every checkpoint paired with the base (" + ", ".join(
            f"{t.removeprefix('itbench_knowledge_')}: {v['known_asked']} known + "
            f"{len(v['indices']) - v['known_asked']} not" for t, v in selection["tasks"].items()) + ")")
        t0 = time.perf_counter()
        results = evaluate(config, base, out / "checkpoints", out / "results", out / "data" / "screen.json", log=log)
        timings["evaluate"] = time.perf_counter() - t0
        if config.judge:
            t0 = time.perf_counter()
            evaluate_judged(config, base, out / "checkpoints", out / "results", log=log)
            timings["judge"] = time.perf_counter() - t0
        board_dir = Path(leaderboard) if leaderboard else out / "leaderboard"
        log(f"itbench study [4/4]: the leaderboard -> {board_dir}")
        publish.publish([out / "results"], board_dir, command, log=log)
        timings["total"] = time.perf_counter() - t_start
    record = {"config": asdict(config), "base": base, "data": str(data_dir), "checkpoints": sorted(results),
              "screen": {t: {k: v[k] for k in ("size", "known", "known_asked")} for t, v in selection["tasks"].items()},
              "seconds": {k: round(v, 1) for k, v in timings.items()}}
    atomic.write_json(out / "study.json", record)
    log(f"study done in {timings['total']:.0f}s (base {timings['base']:.0f}s, training {timings['train']:.0f}s, "
        f"screening {timings['screen']:.0f}s, evaluation {timings['evaluate']:.0f}s); results in {out / 'results'}, "
        f"leaderboard in {board_dir}")
    return record


def resolved(config: StudyConfig) -> StudyConfig:
    """The config with "auto" precision and dtype made concrete for this machine (what is recorded
    and what the caches are keyed by)."""
    from itbench.models import checkpoint

    return replace(config, precision=checkpoint.auto_precision() if config.precision == "auto" else config.precision,
                   dtype=checkpoint.auto_dtype() if config.dtype == "auto" else config.dtype)


def config_from(args) -> StudyConfig:
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in vars(args).items()
                 if k in StudyConfig.__dataclass_fields__ and v is not None}
    return replace(StudyConfig(base=args.base), **overrides)
