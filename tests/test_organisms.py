"""The default base organism knows the facts it was trained on and nothing about unseen entities.

Trains the default world's base from scratch (about eight minutes on two cores): the claim every
later measurement rests on.
"""

from __future__ import annotations

import pytest

from itbench.models.zoo import build_base
from itbench.world import store
from itbench.world.config import WorldConfig
from itbench.world.organisms import COPY_RATES, BaseRecipe


@pytest.mark.slow
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
