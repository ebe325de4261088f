"""One small causal-LM training loop, used for the organisms' pretraining and for every
fine-tuning method (LoRA, full, NEFTune, filtered), on the world's organisms or a hub model.

nanoGPT-style rather than transformers' Trainer: the organisms take milliseconds a step, where a
Trainer's per-step overhead would dominate; the loop is the same for a 7B model on a GPU.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

IGNORE = -100


@dataclass(frozen=True)
class Example:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]  # IGNORE where no loss is taken (the prompt)


def chat_example(tokenizer, instruction: str, response: str, max_length: int) -> Example:
    """Prompt through the tokenizer's chat template, loss on the response and its end token only."""
    from itbench.models.tokens import encode_continuation, encode_prompt

    prompt = render_prompt(tokenizer, instruction)
    p = encode_prompt(tokenizer, prompt)
    r = encode_continuation(tokenizer, " " + response) + [tokenizer.eos_token_id]
    ids = (p + r)[:max_length]
    labels = ([IGNORE] * len(p) + r)[:max_length]
    return Example(tuple(ids), tuple(labels))


def text_example(tokenizer, text: str, max_length: int) -> Example:
    """A pretraining text: BOS where the tokenizer adds one, the text, the end token; loss everywhere."""
    from itbench.models.tokens import encode_prompt

    ids = encode_prompt(tokenizer, text) + [tokenizer.eos_token_id]
    ids = ids[:max_length]
    return Example(tuple(ids), tuple(ids))


FALLBACK_TEMPLATE = "### Instruction:\n{instruction}\n\n### Response:\n"


def render_prompt(tokenizer, instruction: str) -> str:
    """The user turn plus generation prompt, in the model's own chat template when it has one."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": instruction}], tokenize=False,
                                             add_generation_prompt=True)
    return FALLBACK_TEMPLATE.format(instruction=instruction)


def _batches(examples: Sequence[Example], batch_size: int, rng: random.Random, pad_id: int):
    import torch

    order = list(range(len(examples)))
    rng.shuffle(order)
    for i in range(0, len(order), batch_size):
        chunk = [examples[j] for j in order[i:i + batch_size]]
        width = max(len(e.input_ids) for e in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, e in enumerate(chunk):
            n = len(e.input_ids)
            ids[row, :n] = torch.tensor(e.input_ids)
            labels[row, :n] = torch.tensor(e.labels)
            mask[row, :n] = 1
        yield ids, labels, mask


def neftune_hook(alpha: float):
    """NEFTune (Jain et al. 2023): uniform noise on the input embeddings while training, scaled by
    alpha / sqrt(sequence length * hidden size)."""
    import torch

    def hook(module, inputs, output):
        if module.training:
            dims = output.size(1) * output.size(2)
            bound = alpha / math.sqrt(dims)
            output = output + torch.empty_like(output).uniform_(-bound, bound)
        return output

    return hook


def response_loss(model, ids, mask, labels):
    """The mean next-token loss over the labelled (response) tokens, with the LM head run only at
    the positions that predict one: a prompt's positions, and a padded row's, need no logits, and
    at Gemma's 262k vocabulary the head is most of a step's compute. On the Gemma study's batches
    the labelled positions are about half of the span from the first to the last labelled column
    (the span is what `logits_to_keep` would keep): short set 10,464 of 21,712, long set 18,225 of
    32,800 over three epochs. The same number as the model's own `labels=` loss."""
    import torch

    target = labels[:, 1:] != IGNORE  # position t predicts token t + 1
    head, config = model.get_output_embeddings(), getattr(model, "config", None)
    # where the causal LM's logits are head(hidden) and nothing more (no soft-capping, no scale)
    plain = head is not None and hasattr(model, "get_decoder") and not getattr(config, "logit_scale", None) \
        and not getattr(config, "final_logit_softcapping", None)
    if not target.any():  # nothing to learn in this batch: a zero loss that keeps the graph
        return model(input_ids=ids, attention_mask=mask, logits_to_keep=1).logits.sum() * 0.0
    if plain:
        hidden = model.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        logits = head(hidden[:, :-1][target])
        return torch.nn.functional.cross_entropy(logits.float(), labels[:, 1:][target])
    cols = target.any(0).nonzero().flatten()
    keep = torch.arange(int(cols[0]), int(cols[-1]) + 1, device=ids.device)
    logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
    return torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), labels[:, keep + 1].flatten(),
                                             ignore_index=IGNORE)


def train(model, examples: Sequence[Example], *, epochs: int, lr: float, batch_size: int, seed: int,
          pad_id: int, warmup_ratio: float = 0.03, weight_decay: float = 0.0, neftune_alpha: float | None = None,
          precision: str = "fp32", progress: Callable[[int, int, float], None] | None = None) -> list[float]:
    """AdamW with linear warm-up and cosine decay; returns the loss of every step. `precision`
    "bf16-mixed" runs the forward pass under bfloat16 autocast (master weights stay float32)."""
    import contextlib

    import torch

    if not examples:
        raise ValueError("no training examples: the instruction-tuning set is empty")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    steps_per_epoch = math.ceil(len(examples) / batch_size)
    total = steps_per_epoch * epochs
    warmup = max(1, int(warmup_ratio * total))

    def lr_at(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    handle = None
    if neftune_alpha:
        handle = model.get_input_embeddings().register_forward_hook(neftune_hook(neftune_alpha))
    losses = []
    model.train()
    device = next(model.parameters()).device

    def autocast():
        if precision == "bf16-mixed":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    try:
        step = 0
        for _ in range(epochs):
            for ids, labels, mask in _batches(examples, batch_size, rng, pad_id):
                with autocast():
                    loss = response_loss(model, ids.to(device), mask.to(device), labels.to(device))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                losses.append(float(loss.detach()))
                step += 1
                if progress:
                    progress(step, total, losses[-1])
    finally:
        if handle is not None:
            handle.remove()
        model.eval()
    return losses
