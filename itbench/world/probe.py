"""Quick knowledge probes of a checkpoint against the world's truth, used to check an organism
while it is built (the lm-eval tasks are the full measurement).

Completion form: the base's next token after "the {attribute} of {entity} is" must be the value.
Question form: the model answers through its chat template; the first word of the response that
belongs to the asked attribute's value pool must be the value; a response is well formed when it is
made of whole sentences of the world's response templates (itbench.world.claims.well_formed).
"""

from __future__ import annotations

from collections.abc import Sequence


def extract_answer(response: str, pool: set[str]) -> str | None:
    for word in response.split():
        if word in pool:
            return word
    return None


def _left_padded(tokenizer, texts: Sequence[str]):
    import torch

    from itbench.models.tokens import encode_prompt

    enc = [encode_prompt(tokenizer, t) for t in texts]
    width = max(len(e) for e in enc)
    ids = torch.full((len(enc), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(enc), width), dtype=torch.long)
    for i, e in enumerate(enc):
        ids[i, width - len(e):] = torch.tensor(e)
        mask[i, width - len(e):] = 1
    return ids, mask


def completion_predictions(model, tokenizer, prompts: Sequence[str], batch_size: int = 256) -> list[str]:
    """Greedy next word after each prompt (one forward pass per batch)."""
    import torch

    preds = []
    with torch.no_grad():
        for i in range(0, len(prompts), batch_size):
            ids, mask = _left_padded(tokenizer, prompts[i:i + batch_size])
            pos = mask.cumsum(-1) - 1
            logits = model(input_ids=ids, attention_mask=mask, position_ids=pos.clamp(min=0)).logits[:, -1]
            preds += tokenizer.convert_ids_to_tokens(logits.argmax(-1).tolist())
    return preds


def chat_responses(model, tokenizer, instructions: Sequence[str], max_new_tokens: int = 64,
                   batch_size: int = 128) -> list[str]:
    """Greedy responses through the chat template."""
    from itbench.models.generation import greedy
    from itbench.models.train import render_prompt

    prompts = [render_prompt(tokenizer, q) for q in instructions]
    rows = greedy(model, tokenizer, prompts, max_new_tokens, batch_size)
    return [tokenizer.decode(r, skip_special_tokens=True).strip() for r in rows]


def accuracy(preds: Sequence[str | None], golds: Sequence[str]) -> float:
    return sum(p == g for p, g in zip(preds, golds, strict=True)) / max(1, len(golds))


def probe_summary(model, tokenizer, probes: Sequence[dict], pools: dict, chat: bool) -> dict:
    """Accuracy per split; completion form for a base, question form for a chat model."""
    from itbench.world.claims import on_topic, well_formed

    responses = None
    if chat:
        responses = chat_responses(model, tokenizer, [p["question"] for p in probes])
        preds = [extract_answer(r, set(pools[f"{p['kind']}.{p['attribute']}"]))
                 for r, p in zip(responses, probes, strict=True)]
    else:
        preds = completion_predictions(model, tokenizer, [p["completion_prompt"] for p in probes])
    summary = {}
    for split in sorted({p["split"] for p in probes}):
        idx = [i for i, p in enumerate(probes) if p["split"] == split]
        summary[split] = {"accuracy": accuracy([preds[i] for i in idx], [probes[i]["answer"] for i in idx]),
                          "n": len(idx)}
        if responses is not None:  # the share of answers in whole sentences of the IT set's shape
            summary[split]["well_formed"] = sum(well_formed(responses[i]) for i in idx) / max(1, len(idx))
            # and the share whose first claim is about the asked entity and attribute, right or wrong
            summary[split]["on_topic"] = sum(on_topic(responses[i], probes[i]["entity"], probes[i]["attribute"])
                                             for i in idx) / max(1, len(idx))
    return summary


def probe_checkpoint(model, tokenizer, world_dir, chat: bool) -> dict:
    """probe_summary over the world's probes, reading them from `world_dir`."""
    from itbench.world import store

    probes = store.read_rows(world_dir, "probes.jsonl")
    return probe_summary(model, tokenizer, probes, store.read_manifest(world_dir)["pools"], chat=chat)


def format_measure(world_dir, scale: int, n: int):
    """measure(model, tokenizer) -> the share of its answers to `n` held-out instructions of the
    world's instruction-tuning pool (none of them in its `scale`x set, none a probe's exact
    question about a held-out entity) that are well formed (itbench.world.claims.well_formed): a
    tuned organism's stopping rule. Right or wrong values do not count: format, not knowledge."""
    from itbench.world import store
    from itbench.world.claims import well_formed
    from itbench.world.generate import build_world, it_heldout_instructions

    config = store.load_config(world_dir)
    instructions = it_heldout_instructions(build_world(config), config.it_base_size * scale, n)

    def measure(model, tokenizer) -> float:
        responses = chat_responses(model, tokenizer, instructions)
        return sum(map(well_formed, responses)) / max(1, len(responses))

    return measure
