"""Fine-tune a base model with one recipe: LoRA (peft), full, NEFTune or AlpaGasus-filtered.

The same function tunes a world organism or any causal LM on the hub or on disk: the base is a
name or path, the data a JSONL/JSON file or a hub data set (loaded with `datasets`), its fields
mapped by the recipe.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from itbench.errors import ItbenchError
from itbench.models import checkpoint
from itbench.models.recipes import FinetuneRecipe
from itbench.models.train import chat_example, train


def load_it_rows(data: str | Path, recipe: FinetuneRecipe) -> list[dict]:
    """Rows of an instruction-tuning set with the recipe's fields, each checked."""
    src = str(data)
    if checkpoint.is_local(src):
        path = Path(src).expanduser()
        if not path.exists():
            raise ItbenchError(f"instruction-tuning set {path} does not exist")
        if path.stat().st_size == 0:
            raise ItbenchError(f"instruction-tuning set {path} is empty: give a file with at least one row")
        try:
            rows = read_json_rows(path)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ItbenchError(f"instruction-tuning set {path} is not valid JSON/JSONL ({err})") from err
    else:
        import datasets

        try:
            rows = list(datasets.load_dataset(src, split="train"))
        except Exception as err:  # datasets raises many types for an unreachable hub
            raise ItbenchError(f"cannot load data set {src!r} from the hub ({type(err).__name__}: {err}); "
                               "offline, pass a local JSON/JSONL file instead") from err
    if not rows:
        raise ItbenchError(f"instruction-tuning set {src} has no rows: give a set with at least one example")
    for field in (recipe.instruction_field, recipe.response_field):
        missing = sum(1 for r in rows if not isinstance(r.get(field), str))
        if missing:
            raise ItbenchError(f"instruction-tuning set {src}: {missing} of {len(rows)} rows lack a text field "
                               f"{field!r} (fields seen: {sorted(rows[0])}); map yours with "
                               "--instruction-field/--response-field")
    return rows


def read_json_rows(path: Path) -> list[dict]:
    """Rows of a JSON file (a list, or {"data": [...]}) or a JSONL file (a row a line)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        return data if isinstance(data, list) else data.get("data", [])
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def apply_filter(rows: list[dict], scores: dict[str, float], recipe: FinetuneRecipe) -> list[dict]:
    """AlpaGasus: keep items whose judge score reaches the threshold."""
    missing = [r.get(recipe.id_field) for r in rows if r.get(recipe.id_field) not in scores]
    if missing:
        raise ItbenchError(f"the filtered method needs a judge score for every item; {len(missing)} are missing "
                           f"(first: {missing[0]!r}): give --judge-scores with one per {recipe.id_field!r}")
    kept = [r for r in rows if scores[r[recipe.id_field]] >= recipe.filter_threshold]
    if not kept:
        raise ItbenchError(f"the judge scores keep no item at threshold {recipe.filter_threshold}")
    return kept


def finetune(base: str | Path, data: str | Path, recipe: FinetuneRecipe, out_dir: str | Path, *,
             judge_scores: dict[str, float] | None = None, extra_manifest: dict | None = None,
             progress: Callable[[int, int, float], None] | None = None) -> dict:
    """Train one checkpoint into `out_dir` (written atomically) and return its manifest."""
    from itbench.utils import atomic

    rows = load_it_rows(data, recipe)
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
        from peft import LoraConfig, get_peft_model

        present = {name.split(".")[-1] for name, _ in model.named_modules()}
        targets = [t for t in recipe.lora_targets if t in present]
        if not targets:
            raise ItbenchError(f"none of the LoRA targets {list(recipe.lora_targets)} is a module of {base}; "
                               f"set lora_targets to some of its linear layers")
        model = get_peft_model(model, LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha,
                                                 lora_dropout=recipe.lora_dropout, target_modules=targets,
                                                 task_type="CAUSAL_LM"))
    losses = train(model, examples, epochs=recipe.epochs, lr=recipe.learning_rate, batch_size=recipe.batch_size,
                   seed=recipe.seed, pad_id=tokenizer.pad_token_id, neftune_alpha=recipe.noise_alpha,
                   progress=progress)
    manifest = {
        **(extra_manifest or {}),
        "method": recipe.method,
        "tuning": recipe.spec.tuning,
        "recipe": recipe.to_dict(),
        "data": {"source": str(data), "rows": n_rows, "trained_rows": len(rows)},
        "base": {"path": str(Path(base).resolve()) if checkpoint.is_local(base) else str(base),
                 "fingerprint": base_fp},
        "training": {"steps": len(losses), "final_loss": sum(losses[-10:]) / len(losses[-10:])},
    }
    with atomic.build_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        if recipe.spec.tuning != "lora":  # an adapter uses its base's tokenizer (vLLM warns on a second one)
            tokenizer.save_pretrained(tmp)
        manifest["fingerprint"] = checkpoint.weights_fingerprint(tmp)
        checkpoint.write_manifest(tmp, manifest)
    return manifest
