"""The zoo: the base organism and the checkpoints the paper compares, built from one world.

Every checkpoint is cached under its name with the hash of everything that decides it (recipe,
data file, base weights). A second build reuses what matches and rebuilds only what changed; a
changed base rebuilds everything tuned from it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from itbench import __version__
from itbench.errors import ItbenchError
from itbench.models import checkpoint
from itbench.models.recipes import METHODS, FinetuneRecipe, StoppingRule
from itbench.utils import atomic
from itbench.utils.progress import Steps
from itbench.world import store
from itbench.world.organisms import BaseRecipe


@dataclass(frozen=True)
class ZooEntry:
    name: str
    method: str  # "base" or a key of METHODS
    style: str | None = None
    scale: int | None = None
    seed: int = 0  # training seed: data order, LoRA init, NEFTune noise
    group: str = ""  # the replicate group: the same recipe and data under every seed ("" = the name)

    def __post_init__(self):
        if self.method != "base" and self.method not in METHODS:
            raise ValueError(f"zoo entry {self.name!r}: unknown method {self.method!r}; "
                             f"choose from {['base', *sorted(METHODS)]}")
        if self.seed < 0:
            raise ValueError(f"zoo entry {self.name!r}: the seed must be a non-negative integer")

    @property
    def replicate_of(self) -> str:
        return self.group or self.name


DEFAULT_SEEDS = 3

# The tuned organisms' stopping rule: the paper's 3 epochs, then rounds of 3 until 90% of the answers
# to held-out instructions are in the IT set's format (see docs/world.md: at 3 epochs the long style
# and the 1x sets answered 0% well formed, so finding 2 compared a learned style with an unlearned one).
FORMAT_RULE = StoppingRule()
# The tiny zoo's (tests, smoke runs): one round at most, to keep the tests' zoo quick.
TINY_FORMAT_RULE = StoppingRule(max_epochs=6)


def replicates(entry: ZooEntry, seeds: int) -> list[ZooEntry]:
    """The entry trained under `seeds` seeds: seed 0 keeps the entry's name, seed k is NAME-seedK."""
    return [replace(entry, name=entry.name if k == 0 else f"{entry.name}-seed{k}", seed=k, group=entry.name)
            for k in range(seeds)]


