"""Generation backends of the paired model: one protocol, one registry (vLLM's model registry
shape: a name to a lazy "module:Class", so a backend's heavy imports happen only when it is used).

A new backend is one class in its own module and one entry in BACKENDS; nothing else changes.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from itbench.errors import ItbenchError
from itbench.models.backends.install import check_torchvision, import_vllm, vllm_flavour

__all__ = ["BACKENDS", "Backend", "check_torchvision", "get", "import_vllm", "vllm_flavour"]


class Backend(Protocol):
    """Greedy generation for a base and a tuned model that share one tokenizer."""

    def __init__(self, pair, **engine_args): ...

    def generate(self, which: str, prompts: list[str], max_tokens: int,
                 stop: list[str] | None = None) -> list[list[int]]:
        """The generated token ids of each prompt (prompt excluded, up to the end token), from the
        "base" or the "tuned" model, greedily; a row may stop at one of the `stop` strings."""

    def first_token_logprobs(self, which: str, prompt: str) -> list[float]:
        """Log-probabilities the model gives its top next tokens after `prompt` (a fingerprint of
        its outputs: the paired model refuses a tuned model whose equal the base's)."""


BACKENDS: dict[str, str] = {
    "hf": "itbench.models.backends.hf:HFBackend",
    "vllm": "itbench.models.backends.vllm:VLLMBackend",
}


def get(name: str) -> type:
    """The backend class registered under `name`, imported now."""
    if name not in BACKENDS:
        raise ItbenchError(f"backend must be one of {', '.join(sorted(BACKENDS))}, not {name!r}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)
