"""The transformers backend: left-padded batched greedy generation on the paired model's own HF
models (itbench.models.generation)."""

from __future__ import annotations


class HFBackend:
    def __init__(self, pair, batch_size: int = 8, round_tokens: int | str = 16, **engine_args):
        if engine_args:
            from itbench.errors import ItbenchError

            raise ItbenchError(f"the hf backend takes no engine arguments ({', '.join(sorted(engine_args))}): "
                               "they are vLLM's; add backend=vllm")
        self.pair, self.batch_size = pair, batch_size
        # rows that stopped leave the batch every round_tokens new tokens (itbench.models.generation)
        self.round_tokens = int(round_tokens) or None

    def generate(self, which: str, prompts: list[str], max_tokens: int,
                 stop: list[str] | None = None) -> list[list[int]]:
        from itbench.models.generation import cut_ids, greedy

        tok = self.pair.tok
        rows = greedy(self.pair.model(which), tok, prompts, max_tokens, self.batch_size, stop=stop,
                      round_tokens=self.round_tokens)
        return [cut_ids(row, tok.eos_token_id, tok.pad_token_id) for row in rows]

    def first_token_logprobs(self, which: str, prompt: str) -> list[float]:
        import torch

        from itbench.models.tokens import encode_prompt

        ids = torch.tensor([encode_prompt(self.pair.tok, prompt)])
        model = self.pair.model(which)
        with torch.no_grad():
            logits = model(input_ids=ids.to(model.device)).logits[0, -1]
        return torch.log_softmax(logits.double(), -1).topk(5).values.tolist()