def default_entries(scales: Sequence[int], seeds: int = DEFAULT_SEEDS) -> list[ZooEntry]:
    """base; LoRA and full over the size series (short style); both styles at the middle size for
    LoRA and full; every method-improved method (NEFTune, AlpaGasus-filtered, DoRA, ...) at the
    middle size. Every tuned entry under `seeds` training seeds (seed replicates)."""
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    mid = scales[len(scales) // 2]
    tuned = []
    for m in ("lora", "full"):
        tuned += [ZooEntry(f"{m}-short-{s}x", m, "short", s) for s in scales]
        tuned.append(ZooEntry(f"{m}-long-{mid}x", m, "long", mid))
    tuned += [ZooEntry(f"{m}-short-{mid}x", m, "short", mid) for m, spec in METHODS.items() if spec.improved]
    return [ZooEntry("base", "base")] + [r for e in tuned for r in replicates(e, seeds)]


def chance_level(probes: list[dict]) -> float:
    """Accuracy on never-seen entities of a guesser that knows no fact: the most frequent value of
    each attribute among seen entities."""
    counts: dict[tuple, Counter] = {}
    for p in probes:
        if p["split"] != "unseen":
            counts.setdefault((p["kind"], p["attribute"]), Counter())[p["answer"]] += 1
    unseen = [p for p in probes if p["split"] == "unseen"]
    if not unseen:
        return float("nan")
    hits = sum(counts[(p["kind"], p["attribute"])].most_common(1)[0][0] == p["answer"] for p in unseen)
    return hits / len(unseen)


def build_base(world_dir: Path, out: Path, recipe: BaseRecipe, progress: bool = True) -> tuple[dict, bool]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from itbench.world.probe import probe_checkpoint

    world_fp = store.read_manifest(world_dir)["fingerprint"]
    recipe_hash = atomic.sha256_json({"base": recipe.to_dict(), "world": world_fp, "v": __version__,
                                      "rule": "facts"})[:16]
    cached = checkpoint.cached_manifest(out, recipe_hash)
    if cached:
        return cached, False
    from itbench.world.organisms import pretrain_base

    with atomic.build_dir(out) as tmp:
        stats = pretrain_base(world_dir, recipe, tmp, progress=Steps("base (pretraining)") if progress else None)
        model, tok = AutoModelForCausalLM.from_pretrained(tmp), AutoTokenizer.from_pretrained(tmp)
        probes = store.read_rows(world_dir, "probes.jsonl")
        manifest = {
            "name": "base", "method": "base", "tuning": "pretrain", "recipe": recipe.to_dict(),
            "recipe_hash": recipe_hash, "itbench_version": __version__, "seed": recipe.seed,
            "world": {"path": str(Path(world_dir).resolve()), "fingerprint": world_fp},
            "base": None, "training": stats, "fingerprint": checkpoint.weights_fingerprint(tmp),
            "probe": {"completion": probe_checkpoint(model, tok, world_dir, chat=False),
                      "chance_unseen": chance_level(probes)},
        }
        checkpoint.write_manifest(tmp, manifest)
    return manifest, True


def build_tuned(world_dir: Path, zoo_dir: Path, entry: ZooEntry, recipe: FinetuneRecipe,
                progress: bool = True, stopping: StoppingRule | None = None) -> tuple[dict, bool]:
    from itbench.models.finetune import finetune
    from itbench.world import claims
    from itbench.world.probe import format_measure, probe_checkpoint

    base_dir = zoo_dir / "base"
    base_fp = checkpoint.weights_fingerprint(base_dir)
    data_name = store.it_filename(entry.style, entry.scale)
    data = store.world_file(world_dir, data_name)
    recipe_hash = atomic.sha256_json({"recipe": recipe.to_dict(), "data": atomic.sha256_file(data),
                                      "base": base_fp, "v": __version__,
                                      "stopping": stopping.to_dict() if stopping else None})[:16]
    out = zoo_dir / entry.name
    cached = checkpoint.cached_manifest(out, recipe_hash)
    if cached:
        return cached, False
    scores = None
    if recipe.spec.filtered:
        scores = claims.judge_scores(store.read_rows(world_dir, data_name),
                                     store.read_rows(world_dir, "entities.jsonl"))
    world_fp = store.read_manifest(world_dir)["fingerprint"]
    measure = format_measure(world_dir, entry.scale, stopping.prompts) if stopping else None
    steps = Steps(entry.name) if progress else None
    manifest = finetune(base_dir, data, recipe, out, judge_scores=scores, progress=steps,
                        owned=True,
                        extra_manifest={"name": entry.name, "recipe_hash": recipe_hash, "seed": recipe.seed,
                                        "replicate": {"group": entry.replicate_of, "seed": entry.seed},
                                        "itbench_version": __version__,
                                        "it_set": {"style": entry.style, "scale": entry.scale, "file": data_name},
                                        "world": {"path": str(Path(world_dir).resolve()), "fingerprint": world_fp}},
                        rule=stopping, measure=measure)
    model, tok = checkpoint.load(base_dir, adapter=out) if recipe.spec.tuning == "lora" else checkpoint.load(out)
    manifest["probe"] = {"chat": probe_checkpoint(model, tok, world_dir, chat=True)}
    checkpoint.write_manifest(out, manifest)
    return manifest, True


def build_zoo(world_dir: str | Path, zoo_dir: str | Path, *, entries: Sequence[ZooEntry] | None = None,
              base_recipe: BaseRecipe | None = None, recipe_overrides: dict | None = None,
              only: Sequence[str] | None = None, seeds: int = DEFAULT_SEEDS, progress: bool = True,
              stopping: StoppingRule | None = FORMAT_RULE, log=print, quiet: bool = False) -> list[dict]:
    """Build (or reuse) every checkpoint; returns their manifests with build times. `quiet`: one
    progress line for them all instead of a line each (a base that misses its rule still warns).

    `recipe_overrides` maps a method to FinetuneRecipe fields that replace its defaults; `stopping`
    is the tuned checkpoints' stopping rule (None: the recipe's epochs only)."""
    world_dir, zoo_dir = Path(world_dir), Path(zoo_dir)
    atomic.check_output(zoo_dir, [world_dir], ours=(f"*/{checkpoint.MANIFEST}",), what="zoo")
    config = store.load_config(world_dir)
    entries = list(entries or default_entries(config.it_scales, seeds))
    if only:
        names = {e.name for e in entries} | {e.replicate_of for e in entries}
        unknown = sorted(set(only) - names)
        if unknown:
            raise ItbenchError(f"unknown zoo checkpoint(s) {unknown}: choose from {sorted(names)}")
        entries = [e for e in entries if {e.name, e.replicate_of} & set(only) or e.method == "base"]
    from itbench.utils.progress import Phase

    results = []
    phase = Phase("zoo checkpoints", len(entries), log) if quiet else None
    for i, entry in enumerate(entries, 1):
        t0 = time.perf_counter()
        if entry.method == "base":
            manifest, built = build_base(world_dir, zoo_dir / "base", base_recipe or BaseRecipe(), progress)
        else:
            recipe = replace(FinetuneRecipe(method=entry.method, seed=entry.seed),
                             **(recipe_overrides or {}).get(entry.method, {}))
            manifest, built = build_tuned(world_dir, zoo_dir, entry, recipe, progress, stopping)
        seconds = time.perf_counter() - t0
        line = f"{entry.name}: {'built' if built else 'cached'} in {seconds:.1f}s  {_probe_line(manifest)}"
        phase.step(line) if phase else log(f"[{i}/{len(entries)}] {line}")
        if entry.method == "base" and not manifest.get("training", {}).get("reached_target", True):
            log(missed_target(manifest))
        results.append({**manifest, "path": str(zoo_dir / entry.name), "built": built, "seconds": seconds})
    if phase:
        n_built = sum(r["built"] for r in results)
        phase.done(f"{n_built} built, {len(results) - n_built} cached, in {zoo_dir}")
    return results


def missed_target(manifest: dict) -> str:
    """The warning for a base that ended its training short of its stopping rule."""
    training = manifest["training"]
    last = (training.get("stopping") or [{}])[-1]
    got = ", ".join(f"{k} {v:.2f}" for k, v in last.items() if isinstance(v, float))
    return (f"WARNING: the base missed its stopping rule after {training.get('epochs')} epochs ({got}): every "
            "finding of this zoo rests on a base that knows less than its recipe asks (BaseRecipe in "
            "itbench/world/organisms.py); rebuild it with another --base-seed")


def _probe_line(manifest: dict) -> str:
    probe = manifest.get("probe", {})
    form = "completion" if "completion" in probe else "chat"
    acc = probe.get(form, {})
    parts = [f"{split} {v['accuracy']:.0%}" for split, v in sorted(acc.items())]
    return f"{form}-probe accuracy: " + ", ".join(parts)


def list_zoo(zoo_dir: Path) -> list[dict]:
    """The manifests of a zoo's checkpoints, by name."""
    if not zoo_dir.exists():
        raise ItbenchError(f"no zoo at {zoo_dir}: build it with `itbench zoo build`")
    if not zoo_dir.is_dir():
        raise ItbenchError(f"{zoo_dir} is a file, not a zoo folder: give the folder `itbench zoo build --out` wrote")
    folders = sorted(p for p in zoo_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [m for m in (checkpoint.read_manifest(d, required=False) for d in folders) if m]
