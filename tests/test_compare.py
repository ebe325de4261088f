"""The comparison tables: pairing of checkpoints and the 95%-interval verdicts."""

from __future__ import annotations

from itbench import compare


def _result(**metrics) -> dict:
    results = {task: {} for task in compare.TASKS}
    for key, (value, se) in metrics.items():
        task = next(t for t in compare.TASKS if key.startswith(t.removeprefix("itbench_").split("_")[0]))
        name = key.split(":", 1)[1]
        results[task][f"{name},none"] = value
        results[task][f"{name}_stderr,none"] = se
    return {"results": results}


def test_diff_verdicts():
    assert compare.diff((0.8, 0.01), (0.5, 0.01)).endswith("-> yes")
    assert compare.diff((0.5, 0.01), (0.8, 0.01)).endswith("-> no (reversed)")
    assert compare.diff((0.51, 0.1), (0.5, 0.1)).endswith("-> not significant")


def test_retention_comparison_pairs_lora_with_full_of_the_same_size():
    lora = _result(**{"knowledge:retention": (0.9, 0.02), "token:mean_kl": (1.0, 0.1),
                      "token:shifted_style_share": (0.8, 0.02), "token:kl_sentence_start": (2.0, 0.1),
                      "token:kl_sentence_rest": (0.5, 0.1), "token:kl_response_start": (2.0, 0.1),
                      "token:kl_response_rest": (0.5, 0.1)})
    full = _result(**{"knowledge:retention": (0.5, 0.02), "token:mean_kl": (3.0, 0.1)})
    table = compare.paper_comparisons({"lora-short-4x": lora, "full-short-4x": full, "lora-short-1x": lora})
    rows = [r for r in table.split("\n") if "forgets more" in r]
    assert len(rows) == 1 and "lora-short-4x vs full-short-4x" in rows[0] and rows[0].endswith("-> yes |")
    assert "lora-short-1x" not in table  # no full-short-1x to pair with
