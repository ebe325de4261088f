"""itbench's lm-eval tasks: one folder per failure mode. `tasks_path()` is what
`lm_eval --include_path` takes."""

from pathlib import Path


def tasks_path() -> str:
    return str(Path(__file__).resolve().parent)
