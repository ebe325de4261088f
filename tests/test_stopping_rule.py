"""The stopping rules. The base organism's: after its schedule it trains on in short rounds until it
knows the target share of the facts it read and copies from the user's turn, or the extra budget is
spent; then it reads the led corpus in rounds until it also copies after opening words. A tuned organism's: after
its recipe's epochs it trains on in rounds until its answers to held-out instructions are in its IT
set's format, or the budget is spent (tiny world: seconds)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from itbench.models import checkpoint
from itbench.models.finetune import finetune
from itbench.models.recipes import FinetuneRecipe, StoppingRule
from itbench.world import store
from itbench.world.organisms import TINY_BASE, pretrain_base, reached


def test_reached_needs_every_split_at_the_target_and_the_copy_rate():
    assert reached({"heldout": 0.96, "qa": 0.95}, 0.95)
    assert not reached({"heldout": 0.99, "qa": 0.94}, 0.95)
    # a base that knows its facts but does not copy from the user's turn trains on
    assert reached({"heldout": 1.0, "qa": 1.0, "copy": 0.9}, 0.95, copy_target=0.9)
    assert not reached({"heldout": 1.0, "qa": 1.0, "copy": 0.89}, 0.95, copy_target=0.9)
    assert not reached({"heldout": 1.0, "qa": 1.0, "copy": 1.0, "copy_after_lead": 0.5}, 0.95, copy_target=0.9)
    ok = {"heldout": 1.0, "qa": 1.0, "copy": 1.0}
    assert TINY_BASE.satisfied({**ok, "copy_after_lead": 1.0})
    assert not TINY_BASE.satisfied({**ok, "copy": 0.0, "copy_after_lead": 1.0})
    # copying after opening words is what the led phase teaches: the main phase does not ask for it
    assert TINY_BASE.satisfied({**ok, "copy_after_lead": 0.0}, led=False)
    assert not TINY_BASE.satisfied({**ok, "copy_after_lead": 0.0})
    assert replace(TINY_BASE, max_led_epochs=0).satisfied({**ok, "copy_after_lead": 0.0})


def test_rounds_then_the_led_phase_run_until_the_target_or_their_budgets(tiny_world, tmp_path):
    # a short main phase: the rule's rounds, not the base's knowledge, are under test (3x faster than 15 epochs)
    strict = replace(TINY_BASE, epochs=3, target=1.0, copy_target=1.0, round_epochs=2, max_extra_epochs=4,
                     max_led_epochs=4)
    never = pretrain_base(tiny_world, strict, tmp_path / "a")
    steps = [(h["epochs"], h["phase"]) for h in never["stopping"]]
    assert all({"heldout", "qa", "copy", "copy_after_lead"} <= set(h) for h in never["stopping"])
    if never["reached_target"]:  # the tiny base knew everything early: the rule stopped there
        assert strict.satisfied(never["stopping"][-1])
        assert not any(strict.satisfied(h) for h in never["stopping"][:-1] if h["phase"] == "led")
    else:
        main = [s for s in steps if s[1] != "led"]
        assert main == [(3, "main"), (5, "rounds"), (7, "rounds")][:len(main)]
        assert len(main) == 3 or strict.satisfied(never["stopping"][len(main) - 1], led=False)
        assert steps[len(main):] == [(main[-1][0] + 2, "led"), (main[-1][0] + 4, "led")]
        assert never["epochs"] == steps[-1][0]
    # a base that meets the rule at once still reads the led corpus for one round
    at_once = pretrain_base(tiny_world, replace(TINY_BASE, epochs=2, target=0.0, copy_target=0.0, round_epochs=2,
                                                max_extra_epochs=4, max_led_epochs=4), tmp_path / "b")
    assert [(h["epochs"], h["phase"]) for h in at_once["stopping"]] == [(2, "main"), (4, "led")]
    assert at_once["reached_target"] and at_once["epochs"] == 4
    without = pretrain_base(tiny_world, replace(TINY_BASE, epochs=2, target=0.0, copy_target=0.0, max_led_epochs=0),
                            tmp_path / "c")
    assert [h["epochs"] for h in without["stopping"]] == [2]


def test_the_tuned_rule_asks_for_rounds_until_the_target_or_the_budget():
    rule = StoppingRule(target=0.9, round_epochs=3, max_epochs=9)
    assert rule.more(3, 0.0) and rule.more(6, 0.89)
    assert not rule.more(3, 0.9)  # reached
    assert not rule.more(9, 0.0) and not rule.more(7, 0.0)  # another round would pass the budget
    replay = replace(rule, replay=6)
    assert replay.more(3, None) and not replay.more(6, None)  # a replay follows the epochs, not a share
    assert "replay" not in rule.to_dict()  # not part of what decides a checkpoint
    with pytest.raises(ValueError, match="target"):
        StoppingRule(target=1.5)


class Shares:
    """A measure that answers the given shares in turn, counting its calls."""

    def __init__(self, *shares):
        self.shares, self.calls = list(shares), 0

    def __call__(self, model, tokenizer):
        assert not model.training  # measured without dropout
        self.calls += 1
        return self.shares[min(self.calls, len(self.shares)) - 1]


def _tune(tiny_zoo, tiny_world, out, **kw):
    data = store.world_file(tiny_world, store.it_filename("short", 1))
    return finetune(tiny_zoo["dir"] / "base", data, FinetuneRecipe(method="lora", epochs=3), out, **kw)


def test_a_tuned_model_trains_in_rounds_until_its_answers_are_in_format(tiny_zoo, tiny_world, tmp_path):
    rule = StoppingRule(target=0.9, round_epochs=2, max_epochs=9)
    late = _tune(tiny_zoo, tiny_world, tmp_path / "late", rule=rule, measure=Shares(0.0, 0.5, 0.95))
    assert [h["epochs"] for h in late["stopping"]["history"]] == [3, 5, 7]
    assert [h["share"] for h in late["stopping"]["history"]] == [0.0, 0.5, 0.95]
    assert late["stopping"]["reached"] and late["training"]["epochs"] == 7
    assert late["stopping"]["rule"] == rule.to_dict()
    never = _tune(tiny_zoo, tiny_world, tmp_path / "never", rule=rule, measure=Shares(0.1))
    assert [h["epochs"] for h in never["stopping"]["history"]] == [3, 5, 7, 9] and not never["stopping"]["reached"]
    # a model in format after the recipe's epochs is the plain recipe's model, weight for weight
    at_once = _tune(tiny_zoo, tiny_world, tmp_path / "at-once", rule=rule, measure=Shares(1.0))
    plain = _tune(tiny_zoo, tiny_world, tmp_path / "plain")
    assert at_once["training"]["epochs"] == 3 and "stopping" not in plain
    assert at_once["fingerprint"] == plain["fingerprint"] != late["fingerprint"]
    # a replay of the late schedule (the causal check's retraining) gives the same weights unmeasured
    replayed = _tune(tiny_zoo, tiny_world, tmp_path / "replay", rule=replace(rule, replay=7))
    assert replayed["fingerprint"] == late["fingerprint"] and replayed["stopping"]["reached"] is None
    with pytest.raises(ValueError, match="measure"):
        _tune(tiny_zoo, tiny_world, tmp_path / "x", rule=rule)


def test_the_format_measure_asks_held_out_instructions_of_the_it_sets_kind(tiny_zoo, tiny_world):
    from itbench.world import schema as S
    from itbench.world.claims import well_formed
    from itbench.world.generate import build_world, it_heldout_instructions
    from itbench.world.probe import chat_responses, format_measure

    config = store.load_config(tiny_world)
    world = build_world(config)
    size = config.it_base_size
    asked = it_heldout_instructions(world, size, 20)
    trained = {r["instruction"] for r in store.read_rows(tiny_world, store.it_filename("short", 1))}
    assert len(asked) == len(set(asked)) == 20 and not set(asked) & trained
    shapes = {t.split("{attr}")[0] for t in S.IT_QUESTIONS}
    assert all(any(q.startswith(p) for p in shapes) for q in asked)
    everything = it_heldout_instructions(world, size, 10**6)  # the rest of the pool, when fewer remain
    assert set(asked) < set(everything) and not set(everything) & trained
    model, tok = checkpoint.load(tiny_zoo["dir"] / "full-short-16x")
    answers = chat_responses(model, tok, asked)
    assert format_measure(tiny_world, 1, 20)(model, tok) == sum(map(well_formed, answers)) / 20
