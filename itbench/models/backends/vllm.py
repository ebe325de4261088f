"""The vLLM backend: greedy generation through vLLM engines (a base and its LoRA adapter share one
engine). It loads no HF weights: only the engines it generates with."""

from __future__ import annotations


class VLLMBackend:
    def __init__(self, pair, batch_size: int = 8, **engine_args):
        self.pair, self.engine_args = pair, engine_args
        self._engines: dict[str, object] = {}

    def _engine(self, which: str):
        from itbench.models import vllm_engine

        lora = self.pair.lora
        key, model = ("base", self.pair.base_name) if (lora is not None or which == "base") else \
            ("tuned", self.pair.tuned_name)
        if key not in self._engines:
            dtype = {"dtype": self.pair.dtype} if getattr(self.pair, "dtype", None) else {}
            args = {**dtype, **self.engine_args}
            self._engines[key] = vllm_engine.engine(model, enable_lora=lora is not None, **args)
        adapter = vllm_engine.lora_request(lora) if (lora is not None and which == "tuned") else None
        return self._engines[key], adapter

    def _run(self, which: str, prompts: list[str], params):
        from itbench.models.tokens import encode_prompt

        llm, adapter = self._engine(which)
        # token ids, encoded as every other path encodes them: vLLM's own tokenisation would add BOS
        # to a chat-templated text that already holds one, and none where the HF path adds one
        ids = [{"prompt_token_ids": encode_prompt(self.pair.tok, p)} for p in prompts]
        return llm.generate(ids, params, lora_request=adapter, use_tqdm=False)

    def generate(self, which: str, prompts: list[str], max_tokens: int,
                 stop: list[str] | None = None) -> list[list[int]]:
        from vllm import SamplingParams

        from itbench.models.generation import cut_ids

        params = SamplingParams(temperature=0.0, max_tokens=max_tokens, stop=[s for s in stop or [] if s] or None,
                                include_stop_str_in_output=True)
        outs = self._run(which, prompts, params)
        return [cut_ids(o.outputs[0].token_ids, self.pair.tok.eos_token_id) for o in outs]

    def close(self) -> None:
        """Stop every engine this backend started (its worker processes and the RAM share it
        reserved for the KV cache); a study that pairs seven checkpoints would otherwise hold seven."""
        import gc

        from itbench.models import vllm_engine

        for llm in self._engines.values():
            vllm_engine.shutdown(llm)
        self._engines.clear()
        gc.collect()

    def first_token_logprobs(self, which: str, prompt: str) -> list[float]:
        from vllm import SamplingParams

        out = self._run(which, [prompt], SamplingParams(temperature=0.0, max_tokens=1, logprobs=5))[0]
        first = out.outputs[0].logprobs[0]
        return sorted((lp.logprob for lp in first.values()), reverse=True)
