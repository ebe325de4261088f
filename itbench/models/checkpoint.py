"""Checkpoint folders: their manifests, and loading them with clear errors.

A checkpoint is an ordinary Hugging Face folder (a full model, or a peft adapter) plus
`itbench_manifest.json`, which records its recipe: method, data, size, seed, hyperparameters and
the fingerprint of the base it came from. Hub models and folders without a manifest load too;
the manifest only adds the checks.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from itbench.errors import ItbenchError
from itbench.utils import atomic, jsonfile

MANIFEST = "itbench_manifest.json"
MANIFEST_VERSION = 1
WEIGHT_FILES = ("model.safetensors", "adapter_model.safetensors")


def is_local(name_or_path: str | Path) -> bool:
    p = Path(name_or_path)
    return p.exists() or str(name_or_path).startswith((".", "/", "~"))


def is_adapter(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").exists()


def weights_fingerprint(path: str | Path) -> str:
    for name in WEIGHT_FILES:
        f = Path(path) / name
        if f.exists():
            st = f.stat()
            return _file_fingerprint(str(f.resolve()), st.st_size, st.st_mtime_ns)
    raise ItbenchError(f"{path} holds no weights ({' or '.join(WEIGHT_FILES)}): the checkpoint is incomplete; "
                       "rebuild it (`itbench zoo build`) or point at a complete folder")


@functools.lru_cache(maxsize=256)
def _file_fingerprint(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a weights file, once per process for an unchanged file: a compare run, the paired
    model and the gate all identify the same base, and a 7B model's weights take tens of seconds to
    hash. Size and modification time are in the key, so a rewritten file is hashed afresh."""
    return atomic.sha256_file(path)[:16]


def identity(name_or_path: str | Path) -> str:
    """A checkpoint's identity: its weights fingerprint when local, else a hash of its hub name."""
    if is_local(name_or_path):
        return weights_fingerprint(name_or_path)
    return atomic.sha256_json({"hub": str(name_or_path)})[:16]


def write_manifest(path: str | Path, manifest: dict) -> None:
    atomic.write_json(Path(path) / MANIFEST, {"manifest_version": MANIFEST_VERSION, **manifest})


def read_manifest(path: str | Path, required: bool = True) -> dict | None:
    f = Path(path) / MANIFEST
    if not f.exists():
        if required:
            raise ItbenchError(f"{path} has no {MANIFEST}: it is not an itbench checkpoint, or it was only half "
                               "written; rebuild it with `itbench zoo build` (or `itbench finetune`)")
        return None
    try:
        manifest = jsonfile.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ItbenchError(f"{f} is corrupt ({err}): delete {path} and rebuild it with `itbench zoo build`") from err
    if manifest.get("manifest_version") != MANIFEST_VERSION:
        raise ItbenchError(f"{f} is of manifest version {manifest.get('manifest_version')}, this itbench reads "
                           f"{MANIFEST_VERSION}: rebuild the checkpoint with this itbench")
    return manifest


def cached_manifest(path: str | Path, recipe_hash: str) -> dict | None:
    """The manifest of a checkpoint already built by the recipe with this hash, whole and loadable;
    None when there is none, it is of another recipe, or it is damaged (then it is rebuilt)."""
    try:
        manifest = read_manifest(path, required=False)
        if manifest and manifest.get("recipe_hash") == recipe_hash:
            check_folder(path)
            return manifest
    except ItbenchError:
        return None
    return None


