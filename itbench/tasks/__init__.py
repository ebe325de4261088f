"""itbench's lm-eval tasks: one folder per failure mode. `tasks_path()` is what
`lm_eval --include_path` takes."""

from itbench import paths


def tasks_path() -> str:
    return str(paths.tasks())


def task_manager(metadata: dict | None = None):
    """An lm-eval TaskManager that indexes itbench's tasks only: indexing lm-eval's own thousands of
    task YAMLs costs 9-15 s on two cores, more than a tiny paired run itself."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=tasks_path(), include_defaults=False, metadata=metadata)
