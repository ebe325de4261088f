"""`--model itbench`: a base and a tuned checkpoint as one lm-eval model, so a paired comparison is
one run.

    lm_eval --model itbench --model_args base=PATH_OR_HUB_ID,lora=ADAPTER ...
    lm_eval --model itbench --model_args base=PATH_OR_HUB_ID,tuned=PATH_OR_HUB_ID,backend=vllm ...

What it returns for an itbench task's request depends on the document (`itbench_mode`):
  - knowledge (both models answer): the tuned model answers through its chat template, the base
    answers the document's base prompt (completion or few-shot form); the response is a JSON
    payload with both answers and the tuned checkpoint's IT set when its manifest names one.
  - token_shift: the tuned model answers greedily, then both models are teacher-forced over the
    response (itbench.models.scorer); the payload carries per-position ranks, probabilities, KL.
Any other task's request is answered by the tuned model alone.

Base answers are cached per base model (content-addressed by prompt and decoding settings) under
$ITBENCH_HOME/reference, so a sweep over many checkpoints of one base runs the base once.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from itbench.errors import ItbenchError
from itbench.models import checkpoint
from itbench.models.scorer import check_same_tokenizer, token_shift
from itbench.models.train import render_prompt
from itbench.utils import atomic

log = logging.getLogger(__name__)
PAYLOAD_KEY = "itbench_paired"


def _home() -> Path:
    from itbench.cli import home

    return home()


class ReferenceCache:
    """Base-model answers keyed by sha256(base identity, prompt, settings); saved atomically after
    every batch so a crash later in a run loses nothing already computed."""

    def __init__(self, folder: Path | None, base_key: str):
        self.path = folder / f"{base_key}.json" if folder else None
        self.data: dict[str, str] = {}
        if self.path and self.path.exists():
            try:
                self.data = json.loads(self.path.read_text())
            except json.JSONDecodeError:
                log.warning("reference cache %s is damaged; starting it afresh", self.path)
        self.hits = 0

    @staticmethod
    def key(prompt: str, settings: dict) -> str:
        return atomic.sha256_json({"prompt": prompt, **settings})

    def get(self, key: str) -> str | None:
        if key in self.data:
            self.hits += 1
        return self.data.get(key)

    def put_many(self, items: dict[str, str]) -> None:
        self.data.update(items)
        if self.path:
            atomic.write_json(self.path, self.data)


@register_model("itbench")
class PairedLM(LM):
    def __init__(self, base: str, tuned: str | None = None, lora: str | None = None, backend: str = "hf",
                 batch_size: int | str = 8, max_gen_toks: int = 256, device: str | None = None,
                 reference_cache: str | None = None, max_batch_size: int | None = None, **engine_args):
        """`engine_args` (e.g. tensor_parallel_size) pass to vLLM's engine unchanged. lm-eval's CLI
        sends device=cuda by default: without a GPU the model runs on the CPU."""
        import torch

        super().__init__()
        if device is None or (str(device).startswith("cuda") and not torch.cuda.is_available()):
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if (tuned is None) == (lora is None):
            raise ItbenchError("--model itbench needs the base and exactly one of tuned=PATH (a full model) or "
                               "lora=ADAPTER, e.g. --model_args base=zoo/base,lora=zoo/lora-short-4x")
        if backend not in ("hf", "vllm"):
            raise ItbenchError(f"backend must be hf or vllm, not {backend!r}")
        self.base_name, self.tuned_name, self.lora = str(base), str(tuned or lora), lora
        self.batch_size = int(batch_size) if str(batch_size).isdigit() else 8
        self.max_gen_toks = int(max_gen_toks)
        self.backend = backend
        self.engine_args = engine_args
        self.base, self.tok = checkpoint.load(base)
        self.base.to(device)
        if lora is not None:
            self.tuned, tuned_tok = checkpoint.load(base, adapter=lora)
        else:
            self.tuned, tuned_tok = checkpoint.load(tuned)
        self.tuned.to(device)
        check_same_tokenizer(self.tok, tuned_tok, self.base_name, self.tuned_name)
        self.tuned_tok = tuned_tok
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token
            self.tuned_tok.pad_token = self.tuned_tok.eos_token
        self._check_tuning_changed_outputs()
        # The IT set a zoo or `itbench finetune` checkpoint was tuned on, for the tasks that
        # compare responses with it (pattern copy, borrowed tokens); tasks can also name one.
        manifest = checkpoint.read_manifest(lora or tuned, required=False) if checkpoint.is_local(lora or tuned) \
            else None
        self.manifest = manifest or {}
        self.tuned_it_set = self.manifest.get("data", {}).get("source")
        self.base_key = _identity(base)
        folder = None if reference_cache == "none" else Path(reference_cache or _home() / "reference")
        self.cache = ReferenceCache(folder, self.base_key)
        self._vllm = None

    def _check_tuning_changed_outputs(self) -> None:
        """lm-eval #2432: LoRA runs that score exactly like the base. Refuse a pair whose tuned
        model computes the same logits as the base."""
        import torch

        ids = torch.tensor([self.tok(render_prompt(self.tok, "hello"), add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            diff = (self.tuned(input_ids=ids.to(self.tuned.device)).logits
                    - self.base(input_ids=ids.to(self.base.device)).logits).abs().max().item()
        if diff < 1e-6:
            raise ItbenchError(f"{self.tuned_name} computes the same logits as its base {self.base_name}: the "
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
                      "fingerprint": _identity(self.lora or self.tuned_name),
                      "kind": "lora" if self.lora is not None else "full-weights"},
            "method": m.get("method") or ("lora" if self.lora is not None else "tuned"),
            "it_set": {**(m.get("it_set") or {}), "source": self.tuned_it_set,
                       "rows": (m.get("data") or {}).get("rows"),
                       "trained_rows": (m.get("data") or {}).get("trained_rows")},
            "backend": self.backend}}

    # --- generation -------------------------------------------------------------------------
    def _hf_generate(self, model, prompts: list[str], until: list[str], max_tokens: int) -> list[tuple[str, list]]:
        from itbench.models.generation import greedy

        out = []
        for row in greedy(model, self.tok, prompts, max_tokens, self.batch_size):
            ids = _cut_ids(row, self.tok.eos_token_id, self.tok.pad_token_id)
            out.append(_cut_text(self.tok.decode(ids, skip_special_tokens=True), until, ids, self.tok))
        return out

    def _vllm_generate(self, which: str, prompts: list[str], until: list[str], max_tokens: int):
        from vllm import SamplingParams

        from itbench.models import vllm_engine

        if self._vllm is None:
            self._vllm = {}
        if self.lora is not None or which == "base":
            key, model, adapter = "base", self.base_name, (self.lora if which == "tuned" else None)
        else:
            key, model, adapter = "tuned", self.tuned_name, None
        if key not in self._vllm:
            self._vllm[key] = vllm_engine.engine(model, enable_lora=self.lora is not None, **self.engine_args)
        llm = self._vllm[key]
        params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
        lora = vllm_engine.lora_request(adapter) if adapter else None
        outs = llm.generate(prompts, params, lora_request=lora, use_tqdm=False)
        result = []
        for o in outs:
            ids = _cut_ids(list(o.outputs[0].token_ids), self.tok.eos_token_id, None)
            result.append(_cut_text(self.tok.decode(ids, skip_special_tokens=True), until, ids, self.tok))
        return result

    def _generate(self, which: str, prompts: list[str], until: list[str], max_tokens: int):
        if not prompts:
            return []
        if self.backend == "vllm":
            return self._vllm_generate(which, prompts, until, max_tokens)
        return self._hf_generate(self.tuned if which == "tuned" else self.base, prompts, until, max_tokens)

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
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.doc or {}).get("itbench_mode", "plain"), []).append(i)
        for mode, idx in groups.items():
            chunk = [requests[i] for i in idx]
            handler = {"knowledge": self._knowledge, "token_shift": self._token_shift}.get(mode, self._plain)
            for i, text in zip(idx, handler(chunk), strict=True):
                results[i] = text
        return results

    def _settings(self, r) -> tuple[list[str], int]:
        kwargs = dict(r.args[1]) if len(r.args) > 1 else {}
        until = kwargs.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        return until, int(kwargs.get("max_gen_toks", self.max_gen_toks))

    def _tuned_prompts(self, chunk) -> list[str]:
        return [render_prompt(self.tuned_tok, r.args[0]) for r in chunk]

    def _plain(self, chunk) -> list[str]:
        until, max_tokens = self._settings(chunk[0])
        return [t for t, _ in self._generate("tuned", self._tuned_prompts(chunk), until, max_tokens)]

    def _knowledge(self, chunk) -> list[str]:
        until, max_tokens = self._settings(chunk[0])
        tuned = [t for t, _ in self._generate("tuned", self._tuned_prompts(chunk), until, max_tokens)]
        settings = {"max_tokens": max_tokens, "until": until, "base": self.base_name}
        base_prompts = [r.doc["itbench_base_prompt"] for r in chunk]
        keys = [self.cache.key(p, settings) for p in base_prompts]
        base = [self.cache.get(k) for k in keys]
        todo = [i for i, b in enumerate(base) if b is None]
        fresh = self._generate("base", [base_prompts[i] for i in todo], until, max_tokens)
        for i, (text, _) in zip(todo, fresh, strict=True):
            base[i] = text
        self.cache.put_many({keys[i]: base[i] for i in todo})
        log.info("itbench: %d base answers from the reference cache, %d computed", len(keys) - len(todo), len(todo))
        return [json.dumps({PAYLOAD_KEY: 1, "tuned": t, "base": b, "tuned_it_set": self.tuned_it_set})
                for t, b in zip(tuned, base, strict=True)]

    def _token_shift(self, chunk) -> list[str]:
        until, max_tokens = self._settings(chunk[0])
        prompts = self._tuned_prompts(chunk)
        generated = self._generate("tuned", prompts, until, max_tokens)
        base_prompts = [r.doc.get("itbench_base_prompt") or p for r, p in zip(chunk, prompts, strict=True)]
        responses = [ids for _, ids in generated]
        stats = token_shift(self.tuned, self.base, self.tok, prompts, base_prompts, responses, self.batch_size)
        return [json.dumps({PAYLOAD_KEY: 1, "tuned": text, "shift": s})
                for (text, _), s in zip(generated, stats, strict=True)]

    def loglikelihood(self, requests):
        raise ItbenchError("--model itbench answers generation tasks (all itbench_* tasks); for loglikelihood "
                           "tasks use lm-eval's own --model hf or vllm")

    def loglikelihood_rolling(self, requests):
        self.loglikelihood(requests)


def _identity(name_or_path: str) -> str:
    """A checkpoint's identity: its weights fingerprint when local, else a hash of its hub name."""
    if checkpoint.is_local(name_or_path):
        return checkpoint.weights_fingerprint(name_or_path)
    return atomic.sha256_json({"hub": str(name_or_path)})[:16]


def _cut_ids(ids: list[int], eos: int | None, pad: int | None) -> list[int]:
    out = []
    for t in ids:
        if t == eos or (pad is not None and t == pad):
            break
        out.append(t)
    return out


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


def parse_payload(response: str) -> dict | None:
    """The paired payload of a response, or None when an unpaired model answered."""
    try:
        data = json.loads(response)
    except (json.JSONDecodeError, TypeError):
        return None
    return data if isinstance(data, dict) and data.get(PAYLOAD_KEY) == 1 else None
