"""The causal check of borrowed tokens: its summary per recipe and its place among the findings."""

from __future__ import annotations

import json

import pytest

from itbench import causal, findings


def _checked(group: str, seed: int, pairs: list[tuple[bool, bool]]) -> dict:
    return {"checkpoint": f"{group}-seed{seed}", "group": group, "method": group.split("-")[0], "seed": seed,
            "cases": [{"entity": "e", "question": "q", "span": "v", "removed": 1, "traced_answer": None,
                       "control_answer": "v", "traced_gone": t, "control_gone": c} for t, c in pairs]}


def test_a_handful_of_identical_cases_is_not_certainty():
    checked = [_checked("lora-short-4x", k, [(True, True)]) for k in range(3)]  # one case per seed, no effect
    s = causal.summarize(checked)[0]
    assert s["effect"] == 0 and s["low"] < -0.5 and s["high"] > 0.5  # as wide as one case per seed allows


def test_summary_pools_cases_and_intervals_over_seeds():
    checked = [_checked("full-short-4x", 0, [(True, False)] * 4 + [(False, False)]),
               _checked("full-short-4x", 1, [(True, False)] * 3 + [(True, True)]),
               _checked("full-short-4x", 2, [(True, False)] * 5),
               _checked("lora-short-4x", 0, [])]
    summary = {s["group"]: s for s in causal.summarize(checked)}
    full = summary["full-short-4x"]
    assert full["cases"] == 14 and full["seeds"] == 3
    assert full["traced_gone"] == pytest.approx(13 / 14, abs=1e-4)
    assert full["control_gone"] == pytest.approx(1 / 14, abs=1e-4)
    assert full["effect"] == pytest.approx((0.8 + 0.75 + 1.0) / 3, abs=1e-4)
    assert full["low"] > 0 and full["verdict"] == "yes"
    lo, hi = full["traced_ci"]
    assert 0 <= lo < 13 / 14 < hi <= 1
    assert summary["lora-short-4x"]["cases"] == 0


def test_causal_summary_becomes_a_finding(tmp_path):
    checked = [_checked("full-short-4x", k, [(True, False), (False, False), (True, True)]) for k in range(2)]
    (tmp_path / causal.FILE).write_text(json.dumps({"checkpoints": checked, "summary": causal.summarize(checked)}))
    found = findings.causal_findings(tmp_path)
    assert len(found) == 1 and found[0]["number"] == 3 and found[0]["seeds"] == 2
    assert found[0]["estimate"] == pytest.approx(1 / 3, abs=1e-4)
    (tmp_path / causal.FILE).write_text("{")
    from itbench.errors import ItbenchError

    with pytest.raises(ItbenchError, match="causal"):
        findings.causal_findings(tmp_path)
