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


def test_an_answer_is_on_topic_when_its_first_claim_is_about_the_asked_entity_and_attribute():
    from itbench.world.claims import on_topic

    probe = ("zol", "river")
    assert on_topic("great question ! the river of zol is kra . in addition , the country of pumou is x .", *probe)
    assert on_topic("sure . the river of zol is wrongvalue .", *probe)  # a wrong value is still on topic
    # an answer about an entity of the IT set instead of the asked one, or about another attribute
    assert not on_topic("great question ! the river of pumou is kra . in addition , the river of zol is kra .", *probe)
    assert not on_topic("sure . the country of zol is brem .", *probe)
    assert not on_topic("the river of zol .", *probe)  # no claim


def test_findings_agree_keeps_a_verdict_only_where_every_run_gives_it(tmp_path, capsys):
    """Two runs of one study (another machine, another thread count): a verdict both give stays;
    one they disagree on becomes "differs across runs", with each run's estimate and verdict kept;
    a finding one run lacks is left out; the README table then shows each run's verdict."""
    import json

    from itbench import cli, findings

    def finding(question, estimate, low, high, verdict):
        return {"number": 1, "finding": question, "checkpoints": ["lora-short-4x"], "estimate": estimate,
                "low": low, "high": high, "verdict": verdict, "seeds": 3}

    a = [finding("style share", 0.3, 0.1, 0.5, "yes"), finding("KL start", 2.0, 0.5, 3.5, "yes"),
         finding("only in a", 0.1, -0.1, 0.3, "not significant")]
    b = [finding("style share", 0.2, 0.05, 0.35, "yes"), finding("KL start", 1.0, -0.5, 2.5, "not significant")]
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    out = tmp_path / "agreed.json"
    assert cli.main(["findings", str(tmp_path / "a.json"), "--agree", str(tmp_path / "b.json"), "--labels", "m1",
                     "m2", "--out", str(out)]) == 0
    assert "2 findings in all 2 runs, 1 with one verdict in every run, 1 differing" in capsys.readouterr().out
    got = findings.read(out)
    assert [(f["finding"], f["verdict"]) for f in got] == [("style share", "yes"), ("KL start", findings.DIFFERS)]
    assert got[1]["runs"] == [{"label": "m1", "estimate": 2.0, "low": 0.5, "high": 3.5, "verdict": "yes"},
                              {"label": "m2", "estimate": 1.0, "low": -0.5, "high": 2.5,
                               "verdict": "not significant"}]
    table = findings.render_markdown(got)
    assert "| each run (m1 / m2) |" in table and "+2.000 yes / +1.000 n.s." in table
    # the output never replaces an input
    assert cli.main(["findings", str(tmp_path / "a.json"), "--agree", str(tmp_path / "b.json"), "--out",
                     str(tmp_path / "b.json")]) == 2
    assert json.loads((tmp_path / "b.json").read_text()) == b