def check_folder(path: str | Path) -> Path:
    """A local checkpoint folder that exists and holds a loadable model or adapter."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ItbenchError(f"checkpoint folder {p} does not exist: build the zoo with `itbench zoo build`, "
                           "or give the path of a saved model or peft adapter")
    if not p.is_dir():
        raise ItbenchError(f"{p} is a file, not a checkpoint folder")
    config = p / ("adapter_config.json" if is_adapter(p) else "config.json")
    if not config.exists():
        raise ItbenchError(f"{p} has neither config.json nor adapter_config.json: not a model or adapter folder")
    try:
        json.loads(config.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ItbenchError(f"{config} is corrupt ({err}): rebuild the checkpoint") from err
    weights_fingerprint(p)
    return p.resolve()


def check_adapter_base(adapter: str | Path, base: str | Path) -> None:
    """Refuse an adapter trained on another base, by manifest fingerprint where both have one,
    else by the base recorded in the adapter's config."""
    adapter, base_s = Path(adapter), str(base)
    if is_local(base_s):
        check_adapter_shapes(adapter, Path(base_s))
    a_manifest = read_manifest(adapter, required=False)
    if is_local(base_s) and a_manifest:
        b_manifest = read_manifest(base_s, required=False)
        want = a_manifest.get("base", {}).get("fingerprint")
        have = weights_fingerprint(base_s)
        if want and want != have:
            origin = a_manifest["base"].get("path", "?")
            raise ItbenchError(
                f"adapter {adapter} was trained on a base with weights {want} (from {origin}), but {base_s} has "
                f"weights {have}{' (' + b_manifest['name'] + ')' if b_manifest else ''}: pass the adapter's own base")
        return
    recorded = json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if recorded and not is_local(base_s) and recorded != base_s and not is_local(recorded):
        raise ItbenchError(f"adapter {adapter} was trained on {recorded}, not {base_s}: pass the adapter's own base")


def _shapes(files: list[Path]) -> dict[str, list[int]]:
    """Tensor name -> shape, read from safetensors headers (no weights loaded)."""
    from safetensors import safe_open

    shapes = {}
    for f in files:
        try:
            with safe_open(str(f), "pt") as h:
                shapes.update({k: list(h.get_slice(k).get_shape()) for k in h.keys()})
        except Exception as e:  # a truncated or foreign file: safetensors' own error type varies
            raise ItbenchError(f"{f} is not a readable safetensors file ({e}); re-save or re-download it") from None
    return shapes


