"""The comparisons report: a row per checkpoint and seed, then the findings over seeds."""

from __future__ import annotations

import json

from itbench import compare
from tests.fake_results import K, good_metrics, write_run


def test_report_has_every_checkpoint_and_the_seed_findings(tmp_path):
    results = {}
    for method, ret in (("lora", 0.97), ("full", 0.6)):
        for k in range(3):
            name = f"{method}-short-4x" + (f"-seed{k}" if k else "")
            m = good_metrics()
            m[K]["retention"] = (ret + 0.01 * k, 0.01)
            for key in ("knowledge_gained",):
                m[K][key] = (0.1, 0.01)
            path = write_run(tmp_path / name, tuned=name, tuned_id=f"{method}{k}".ljust(16, "0"), method=method,
                             metrics=m, replicate={"group": f"{method}-short-4x", "seed": k})
            results[name] = json.loads(path.read_text())
    report = compare.report(results, tmp_path)
    rows = [line for line in report.splitlines() if line.startswith("| full-short-4x-seed2 |")]
    assert len(rows) == 2  # the knowledge/shift table and the hallucination table
    finding = next(line for line in report.splitlines() if "expressed retention" in line)
    assert "lora-short-4x vs full-short-4x | 3 | +0.370" in finding and finding.endswith("| yes |")
