"""`--model itbench`: a base and a tuned checkpoint as one lm-eval model, so a paired comparison is
one run.

    lm_eval --model itbench --model_args base=PATH_OR_HUB_ID,lora=ADAPTER ...
    lm_eval --model itbench --model_args base=PATH_OR_HUB_ID,tuned=PATH_OR_HUB_ID,backend=vllm ...

What it returns for an itbench task's request depends on the document (`itbench_mode`):
  - knowledge (both models answer): the tuned model answers through its chat template, the base
    answers the document's base prompt (completion or few-shot form): knowledge *expressed*. Both
    models are also asked in the same base form (a log-likelihood choice over the document's value
    pool where it has one, else the tuned model answers the base prompt): knowledge *kept*. The
    response is a JSON payload with all four answers and the tuned checkpoint's IT set when its
    manifest names one.
  - token_shift: the tuned model answers greedily, then both models are teacher-forced over the
    response (itbench.models.scorer); the payload carries per-position ranks, probabilities, KL.
Any other task's request is answered by the tuned model alone.

Base answers are cached per base model (content-addressed by prompt and decoding settings) under
$ITBENCH_HOME/reference, so a sweep over many checkpoints of one base runs the base once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from itbench import paths
from itbench.errors import ItbenchError
from itbench.models import backends, checkpoint
from itbench.models.payload import PAYLOAD_KEY, make_payload, parse_payload  # noqa: F401  (re-exported)
from itbench.models.reference import ReferenceCache
from itbench.models.scorer import check_same_tokenizer, choose, token_shift
from itbench.models.tokens import encoding_key
from itbench.models.train import render_prompt

log = logging.getLogger(__name__)


@register_model("itbench")
class PairedLM(LM):
    def __init__(self, base: str, tuned: str | None = None, lora: str | None = None, backend: str = "hf",
                 batch_size: int | str = 8, max_gen_toks: int = 256, device: str | None = None,
                 reference_cache: str | None = None, max_batch_size: int | None = None, dtype: str | None = None,
                 max_gen_cap: int | None = None, device_map: str | None = None, scoring: str = "hf",
                 scoring_topk: int = 20, base_only: bool = False, **engine_args):
        """`engine_args` (e.g. tensor_parallel_size) pass to vLLM's engine unchanged. lm-eval's CLI
        sends device=cuda by default: without a GPU the model runs on the CPU. HF weights are loaded
        only when used: by the hf backend, and by token-shift scoring (full-vocabulary logits), in
        `dtype` when given (bfloat16 runs Gemma 3 270M 4x faster than float32 on an AVX512-BF16 CPU).
        An embedded base name (itbench.models.embedded, e.g. gemma-3-270m) is its converted folder.
        `scoring` is how token shift scores the responses: "hf" (exact, full-vocabulary logits) or
        "vllm" (prompt_logprobs, one engine pass per model, no HF weights; KL as `mean_kl_topk`
        over the top `scoring_topk` tokens plus a tail, itbench.models.vllm_scoring).
        `batch_size` "auto" (what `itbench eval` passes when none is given) is AUTO_BATCH: lm-eval's
        default of 1 reads the 262k x 640 LM head of Gemma 3 270M once per generated token, and a
        200-question QA pair took 22.7 min at 1 against 88 s at 64. The batch size is recorded in
        the results and in the reference cache's key, since bfloat16 greedy answers depend on it.
        `base_only`: the base side alone, for screening a question pool (itbench.screen)."""
        import torch

        from itbench.models import embedded

        super().__init__()
        if device is None or (str(device).startswith("cuda") and not torch.cuda.is_available()):
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if base_only:
            tuned, lora = None, None
        elif (tuned is None) == (lora is None):
            raise ItbenchError("--model itbench needs the base and exactly one of tuned=PATH (a full model) or "
                               "lora=ADAPTER, e.g. --model_args base=zoo/base,lora=zoo/lora-short-4x")
        base = embedded.resolve(base)
        self.base_only = bool(base_only)
        self.base_name, self.tuned_name, self.lora = str(base), str(tuned or lora or base), lora
        self.dtype, self.device_map = dtype, device_map
        # a cap on every task's max_gen_toks (a study on a CPU caps the 256/512-token just-eval answers)
        self.max_gen_cap = int(max_gen_cap) if max_gen_cap else None
        self.batch_size = _batch_size(batch_size)
        if str(batch_size).startswith("auto"):  # lm-eval's run header then says "auto (64)"
            self.batch_sizes = {0: self.batch_size}
        self.max_gen_toks = int(max_gen_toks)
        self._device, self.backend = device, backend
        if scoring not in ("hf", "vllm"):
            raise ItbenchError(f"scoring must be hf (exact, full vocabulary) or vllm (prompt_logprobs, top-k KL), "
                               f"not {scoring!r}")
        self.scoring, self.scoring_topk, self.engine_args = scoring, int(scoring_topk), engine_args
        if lora is not None:
            checkpoint.check_adapter_base(checkpoint.check_folder(lora), base)
        self.tok = checkpoint.load_tokenizer(base)
        self.tuned_tok = self.tok if lora is not None or base_only else checkpoint.load_tokenizer(tuned)
        check_same_tokenizer(self.tok, self.tuned_tok, self.base_name, self.tuned_name)
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token
            self.tuned_tok.pad_token = self.tuned_tok.eos_token
        self._models: dict[str, object] = {}
        self._answers: dict[tuple, tuple[str, list[int]]] = {}  # (model, prompt, length, stops) -> answer
        self.generator = backends.get(backend)(self, batch_size=self.batch_size, **engine_args)
        if not base_only:
            self._check_tuning_changed_outputs()
        # The IT set a zoo or `itbench finetune` checkpoint was tuned on, for the tasks that
        # compare responses with it (pattern copy, borrowed tokens); tasks can also name one.
        manifest = checkpoint.read_manifest(lora or tuned, required=False) \
            if not base_only and checkpoint.is_local(lora or tuned) else None
        self.manifest = manifest or {}
        self.tuned_it_set = (self.manifest.get("data") or {}).get("source")
        self.base_key = checkpoint.identity(base)
        folder = None if reference_cache == "none" else Path(reference_cache or paths.reference_cache())
        self.cache = ReferenceCache(folder, self.base_key)

    def close(self) -> None:
        """Release both models and any engine the backend started (run_paired calls this after
        each run; lm-eval itself never closes a model)."""
        self._close_generator()
        self._models.clear()

    def _close_generator(self) -> None:
        """Stop any engine the backend started (it starts them again when next asked)."""
        close = getattr(self.generator, "close", None)
        if close is not None:
            close()

    def model(self, which: str):
        """The HF model of the "base" or the "tuned" side, loaded on first use."""
        if which not in self._models:
            kw = {"dtype": self.dtype, "device_map": self.device_map}
            if which == "base":
                model = checkpoint.load_model(self.base_name, **kw)
            elif self.base_only:
                raise ItbenchError("this paired model was made base_only (screening): it has no tuned side")
            elif self.lora is not None:
                model = checkpoint.load_model(self.base_name, adapter=self.lora, **kw)
                if self.dtype:  # the fast path: the adapter merged into its own copy of the weights
                    model = model.merge_and_unload()
            else:
                model = checkpoint.load_model(self.tuned_name, **kw)
            # a model spread over devices by device_map stays where accelerate put it
            self._models[which] = model if self.device_map else model.to(self._device)
        return self._models[which]

    def _check_tuning_changed_outputs(self) -> None:
        """lm-eval #2432: LoRA runs that score exactly like the base. Refuse a pair whose tuned
        model gives the base's next-token log-probabilities, on the backend that generates."""
        prompt = render_prompt(self.tok, "hello")
        tuned = self.generator.first_token_logprobs("tuned", prompt)
        base = self.generator.first_token_logprobs("base", prompt)
        if max(abs(a - b) for a, b in zip(tuned, base, strict=True)) < 1e-6:
            raise ItbenchError(f"{self.tuned_name} computes the same outputs as its base {self.base_name}: the "
                               "adapter or checkpoint did not change the model (see lm-eval issue #2432)")

    def get_model_info(self) -> dict:
        """What lm-eval records under results["config"]: which base and tuned checkpoint were paired
        (by weights fingerprint where local) and how the tuned one was made, so a leaderboard can
        group results by base and a release gate can refuse results of another base."""
        import itbench

        m = self.manifest
        return {"itbench": {
            "suite_version": itbench.__version__,
            "base": {"name": self.base_name, "fingerprint": self.base_key},
            "tuned": {"name": m.get("name") or Path(self.tuned_name).name, "path": self.tuned_name,
                      "fingerprint": checkpoint.identity(self.lora or self.tuned_name),
                      "kind": "lora" if self.lora is not None else "full-weights"},
            "method": m.get("method") or ("lora" if self.lora is not None else "tuned"),
            # seed replicates of one recipe share a group; the leaderboard shows their seed mean
            "replicate": m.get("replicate") or None,
            "it_set": {**(m.get("it_set") or {}), "source": self.tuned_it_set,
                       "rows": (m.get("data") or {}).get("rows"),
                       "trained_rows": (m.get("data") or {}).get("trained_rows")},
            "backend": self.backend, "dtype": self.dtype or "as saved", "max_gen_cap": self.max_gen_cap,
            "batch_size": self.batch_size,
            "scoring": self.scoring if self.scoring == "hf" else f"vllm top-{self.scoring_topk}"}}

    def _generate(self, which: str, prompts: list[str], until: list[str], max_tokens: int):
        """(text cut at the first stop string, the token ids that make it) of each prompt. Answers
        are kept for the run: tasks that ask the same model the same prompt with the same settings
        (token shift and pattern copy on just-eval, knowledge and borrowed tokens on PopQA) share
        one generation."""
        keys = [(which, p, max_tokens, tuple(until)) for p in prompts]
        todo = list(dict.fromkeys(k for k in keys if k not in self._answers))
        if todo:
            got = self.generator.generate(which, [k[1] for k in todo], max_tokens, stop=until)
            for k, ids in zip(todo, got, strict=True):
                self._answers[k] = _cut_text(self.tok.decode(ids, skip_special_tokens=True), until, ids, self.tok)
        return [self._answers[k] for k in keys]

    # --- lm-eval API --------------------------------------------------------------------------
    def apply_chat_template(self, chat_history, add_generation_prompt: bool = True) -> str:
        # The model applies the tuned model's template itself; with --apply_chat_template lm-eval
        # hands over the turns, and the user turn is passed through unchanged.
        return "\n\n".join(m["content"] for m in chat_history if m["role"] == "user")

    @property
    def tokenizer_name(self) -> str:
        return self.tuned_name.replace("/", "__")

    def chat_template(self, chat_template=False):
        return self.tuned_tok.chat_template

    def generate_until(self, requests) -> list[str]:
        results: list[str | None] = [None] * len(requests)
        # lm-eval hands over every task's requests in one call: they are grouped by mode *and* by
        # generation settings, since a handler applies one stop list and one length to its chunk
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            until, max_tokens = self._settings(r)
            groups.setdefault(((r.doc or {}).get("itbench_mode", "plain"), tuple(until), max_tokens), []).append(i)
        from huggingface_hub.utils import are_progress_bars_disabled
        from tqdm.auto import tqdm

        # progress per request kind, as lm-eval's own backends show it (off where a quiet command
        # turned the hub's progress bars off)
        bar = tqdm(total=len(requests), unit="req", disable=are_progress_bars_disabled(),
                   desc="itbench: generate_until requests")
        for (mode, _, max_tokens), idx in groups.items():
            bar.set_postfix_str(f"{mode}: {len(idx)} requests, up to {max_tokens} tokens")
            chunk = [requests[i] for i in idx]
            handler = {"knowledge": self._knowledge, "token_shift": self._token_shift}.get(mode, self._plain)
            for i, text in zip(idx, handler(chunk), strict=True):
                results[i] = text
            bar.update(len(idx))
        bar.close()
        return results

    def _settings(self, r) -> tuple[list[str], int]:
        kwargs = dict(r.args[1]) if len(r.args) > 1 else {}
        until = kwargs.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        max_tokens = int(kwargs.get("max_gen_toks", self.max_gen_toks))
        return until, min(max_tokens, self.max_gen_cap) if self.max_gen_cap else max_tokens

    def _tuned_prompts(self, chunk) -> list[str]:
        return [render_prompt(self.tuned_tok, r.args[0]) for r in chunk]

    def _plain(self, chunk) -> list[str]:
        until, max_tokens = self._settings(chunk[0])
        return [t for t, _ in self._generate("tuned", self._tuned_prompts(chunk), until, max_tokens)]

    def _knowledge(self, chunk) -> list[str]:
        """Both forms of each question. Expressed: the tuned model through its chat template against
        the base's best form (the document's base prompt). Kept: both models asked in the same base
        form: a log-likelihood choice over the document's value pool where it has one (the world),
        else the tuned model answering the base prompt as the base does (few-shot, no template)."""
        until, max_tokens = self._settings(chunk[0])
        tuned = [t for t, _ in self._generate("tuned", self._tuned_prompts(chunk), until, max_tokens)]
        base_prompts = [r.doc["itbench_base_prompt"] for r in chunk]
        base = self.base_answers(base_prompts, until, max_tokens)
        kept = [i for i, r in enumerate(chunk) if r.doc.get("itbench_kept", True)]  # a task may not need it
        pooled = [i for i in kept if chunk[i].doc.get("pool")]
        free = [i for i in kept if not chunk[i].doc.get("pool")]
        base_kept, tuned_kept = [None] * len(chunk), [None] * len(chunk)
        for i in free:
            base_kept[i] = base[i]
        if free:
            for i, (t, _) in zip(free, self._generate("tuned", [base_prompts[i] for i in free], until, max_tokens),
                                 strict=True):
                tuned_kept[i] = t
        if pooled:
            prompts = [base_prompts[i] for i in pooled]
            pools = [list(chunk[i].doc["pool"]) for i in pooled]
            by_prompt = dict(zip(prompts, pools, strict=True))
            choice = self._reference_key(mode="choice")
            base_choice = self._base_cached(prompts, choice, lambda todo: choose(
                self.model("base"), self.tok, todo, [by_prompt[p] for p in todo], self.batch_size * 8),
                pools=pools)
            tuned_choice = choose(self.model("tuned"), self.tok, prompts, pools, self.batch_size * 8)
            for i, b, t in zip(pooled, base_choice, tuned_choice, strict=True):
                base_kept[i], tuned_kept[i] = b, t
        return [make_payload(tuned=t, base=b, tuned_kept=tk, base_kept=bk, tuned_it_set=self.tuned_it_set,
                             kept_form="choice" if r.doc.get("pool") else "base_prompt")
                for t, b, tk, bk, r in zip(tuned, base, tuned_kept, base_kept, chunk, strict=True)]

    def base_answers(self, prompts: list[str], until: list[str], max_tokens: int) -> list[str]:
        """The base's greedy answers to `prompts` (its side of a knowledge document), from the
        reference cache where there: what a screening of a question pool and every later paired
        run with the same settings share."""
        settings = self._reference_key(max_tokens=max_tokens, until=until, backend=self.backend)
        return self._base_cached(prompts, settings, lambda todo: [
            t for t, _ in self._generate("base", todo, until, max_tokens)])

    def request_settings(self, request) -> tuple[list[str], int]:
        """(stop strings, token limit) this model applies to an lm-eval request."""
        return self._settings(request)

    def _reference_key(self, **settings) -> dict:
        """What decides a base answer besides its prompt: the reference cache's key. The batch size
        is part of it: greedy decoding in bfloat16 is not batch-invariant."""
        return {**settings, "base": self.base_name, "encoding": encoding_key(self.tok),
                **({"dtype": self.dtype} if self.dtype else {}), "batch_size": self.batch_size}

    def _base_cached(self, prompts: list[str], settings: dict, compute, pools: list | None = None) -> list[str]:
        """The base's answers to `prompts` under `settings`, from the reference cache where there,
        else computed (compute(prompts) -> answers) and stored."""
        keys = [self.cache.key(p, {**settings, **({"pool": pools[i]} if pools else {})})
                for i, p in enumerate(prompts)]
        out = [self.cache.get(k) for k in keys]
        todo = [i for i, b in enumerate(out) if b is None]
        if todo:
            for i, text in zip(todo, compute([prompts[i] for i in todo]), strict=True):
                out[i] = text
            self.cache.put_many({keys[i]: out[i] for i in todo})
        log.info("itbench: %d base answers from the reference cache, %d computed", len(keys) - len(todo), len(todo))
        return out

    def _token_shift(self, chunk) -> list[str]:
        until, max_tokens = self._settings(chunk[0])
        prompts = self._tuned_prompts(chunk)
        generated = self._generate("tuned", prompts, until, max_tokens)
        base_prompts = [r.doc.get("itbench_base_prompt") or p for r, p in zip(chunk, prompts, strict=True)]
        responses = [ids for _, ids in generated]
        if self.scoring == "vllm":
            stats = self._vllm_token_shift(prompts, base_prompts, responses)
        else:
            stats = token_shift(self.model("tuned"), self.model("base"), self.tok, prompts, base_prompts, responses,
                                self.batch_size)
        return [make_payload(tuned=text, shift=s) for (text, _), s in zip(generated, stats, strict=True)]

    def _vllm_token_shift(self, prompts: list[str], base_prompts: list[str], responses: list[list[int]]) -> list[dict]:
        """token shift from vLLM's prompt_logprobs (rank and base probability exact, KL as kl_topk):
        the generating backend's engines are stopped first (one engine holds its RAM share at a
        time), and an adapter is merged into a cached copy of its base (LoRA with prompt_logprobs
        crashes vLLM on CPU)."""
        from itbench.models import vllm_scoring
        from itbench.models.tokens import encode_prompt

        self._close_generator()
        tuned = vllm_scoring.merged(self.base_name, self.lora, paths.merged_cache()) if self.lora else self.tuned_name
        args = {**({"dtype": self.dtype} if self.dtype else {}), **self.engine_args}
        stats = vllm_scoring.score(self.base_name, str(tuned), [encode_prompt(self.tok, p) for p in base_prompts],
                                   [encode_prompt(self.tok, p) for p in prompts], responses, k=self.scoring_topk,
                                   **args)
        return [{**s, "tokens": self.tok.convert_ids_to_tokens(list(r))} for s, r in zip(stats, responses, strict=True)]

    def loglikelihood(self, requests):
        raise ItbenchError("--model itbench answers generation tasks (all itbench_* tasks); for loglikelihood "
                           "tasks use lm-eval's own --model hf or vllm")

    def loglikelihood_rolling(self, requests):
        self.loglikelihood(requests)


AUTO_BATCH = 64  # batch_size=auto: the Gemma study's generation batch (itbench.study.StudyConfig)


def _batch_size(value) -> int:
    """lm-eval's batch_size argument: a whole number, or "auto" / "auto:N" (AUTO_BATCH)."""
    text = str(value).strip().lower()
    if text.isdigit() and int(text) >= 1:
        return int(text)
    if text.startswith("auto"):
        return AUTO_BATCH
    raise ItbenchError(f"batch_size must be a whole number of at least 1 or auto, not {value!r}")


def _cut_text(text: str, until: list[str], ids: list[int], tok) -> tuple[str, list[int]]:
    """Stop at the first stop string; the token ids are cut to the tokens that make the kept text."""
    cut = min((text.find(u) for u in until if u and u in text), default=-1)
    if cut < 0:
        return text.strip(), ids
    kept = text[:cut]
    n = len(ids)
    while n > 0 and len(tok.decode(ids[:n], skip_special_tokens=True)) > len(kept):
        n -= 1
    return kept.strip(), ids[:n]
