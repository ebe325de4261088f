"""The default base organism knows the facts it was trained on and nothing about unseen entities.

Trains the default world's base from scratch: the claim every later measurement rests on. It took
8 minutes on two cores of one machine and over 45 on a slower one of the same class (2026-12-07:
the epochs the stopping rule needs vary from machine to machine, 56-104 seen, up to 136), so it is
not in the default run, which CI must finish: run it with `pytest -m full_base` after changing the
world or BaseRecipe. Every `itbench demo` and `itbench zoo build` checks the same rule on the base
it trains and warns when the base missed it (`test_a_base_that_misses_its_rule_is_reported`).
"""

from __future__ import annotations

import pytest

from itbench.models.zoo import build_base
from itbench.world import store
from itbench.world.config import WorldConfig
from itbench.world.organisms import COPY_RATES, BaseRecipe


@pytest.mark.slow
@pytest.mark.full_base
def test_default_base_knows_its_facts_and_is_at_chance_on_unseen_entities(tmp_path):
    world = store.write_world(WorldConfig(), tmp_path / "world")
    manifest, built = build_base(world, tmp_path / "base", BaseRecipe(), progress=False)
    assert built
    acc = manifest["probe"]["completion"]
    trained = (acc["heldout"]["accuracy"] * acc["heldout"]["n"] + acc["qa"]["accuracy"] * acc["qa"]["n"]) / (
        acc["heldout"]["n"] + acc["qa"]["n"])
    assert trained >= 0.95, acc
    assert acc["heldout"]["accuracy"] >= 0.95 and acc["qa"]["accuracy"] >= 0.95, acc  # held-out: never seen as Q/A
    # the stopping rule ran and stopped at its target (95% of each split, and copying 90% of the claim
    # fragments asked in chat, at the reply's start and after opening words: what a tuned model needs
    # to answer about the entity it is asked about), ending with the led phase
    training, recipe = manifest["training"], BaseRecipe()
    assert training["reached_target"] and recipe.satisfied(training["stopping"][-1]), training
    assert training["stopping"][-1]["phase"] == "led", training
    assert min(training["stopping"][-1][r] for r in COPY_RATES) >= recipe.copy_target, training
    assert acc["unseen"]["accuracy"] <= manifest["probe"]["chance_unseen"] + 1e-9, manifest["probe"]


def test_a_base_that_misses_its_rule_is_reported(tiny_world, tmp_path):
    from dataclasses import replace

    from itbench.models.zoo import build_zoo
    from itbench.world.organisms import TINY_BASE

    said = []
    short = replace(TINY_BASE, epochs=1, max_extra_epochs=0, max_led_epochs=0)  # one epoch knows nothing
    results = build_zoo(tiny_world, tmp_path / "zoo", base_recipe=short, seeds=1, only=["base"], progress=False,
                        log=said.append)
    assert not results[0]["training"]["reached_target"]
    warning = [s for s in said if s.startswith("WARNING: the base missed its stopping rule after 1 epochs")]
    assert len(warning) == 1 and "--base-seed" in warning[0], said
