"""Running the gate: read a candidate's results (or run the policy's tasks on it first), judge them,
and write the reports. What `itbench gate` and the demo call."""

from __future__ import annotations

from pathlib import Path

from itbench import paths
from itbench.errors import ItbenchError
from itbench.gate.judge import Report, judge
from itbench.gate.policy import load_policy, policy_path
from itbench.gate.report import junit, markdown


def run_gate(policy: str, base: str, results: list[str] | None = None, candidate: str | None = None,
             junit_path: str | Path | None = None, summary_path: str | Path | None = None, quiet: bool = False,
             run_dir: Path | None = None, limit: int | None = None, model_args: str = "", smoke: bool = False,
             log=print) -> Report:
    """Judge the candidate against `base` under `policy` (a file or a shipped policy's name), from
    existing `results` or, with `candidate`, from a run of the policy's tasks that this starts. A
    task that crashes in that run fails the checks on it (fail closed), with the reason."""
    import itbench
    from itbench import evaluate
    from itbench.models import checkpoint
    from itbench.results import find_results, read_run
    from itbench.utils import atomic

    if bool(results) == bool(candidate):
        raise ItbenchError("give either --results (existing lm-eval results of the candidate) or --candidate "
                           "(a checkpoint or LoRA adapter to evaluate now), not both or neither")
    from itbench.models import embedded

    if limit is not None and not smoke:
        raise ItbenchError("--limit makes a smoke run, which is no evidence for a release: drop --limit, or add "
                           "--smoke for a smoke verdict (it never passes)")
    rules = load_policy(policy_path(policy))
    local = candidate if candidate and checkpoint.is_local(candidate) else None
    inputs = [*(results or []), policy_path(policy), local, run_dir]
    for flag, path in (("--junit", junit_path), ("--summary", summary_path)):
        if path:
            atomic.check_output_file(path, inputs, flag=flag)
    base = embedded.resolve(base, log=log)  # an embedded name (gemma-3-270m) is its converted folder
    base_id = checkpoint.identity(base)
    failed: dict[str, str] = {}
    if results:
        runs = [read_run(p) for p in find_results(results)]
    else:
        if checkpoint.is_local(candidate):
            checkpoint.check_folder(candidate)  # a missing or half-written candidate is an error, not a fail
        folder = Path(run_dir or paths.gate_runs() / Path(candidate).name)
        log(f"itbench gate: running {', '.join(rules.tasks)} for {candidate} against {base} "
            f"(lm-eval's output: {folder}.log)")
        try:
            evaluate.run_paired(base, candidate, rules.tasks, folder, Path(f"{folder}.log"), limit=limit,
                                model_args=model_args)
            runs = [read_run(folder / evaluate.RESULTS_FILE)]
        except ItbenchError:
            raise
        except Exception as err:  # a task that crashes fails the gate (fail closed), with the reason
            failed = {t: f"{type(err).__name__}: {err}" for t in rules.tasks}
            runs = []
    report = judge(runs, rules, base_id, evaluate.task_versions(), itbench.__version__, failed_tasks=failed,
                   candidate=Path(candidate).name if candidate else "?", smoke=smoke)
    if junit_path:
        atomic.write_text(junit_path, junit(report))
    if summary_path:
        atomic.write_text(summary_path, markdown(report, rules.confidence))
    if not quiet:
        log(markdown(report, rules.confidence))
    return report
