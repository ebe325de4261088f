"""The release gate: judge a tuned checkpoint against its base under a policy of thresholds, and
exit 0 (pass), 1 (fail) or 2 (cannot judge). Policies in `policy`, the judgement in `judge`,
reports in `report`, running it (with or without a fresh evaluation) in `run`."""

from itbench.gate.judge import FAIL, PASS, Report, Verdict, judge
from itbench.gate.policy import Check, Policy, load_policy, policy_path
from itbench.gate.report import junit, markdown, table
from itbench.gate.run import run_gate

__all__ = ["FAIL", "PASS", "Check", "Policy", "Report", "Verdict", "judge", "junit", "load_policy", "markdown",
           "policy_path", "run_gate", "table"]
