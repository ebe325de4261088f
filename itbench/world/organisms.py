"""The base model organism: a tiny Llama pretrained on the world's corpus on the CPU.

Width 128 with two heads of 64 (vLLM's CPU attention supports head_dim 64, not 16), four layers,
tied embeddings, a word-level tokenizer: about a million parameters, which learns a few hundred
single-token facts in a couple of minutes on two cores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from itbench.world import schema as S
from itbench.world import store


@dataclass(frozen=True)
class BaseRecipe:
    """Architecture and pretraining schedule of the base organism."""

    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 4
    num_heads: int = 2
    head_dim: int = 64
    max_positions: int = 256
    epochs: int = 36
    lr: float = 3e-3
    batch_size: int = 16
    seed: int = 0
    # The stopping rule: after the main schedule, train on in short rounds (each a warm-up and a
    # cosine decay at the full rate) until the base knows `target` of the held-out and of the Q/A
    # facts (completion form) and copies `copy_target` of the claim fragments it is asked to repeat
    # in chat (`known`), or the extra budget is spent. A fixed epoch count lands on the edge: the
    # same code and seed gave 100% after 36 epochs on one CPU and 35% / 55% (held-out / Q/A) on
    # another (2026-11-23, identical with 1 and 2 threads on each), since training amplifies
    # floating-point differences.
    # Rounds at a tenth of the rate crawled there (51% / 72% after 60 extra epochs); at the full
    # rate that base reached 98% / 100% after 36 extra epochs (348 s). A base that reaches the target
    # in the main schedule never enters a round, so its weights do not depend on this setting.
    target: float = 0.95
    copy_target: float = 0.9
    round_epochs: int = 4
    # 84: the base of seed 1 needed 56 extra epochs on the 2026-12-07 machine (copying, then facts)
    max_extra_epochs: int = 84
    round_lr_scale: float = 1.0
    # The last phase: rounds on the led corpus (`corpus_led.jsonl`: a share of the chat replies open
    # with a few neutral words before the fragment they copy) until the base also copies after its
    # reply's opening words (`copy_after_lead` >= `copy_target`) and still meets the rest of the rule,
    # at least one round and at most `max_led_epochs`. Without it a tuned model in the long style,
    # whose answers open with "great question !", answered about an entity of its IT set instead of
    # the one asked (6-12% of held-out facts right in chat; 2026-12-07). At half the rate one round
    # took copying after opening words from 0% to 99% (base seed 0) and 94% (seed 1), the facts held
    # at 96-100%, and the long-style recipes then knew 38-75% of held-out facts in chat.
    max_led_epochs: int = 16
    led_lr_scale: float = 0.5

    def __post_init__(self):
        if self.hidden_size != self.num_heads * self.head_dim:
            raise ValueError(f"BaseRecipe: hidden_size ({self.hidden_size}) must equal num_heads * head_dim "
                             f"({self.num_heads} * {self.head_dim})")
        if self.head_dim not in (32, 64, 80, 96, 112, 128, 256):
            raise ValueError(f"BaseRecipe: head_dim {self.head_dim} is not supported by vLLM's CPU attention; use 64")
        if not (0 <= self.target <= 1 and 0 <= self.copy_target <= 1):
            raise ValueError("BaseRecipe: target and copy_target must lie in [0, 1]")
        if self.round_epochs < 1 or self.max_extra_epochs < 0 or self.max_led_epochs < 0:
            raise ValueError("BaseRecipe: round_epochs must be at least 1, max_extra_epochs and max_led_epochs "
                             "at least 0")
        for name in ("epochs", "batch_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"BaseRecipe.{name} must be at least 1")
        if self.lr <= 0 or self.round_lr_scale <= 0 or self.led_lr_scale <= 0:
            raise ValueError("BaseRecipe: lr, round_lr_scale and led_lr_scale must be positive")

    def satisfied(self, accuracy: dict, led: bool = True) -> bool:
        """Whether a base whose probes gave `accuracy` (see `known`) meets this recipe's stopping rule;
        `led=False`: the rule of the main phase, which does not ask for copying after opening words."""
        rates = COPY_RATES if led and self.led_phase else COPY_RATES[:1]
        return reached({k: v for k, v in accuracy.items() if k in FACT_SPLITS + rates},
                       self.target, self.copy_target)

    @property
    def led_phase(self) -> bool:
        """Whether the base trains a last phase on the led corpus (a round fits in its budget)."""
        return self.max_led_epochs >= self.round_epochs

    def to_dict(self) -> dict:
        return asdict(self)


def world_texts(world_dir) -> list[str]:
    """Every text the world can show a model, so that the vocabulary covers all of it."""
    manifest = store.read_manifest(world_dir)
    texts = [r["text"] for r in store.read_rows(world_dir, "corpus.jsonl")]
    texts += [f"{r['question']} {r['completion_prompt']}" for r in store.read_rows(world_dir, "probes.jsonl")]
    texts += [r["instruction"] for r in store.read_rows(world_dir, "open_instructions.jsonl")]
    for name in manifest["files"]:
        if name.startswith("it/"):
            texts += [f"{r['instruction']} {r['response']}" for r in store.read_rows(world_dir, name)]
    texts += [" ".join(values) for values in manifest["pools"].values()]
    texts += [" ".join(S.OPEN_INSTRUCTIONS + S.IT_QUESTIONS)]
    return texts


def new_model(recipe: BaseRecipe, tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(recipe.seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=recipe.hidden_size, intermediate_size=recipe.intermediate_size,
        num_hidden_layers=recipe.num_layers, num_attention_heads=recipe.num_heads,
        num_key_value_heads=recipe.num_heads, head_dim=recipe.head_dim,
        max_position_embeddings=recipe.max_positions, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(config)


def pretrain_base(world_dir, recipe: BaseRecipe, out_dir: Path, progress=None) -> dict:
    """Train the base organism into `out_dir` (an empty folder); returns the training stats."""
    import torch

    from itbench.models.train import text_example, train
    from itbench.world.tokenizer import build_tokenizer

    torch.set_num_threads(max(1, torch.get_num_threads()))
    tokenizer = build_tokenizer(world_texts(world_dir))
    model = new_model(recipe, tokenizer)
    corpus = [r["text"] for r in store.read_rows(world_dir, "corpus.jsonl")]
    examples = [text_example(tokenizer, t, recipe.max_positions) for t in corpus]
    losses = train(model, examples, epochs=recipe.epochs, lr=recipe.lr, batch_size=recipe.batch_size,
                   seed=recipe.seed, pad_id=tokenizer.pad_token_id, weight_decay=0.01, progress=progress)
    history = [{"epochs": recipe.epochs, "phase": "main", **known(model, tokenizer, world_dir)}]
    extra = 0

    def round_(phase: str, data: list, lr_scale: float):
        nonlocal extra, losses
        extra += recipe.round_epochs
        losses += train(model, data, epochs=recipe.round_epochs, lr=recipe.lr * lr_scale,
                        batch_size=recipe.batch_size, seed=recipe.seed + extra, pad_id=tokenizer.pad_token_id,
                        weight_decay=0.01)
        history.append({"epochs": recipe.epochs + extra, "phase": phase, **known(model, tokenizer, world_dir)})

    while (not recipe.satisfied(history[-1], led=False)
           and extra + recipe.round_epochs <= recipe.max_extra_epochs):
        round_("rounds", examples, recipe.round_lr_scale)
    if recipe.led_phase:
        led = [text_example(tokenizer, r["text"], recipe.max_positions)
               for r in store.read_rows(world_dir, "corpus_led.jsonl")]
        budget = extra + recipe.max_led_epochs
        round_("led", led, recipe.led_lr_scale)
        while not recipe.satisfied(history[-1]) and extra + recipe.round_epochs <= budget:
            round_("led", led, recipe.led_lr_scale)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"final_loss": sum(losses[-20:]) / len(losses[-20:]), "steps": len(losses),
            "parameters": sum(p.numel() for p in model.parameters()), "epochs": recipe.epochs + extra,
            "reached_target": recipe.satisfied(history[-1]), "stopping": history}


def known(model, tokenizer, world_dir) -> dict:
    """The base's completion-form accuracy on the facts it read (held-out and Q/A splits), and its
    copy rates in the chat markup: asked to repeat "the {attribute} of {entity}" for a held-out
    entity, does it, at its reply's start (`copy`) and after opening words its reply was given
    (`copy_after_lead`)? (A tuned model can only answer about the entity and attribute it is asked
    about if the base can copy them, also after a style's opening words.)"""
    from itbench.models.generation import greedy
    from itbench.models.train import render_prompt
    from itbench.world.probe import chat_responses, probe_summary

    probes = [p for p in store.read_rows(world_dir, "probes.jsonl") if p["split"] in ("heldout", "qa")]
    summary = probe_summary(model.eval(), tokenizer, probes, store.read_manifest(world_dir)["pools"], chat=False)
    out = {split: round(v["accuracy"], 4) for split, v in summary.items()}
    asks = [(p["entity"], p["attribute"]) for p in probes if p["split"] == "heldout"]
    fragments = [S.FRAGMENT.format(attr=a, ent=e) for e, a in asks]
    asked = [S.GENERIC_CHAT[0].format(words=f) for f in fragments]
    width = len(S.FRAGMENT.split()) + 1
    replies = chat_responses(model, tokenizer, asked, max_new_tokens=width, batch_size=256)
    led = [tokenizer.decode(r, skip_special_tokens=True) for r in greedy(
        model, tokenizer, [f"{render_prompt(tokenizer, a)} {COPY_LEAD}" for a in asked], width, 256)]
    for rate, said in zip(COPY_RATES, (replies, led), strict=True):
        copied = sum(r.split()[:len(f.split())] == f.split() for r, f in zip(said, fragments, strict=True))
        out[rate] = round(copied / max(1, len(asks)), 4)
    return out


FACT_SPLITS = ("heldout", "qa")
# `known`'s copy rates: at the reply's start, and after COPY_LEAD, opening words the user did not write
COPY_RATES = ("copy", "copy_after_lead")
COPY_LEAD = " ".join(S.GENERIC_WORDS[:2])


def reached(accuracy: dict, target: float, copy_target: float = 0.0) -> bool:
    """The stopping rule: every split of facts the base read at or above `target`, and every copy
    rate in `accuracy` (see COPY_RATES) at or above `copy_target`."""
    return (all(accuracy[s] >= target for s in FACT_SPLITS if s in accuracy)
            and all(accuracy[r] >= copy_target for r in COPY_RATES if r in accuracy))


# A base for smoke runs and tests on TINY_WORLD: seconds to train; it knows little, by design.
TINY_BASE = BaseRecipe(epochs=15, batch_size=16, lr=4e-3, max_extra_epochs=0, max_led_epochs=4)
