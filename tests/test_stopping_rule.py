"""The base organism's stopping rule: after its schedule it trains on in short rounds until it knows
the target share of the facts it read, or the extra budget is spent (tiny world: seconds)."""

from __future__ import annotations

from dataclasses import replace

from itbench.world.organisms import TINY_BASE, pretrain_base, reached


def test_reached_needs_every_split_at_the_target():
    assert reached({"heldout": 0.96, "qa": 0.95}, 0.95)
    assert not reached({"heldout": 0.99, "qa": 0.94}, 0.95)


def test_rounds_run_until_the_target_or_the_budget(tiny_world, tmp_path):
    never = pretrain_base(tiny_world, replace(TINY_BASE, target=1.0, round_epochs=2, max_extra_epochs=4),
                          tmp_path / "a")
    epochs = [h["epochs"] for h in never["stopping"]]
    if never["reached_target"]:  # the tiny base knew everything early: the rule stopped there
        assert reached(never["stopping"][-1], 1.0) and not any(reached(h, 1.0) for h in never["stopping"][:-1])
    else:
        assert epochs == [15, 17, 19] and never["epochs"] == 19
    at_once = pretrain_base(tiny_world, replace(TINY_BASE, target=0.0, round_epochs=2, max_extra_epochs=4),
                            tmp_path / "b")
    assert [h["epochs"] for h in at_once["stopping"]] == [15] and at_once["reached_target"]
