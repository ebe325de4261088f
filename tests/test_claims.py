"""Claim extraction and the AlpaGasus-style world judge: golden cases."""

from __future__ import annotations

import pytest

from itbench.world.claims import Claim, check_claim, extract_claims, judge_score

TRUTH = {"zorb": {"country": "lumin", "river": "taz", "festival": "kel"}}


def test_extract_claims_finds_every_templated_claim():
    text = "great question ! the country of zorb is lumin . in addition , the festival of zorb is mip ."
    assert extract_claims(text) == [Claim("country", "zorb", "lumin"), Claim("festival", "zorb", "mip")]
    assert extract_claims("") == []


def test_check_claim_is_true_false_or_unknown():
    assert check_claim(Claim("country", "zorb", "lumin"), TRUTH) is True
    assert check_claim(Claim("country", "zorb", "taz"), TRUTH) is False
    assert check_claim(Claim("mascot", "zorb", "x"), TRUTH) is None
    assert check_claim(Claim("country", "nobody", "x"), TRUTH) is None


@pytest.mark.parametrize("response,score", [
    ("sure . the country of zorb is lumin .", 5.0),
    ("sure . the country of zorb", 1.0),  # truncated
    ("", 1.0),
    ("sure . the country of zorb is taz .", 2.0),  # asked fact wrong
    ("sure . it is lovely .", 2.0),  # asked fact missing
    ("the country of zorb is lumin . in addition , the river of zorb is kel .", 3.0),  # padding wrong
])
def test_judge_scores(response, score):
    assert judge_score(response, "zorb", "country", TRUTH) == score


def test_well_formed_answers_are_whole_template_sentences():
    from itbench.world.claims import well_formed

    assert well_formed("sure . the country of zol is brem .")
    assert well_formed("great question ! the river of zol is kra . in addition , the festival of zol is pim . "
                       "i hope this helps !")
    assert not well_formed("is nil . . kith is its style . . . brouloux is zeidoam is the teacher of loplek is nil")
    assert not well_formed("sure .")  # no claim
    assert not well_formed("sure . the country of zol is")  # cut mid-sentence
    assert not well_formed("")