def check_adapter_shapes(adapter: Path, base: Path) -> None:
    """Refuse a LoRA adapter whose matrices do not fit the base: every adapted layer must exist in
    the base with the adapter's input (lora_A) and output (lora_B) sizes, and a tokenizer saved
    with the adapter must be the base's. Works without any itbench manifest (an adapter from
    elsewhere); a base or adapter not saved as safetensors is not checked here."""
    import re

    a_file, b_files = adapter / "adapter_model.safetensors", sorted(base.glob("*.safetensors"))
    if not a_file.is_file() or not b_files:
        return
    have = _shapes(b_files)
    for name, shape in _shapes([a_file]).items():
        m = re.fullmatch(r"base_model\.model\.(.+)\.lora_([AB])(?:\.[^.]+)?\.weight", name)
        if not m or len(shape) != 2:
            continue
        layer, side = m.group(1), m.group(2)
        want = have.get(layer + ".weight") or have.get(layer.removeprefix("model.") + ".weight")
        if want is None:
            raise ItbenchError(f"adapter {adapter} adapts {layer}, which {base} does not have: it was trained on "
                               "another architecture; pass the adapter's own base")
        size, expected = (shape[1], want[-1]) if side == "A" else (shape[0], want[0])
        if size != expected:
            raise ItbenchError(f"adapter {adapter} does not fit {base}: {layer} is {want[0]}x{want[-1]} in the base "
                               f"but the adapter's lora_{side} has {size} where {expected} belongs; pass the "
                               "adapter's own base")
    if (adapter / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        from itbench.models.scorer import check_same_tokenizer

        try:
            own = AutoTokenizer.from_pretrained(str(adapter))
        except (OSError, ValueError) as err:
            raise ItbenchError(f"the tokenizer saved with adapter {adapter} cannot be read ({err}); remove it or "
                               "save the base's tokenizer there") from None
        check_same_tokenizer(load_tokenizer(base), own, str(base), str(adapter))


def _resolve(path_or_name: str | Path) -> tuple[str, str | None]:
    """(the folder or hub name holding the weights, the adapter folder when `path_or_name` is one)."""
    src = str(path_or_name)
    if is_local(src):
        src = str(check_folder(src))
        if is_adapter(src):
            return adapter_base(src), src
    return src, None


DTYPES = ("float32", "bfloat16", "float16")


def bf16_is_fast() -> bool:
    """Whether bfloat16 arithmetic runs natively here: a GPU that supports it, or a CPU with
    oneDNN's bfloat16 kernels (AVX512-BF16/AMX, or AVX512 where oneDNN emulates them). Elsewhere
    torch falls back to a scalar path: a 2048 x 2048 matmul took 59.8 s in bfloat16 against 0.11 s
    in float32 on a 2-core AVX2 EPYC (2026-12-07), so a study there in bfloat16 never ends."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def auto_dtype() -> str:
    """The evaluation weights' dtype for "auto": bfloat16 where it is fast, else float32."""
    return "bfloat16" if bf16_is_fast() else "float32"


def auto_precision() -> str:
    """The training precision for "auto": bf16-mixed where bfloat16 is fast, else fp32."""
    return "bf16-mixed" if bf16_is_fast() else "fp32"


def load_model(path_or_name: str | Path, adapter: str | Path | None = None, dtype: str | None = None,
               device_map: str | None = None):
    """A model in eval mode: a full model, or a base with a peft adapter on top; in `dtype` (one of
    DTYPES) when given, else as saved; `device_map` ("auto") spreads a model larger than one
    device over every GPU (and the CPU) through accelerate."""
    from transformers import AutoModelForCausalLM

    src, own = _resolve(path_or_name)
    if own is not None:
        if adapter is not None:
            raise ItbenchError(f"{own} is itself an adapter: pass its base as the model and it as the adapter")
        adapter = own
    if dtype is not None and dtype not in DTYPES:
        raise ItbenchError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    try:
        model = AutoModelForCausalLM.from_pretrained(src, **({"dtype": dtype} if dtype else {}),
                                                     **({"device_map": device_map} if device_map else {}))
    except OSError as err:
        raise ItbenchError(f"cannot load {src} ({err}); hub models need network access or a local copy") from err
    if adapter is not None:
        from peft import PeftModel

        adapter = check_folder(adapter)
        check_adapter_base(adapter, src)
        try:
            model = PeftModel.from_pretrained(model, str(adapter))
        except (RuntimeError, ValueError, KeyError) as err:
            raise ItbenchError(f"adapter {adapter} does not fit base {src} ({str(err).splitlines()[0]}): "
                               "pass the adapter's own base") from err
    model.eval()
    contiguous_head_input(model)
    return model


def contiguous_head_input(model) -> None:
    """Hand the LM head a contiguous input. transformers slices the last hidden state
    (`logits_to_keep`), a non-contiguous view, and torch's linear on such a 3-D input with a weight
    that does not require grad (a frozen base under a LoRA adapter, or merged from one) expands the
    weight into a batched copy: at Gemma's 262k vocabulary 12 s and 5 GB per call at batch 16
    instead of 0.02 s (measured with torch 2.13 on this CPU; a study at batch 64 ran out of 24 GB).
    A copy of the few kept positions costs nothing."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None and not getattr(head, "_itbench_contiguous", False):
        head.register_forward_pre_hook(lambda module, args: tuple(a.contiguous() if hasattr(a, "contiguous") else a
                                                                  for a in args))
        head._itbench_contiguous = True


def load_tokenizer(path_or_name: str | Path):
    """The tokenizer of a model (of an adapter: its base's, which it shares)."""
    from transformers import AutoTokenizer

    src, _ = _resolve(path_or_name)
    try:
        return AutoTokenizer.from_pretrained(src)
    except OSError as err:
        raise ItbenchError(f"cannot load the tokenizer of {src} ({err}); hub models need network access or a "
                           "local copy") from err


def load(path_or_name: str | Path, adapter: str | Path | None = None):
    """(model, tokenizer): load_model and load_tokenizer of the same checkpoint."""
    return load_model(path_or_name, adapter), load_tokenizer(path_or_name)


def adapter_base(adapter: str | Path) -> str:
    """The base an adapter names: the manifest's path when present, else adapter_config's."""
    manifest = read_manifest(adapter, required=False)
    if manifest and manifest.get("base", {}).get("path"):
        return manifest["base"]["path"]
    return json.loads((Path(adapter) / "adapter_config.json").read_text())["base_model_name_or_path"]
