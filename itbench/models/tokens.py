"""Encoding text the way the model was trained to read it: one place that decides special tokens.

A sequence start gets the tokenizer's BOS when the tokenizer adds one by default (Llama, Gemma, the
world's organisms): exactly once, also when a chat template already wrote it into the text.
Without BOS such models are garbage (Gemma 3 270M: "The capital of France is" -> " France. The The
The"), and a model without BOS in training but with it in evaluation (or the reverse) is measured on
text it never saw. A continuation (a response after its prompt, a candidate answer) gets no special
token. Every path uses these two functions: training, probes, HF generation, scoring, vLLM (which
is handed token ids, so that its own tokenisation cannot add a second BOS).
"""

from __future__ import annotations


def adds_bos(tokenizer) -> bool:
    """Whether the tokenizer starts an encoded text with its BOS token (cached on the tokenizer)."""
    cached = getattr(tokenizer, "_itbench_adds_bos", None)
    if cached is None:
        bos = tokenizer.bos_token_id
        ids = tokenizer("a", add_special_tokens=True)["input_ids"] if bos is not None else []
        cached = bool(ids) and ids[0] == bos
        try:
            tokenizer._itbench_adds_bos = cached
        except AttributeError:  # a tokenizer that refuses attributes: recomputed each time
            pass
    return cached


def encode_prompt(tokenizer, text: str) -> list[int]:
    """Token ids of a sequence start: BOS once where the tokenizer adds one, then the text."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if adds_bos(tokenizer) and (not ids or ids[0] != tokenizer.bos_token_id):
        ids = [tokenizer.bos_token_id, *ids]
    return ids


def encode_continuation(tokenizer, text: str) -> list[int]:
    """Token ids of text that continues a sequence (no special tokens)."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encoding_key(tokenizer) -> str:
    """What decides how prompts are encoded, for cache keys: answers computed with BOS and without
    are different answers."""
    return "bos" if adds_bos(tokenizer) else "no-bos"
