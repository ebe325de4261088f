"""Fine-tune a base model with one recipe of a registered method (itbench.models.recipes: LoRA and
DoRA through peft, full, NEFTune, AlpaGasus-filtered).

The same function tunes a world organism or any causal LM on the hub or on disk: the base is a
name or path, the data a JSONL/JSON file or a hub data set (loaded with `datasets`), its fields
mapped by the recipe.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from itbench.errors import ItbenchError
from itbench.models import checkpoint
from itbench.models.recipes import FinetuneRecipe, StoppingRule
from itbench.models.train import chat_example, train


def load_it_rows(data: str | Path, recipe: FinetuneRecipe, log=None) -> list[dict]:
    """Rows of an instruction-tuning set with the recipe's fields, each checked (a common format
    detected from its fields when the recipe names the default ones; `log` says which)."""
    from itbench.data import load_it_set

    return load_it_set(data, recipe.instruction_field, recipe.response_field, log=log)


def read_judge_scores(path: str | Path, id_field: str = "id") -> dict[str, float]:
    """Judge scores for the filtered method: a JSON/JSONL/CSV file of {id, score} rows (1-5)."""
    import math

    from itbench.data import read_rows

    scores = {}
    for i, r in enumerate(read_rows(path), 1):
        try:
            score = float(r["score"])
        except (KeyError, TypeError, ValueError) as err:
            raise ItbenchError(f"judge scores {path}, row {i}: needs a numeric 'score' (1-5), got {r.get('score')!r}"
                               ) from err
        if id_field not in r or not math.isfinite(score) or not 1 <= score <= 5:
            raise ItbenchError(f"judge scores {path}, row {i}: needs an {id_field!r} and a score between 1 and 5")
        scores[r[id_field]] = score
    return scores


def apply_filter(rows: list[dict], scores: dict[str, float], recipe: FinetuneRecipe) -> list[dict]:
    """AlpaGasus: keep items whose judge score reaches the threshold."""
    missing = [r.get(recipe.id_field) for r in rows if r.get(recipe.id_field) not in scores]
    if missing:
        raise ItbenchError(f"the filtered method needs a judge score for every item; {len(missing)} are missing "
                           f"(first: {missing[0]!r}): give --judge-scores with one per {recipe.id_field!r}")
    kept = [r for r in rows if scores[r[recipe.id_field]] >= recipe.filter_threshold]
    if not kept:
        top = max(scores[r[recipe.id_field]] for r in rows)
        raise ItbenchError(f"the judge scores keep no item at threshold {recipe.filter_threshold} (the highest of "
                           f"the {len(rows)} is {top:g}): nothing to train the filtered method on. A weak judge "
                           "scores everything low (the local one gives 1 almost everywhere); use a capable judge "
                           "(ITBENCH_JUDGE_URL / ITBENCH_JUDGE_MODEL), the heuristic filter (`itbench study "
                           "--filter-by heuristic`), or scores of your own (--judge-scores)")
    return kept


def _measured(measure, model, tokenizer) -> float:
    """The measure in eval mode (no dropout), the model left as it was."""
    was_training = model.training
    model.eval()
    try:
        return float(measure(model, tokenizer))
    finally:
        model.train(was_training)


def finetune(base: str | Path, data: str | Path, recipe: FinetuneRecipe, out_dir: str | Path, *,
             judge_scores: dict[str, float] | None = None, extra_manifest: dict | None = None,
             progress: Callable[[int, int, float], None] | None = None, owned: bool = False,
             rule: StoppingRule | None = None, measure: Callable[[object, object], float] | None = None,
             log: Callable[[str], None] | None = None) -> dict:
    """Train one checkpoint into `out_dir` (written atomically) and return its manifest. `owned`:
    out_dir lies in a folder the caller has checked (a zoo, a study), so whatever is there, a
    checkpoint damaged or of another recipe, is replaced; else only a previous checkpoint is.
    `rule` trains on in rounds while `measure(model, tokenizer)` (the share of answers in format)
    stays under its target; the rule and its history go into the manifest."""
    if rule is not None and measure is None and rule.replay is None:
        raise ValueError("a stopping rule needs a measure (or replay=N to follow a known schedule)")
    from itbench.models import embedded
    from itbench.utils import atomic

    base = embedded.resolve(base)
    # a checkpoint folder is replaced whole: never the base's folder, the data's, or someone else's
    atomic.check_output(out_dir, [base if checkpoint.is_local(base) else None, data], what="checkpoint",
                        ours=None if owned else (checkpoint.MANIFEST,))
    rows = load_it_rows(data, recipe, log=log)
    n_rows = len(rows)
    if recipe.spec.filtered:
        if judge_scores is None:
            raise ItbenchError("the filtered method needs judge scores (AlpaGasus): pass --judge-scores FILE, "
                               "a JSONL of {id, score} on a 1-5 scale")
        rows = apply_filter(rows, judge_scores, recipe)
    model, tokenizer = checkpoint.load(base)
    base_fp = checkpoint.weights_fingerprint(base) if checkpoint.is_local(base) else None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    examples = [chat_example(tokenizer, r[recipe.instruction_field], r[recipe.response_field], recipe.max_length)
                for r in rows]
    if recipe.spec.tuning == "lora":
        import torch
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(recipe.seed)  # the adapter's initialisation is part of the seed
        present = {name.split(".")[-1] for name, _ in model.named_modules()}
        targets = [t for t in recipe.lora_targets if t in present]
        if not targets:
            raise ItbenchError(f"none of the LoRA targets {list(recipe.lora_targets)} is a module of {base}; "
                               f"set lora_targets to some of its linear layers")
        model = get_peft_model(model, LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha,
                                                 lora_dropout=recipe.lora_dropout, target_modules=targets,
                                                 task_type="CAUSAL_LM", **recipe.spec.peft))
    def run(epochs: int, seed: int, bar=None) -> list[float]:
        return train(model, examples, epochs=epochs, lr=recipe.learning_rate, batch_size=recipe.batch_size,
                     seed=seed, pad_id=tokenizer.pad_token_id, neftune_alpha=recipe.noise_alpha,
                     precision=recipe.precision, progress=bar)

    losses = run(recipe.epochs, recipe.seed, progress)
    epochs, history = recipe.epochs, []
    while rule is not None:
        share = None if rule.replay is not None else _measured(measure, model, tokenizer)
        history.append({"epochs": epochs, "share": share})
        if not rule.more(epochs, share):
            break
        # a new data order (and noise) per round, distinct from every other seed's rounds
        losses += run(rule.round_epochs, recipe.seed * 1000 + epochs)
        epochs += rule.round_epochs
    manifest = {
        **(extra_manifest or {}),
        "method": recipe.method,
        "tuning": recipe.spec.tuning,
        "recipe": recipe.to_dict(),
        "data": {"source": str(data), "rows": n_rows, "trained_rows": len(rows)},
        "base": {"path": str(Path(base).resolve()) if checkpoint.is_local(base) else str(base),
                 "fingerprint": base_fp},
        "training": {"steps": len(losses), "final_loss": sum(losses[-10:]) / len(losses[-10:]), "epochs": epochs},
    }
    if rule is not None:
        manifest["stopping"] = {"rule": rule.to_dict(), "history": history,
                                "reached": None if rule.replay is not None else history[-1]["share"] >= rule.target}
    with atomic.build_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        if recipe.spec.tuning != "lora":  # an adapter uses its base's tokenizer (vLLM warns on a second one)
            tokenizer.save_pretrained(tmp)
        manifest["fingerprint"] = checkpoint.weights_fingerprint(tmp)
        checkpoint.write_manifest(tmp, manifest)
    return manifest
