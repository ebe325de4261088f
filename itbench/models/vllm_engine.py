"""Greedy generation through vLLM: a base and its LoRA adapters share one engine.

vLLM on CPU starts worker processes with spawn, so callers need a `__main__` guard; this module is
also a small command (`python -m itbench.models.vllm_engine`) that tests and scripts run in a
subprocess. On CPU the engine reserves `gpu_memory_utilization` of the RAM for its KV cache, so a
low fraction is the default there.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from itbench.models import checkpoint

_LORA_IDS: dict[str, int] = {}  # vLLM wants a distinct positive integer per adapter


def engine(model: str, *, enable_lora: bool = False, max_lora_rank: int = 8, **engine_args):
    """An LLM engine; extra keyword arguments go to vLLM's EngineArgs unchanged
    (tensor_parallel_size, dtype, ...)."""
    from itbench.models.backends import import_vllm

    vllm, flavour = import_vllm()
    if flavour == "cpu":
        engine_args.setdefault("gpu_memory_utilization", 0.2)
        engine_args.setdefault("enforce_eager", True)
        # vLLM's "auto" runs a float32 checkpoint in half precision; on CPU float32 costs little at
        # organism size and keeps greedy text and ranks identical to transformers'.
        engine_args.setdefault("dtype", "float32")
    if enable_lora:
        engine_args.update(enable_lora=True, max_lora_rank=max_lora_rank, max_loras=engine_args.get("max_loras", 2))
    return vllm.LLM(model=model, **engine_args)


def shutdown(llm) -> None:
    """Stop an engine's worker processes and the RAM share it reserved for its KV cache, now rather
    than when the interpreter exits; the caller then drops its references and collects."""
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if core is not None:
        core.shutdown()


def lora_request(adapter: str):
    from vllm.lora.request import LoRARequest

    path = checkpoint.check_folder(adapter)
    return LoRARequest(path.name, _LORA_IDS.setdefault(str(path), len(_LORA_IDS) + 1), str(path))


def generate(llm, prompts: Sequence[str], *, adapter: str | None = None, max_tokens: int = 40) -> list[str]:
    """Greedy completions of raw prompt strings (chat templates are applied by the caller)."""
    from vllm import SamplingParams

    from itbench.models.tokens import encode_prompt

    lora = lora_request(adapter) if adapter is not None else None
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    tok = llm.get_tokenizer()  # encoded as every other path encodes a sequence start (BOS once)
    ids = [{"prompt_token_ids": encode_prompt(tok, p)} for p in prompts]
    outs = llm.generate(ids, params, lora_request=lora, use_tqdm=False)
    return [o.outputs[0].text for o in outs]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="greedy generations of one model (and its adapters) with vLLM")
    p.add_argument("--model", required=True)
    p.add_argument("--adapter", action="append", default=[], help="a LoRA adapter of the model (repeatable)")
    p.add_argument("--prompts", required=True, help="JSON file: a list of prompt strings")
    p.add_argument("--max-tokens", type=int, default=40)
    p.add_argument("--max-model-len", type=int, default=None,
                   help="the engine's context length (a 32k-context model's KV cache may not fit the CPU share)")
    p.add_argument("--out", required=True, help="JSON file: {'base': [...], adapter path: [...]}")
    args = p.parse_args(argv)
    prompts = json.loads(Path(args.prompts).read_text())
    for a in args.adapter:
        checkpoint.check_adapter_base(checkpoint.check_folder(a), args.model)
    from itbench.models import embedded

    args.model = embedded.resolve(args.model)
    extra = {"max_model_len": args.max_model_len} if args.max_model_len else {}
    llm = engine(args.model, enable_lora=bool(args.adapter), **extra)
    result = {"base": generate(llm, prompts, max_tokens=args.max_tokens)}
    for a in args.adapter:
        result[a] = generate(llm, prompts, adapter=a, max_tokens=args.max_tokens)
    from itbench.utils import atomic

    atomic.write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
