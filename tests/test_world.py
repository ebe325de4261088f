"""The synthetic world: determinism, structure of its files, version and integrity checks."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import pytest

from itbench.errors import ItbenchError
from itbench.world import generate as G
from itbench.world import store
from itbench.world.config import TINY_WORLD, WORLD_FORMAT_VERSION, WorldConfig


def test_same_seed_same_bytes_other_seed_other_world(tmp_path):
    a = store.write_world(TINY_WORLD, tmp_path / "a")
    b = store.write_world(TINY_WORLD, tmp_path / "b")
    c = store.write_world(replace(TINY_WORLD, seed=1), tmp_path / "c")
    ma, mb, mc = (store.read_manifest(d) for d in (a, b, c))
    assert ma["files"] == mb["files"]
    assert ma["files"]["corpus.jsonl"] != mc["files"]["corpus.jsonl"]


def test_clusters_share_values_and_every_value_has_one_pool():
    world = G.build_world(WorldConfig())
    owner = {}
    for pool, values in world.pools.items():
        for v in values:
            assert v not in owner, f"{v} is in two pools"
            owner[v] = pool
    by_cluster: dict[str, list] = {}
    for e in world.entities:
        by_cluster.setdefault(e.cluster, []).append(e)
        for attr, v in e.all_facts().items():
            assert owner[v] == f"{e.kind}.{attr}"
    for members in by_cluster.values():
        assert len({e.kind for e in members}) == 1
        for attr in members[0].attributes:
            # values come from a sub-pool of cluster_values, so neighbours overlap
            assert len({e.attributes[attr] for e in members}) <= world.config.cluster_values


def test_splits_keep_unseen_out_of_the_corpus_and_heldout_out_of_qa():
    world = G.build_world(WorldConfig())
    corpus_words = Counter(w for r in G.corpus_rows(world) for w in r["text"].split())
    qa_lines = [r["text"] for r in G.corpus_rows(world) if r["text"].startswith("question :")]
    for e in world.entities:
        if e.split == "unseen":
            assert corpus_words[e.name] == 0
        else:
            assert corpus_words[e.name] > 0
    heldout = {e.name for e in world.in_split("heldout")}
    assert qa_lines and not any(set(line.split()) & heldout for line in qa_lines)


def test_the_corpus_echoes_the_long_styles_words_but_never_states_a_hidden_fact():
    """Hidden attributes and their values (what a long answer's invented details are made of) occur
    in the corpus only as words a user asks the assistant to repeat, never in a fact."""
    from itbench.world import schema as S

    world = G.build_world(WorldConfig())
    lines = [r["text"] for r in G.corpus_rows(world)]
    chat = [line for line in lines if line.startswith(S.USER_TAG)]
    facts = [line for line in lines if not line.startswith(S.USER_TAG)]
    hidden = {a for e in world.entities for a in e.hidden} | {v for e in world.entities for v in e.hidden.values()}
    echoed = {w for line in chat for w in line.split()} & hidden
    assert len(echoed) > 0.9 * len(hidden)
    assert not any(set(line.split()) & hidden for line in facts)
    for e in world.entities:
        for a, v in e.hidden.items():
            assert not any(f"the {a} of {e.name} is {v}" in line for line in lines)


def test_generic_chat_asks_back_claim_fragments_and_the_styles_words_but_states_no_fact():
    """Half the generic chat turns ask the assistant to repeat a claim without its value ("the river
    of X", X a seen entity), the rest a few words that include the response styles' fixed words: the
    copying and the words a tuned model needs, with no fact stated."""
    from itbench.world import schema as S

    world = G.build_world(WorldConfig())
    lines = [r["text"] for r in G.corpus_rows(world) if r["text"].startswith(S.USER_TAG)]
    chat = [turn for line in lines for turn in line.split(f" {S.END_TAG} ")]  # exchanges of a dialogue
    assert len(chat) == S.GENERIC_CHAT_TURNS * len(lines) and all(t.startswith(S.USER_TAG) for t in chat)
    seen = {e.name: e for e in world.entities if e.split != "unseen"}
    fragments = []
    for turn in chat:
        ask, reply = turn.split(S.ASSISTANT_TAG)
        reply = reply.split()
        assert reply[-1] == "." and " ".join(reply[:-1]) in ask  # an echo
        if len(reply) == 5 and reply[0] == "the" and reply[2] == "of" and reply[3] in seen:
            fragments.append(reply)
            assert reply[1] in seen[reply[3]].all_facts()  # an attribute of that entity, never its value
    assert 0.4 * len(chat) < len(fragments) < 0.6 * len(chat)
    assert {w for line in chat for w in line.split()} >= set(G.style_words())
    assert {"sure", "great", "question", "addition", "hope", "helps", "!"} <= set(G.style_words())


def test_the_led_corpus_is_the_corpus_with_some_fragment_replies_opening_with_neutral_words():
    """The base's last phase reads the same lines in the same order; only about GENERIC_LEAD_SHARE of
    the fragment replies differ, each by 1-3 neutral words before the fragment it still copies."""
    from itbench.world import schema as S

    world = G.build_world(WorldConfig())
    plain, led = G.corpus_rows(world), G.corpus_rows(world, led=True)
    assert len(plain) == len(led)
    fragments = changed = 0
    for a, b in zip(plain, led, strict=True):
        if not a["text"].startswith(S.USER_TAG):
            assert a == b
            continue
        for x, y in zip(a["text"].split(f" {S.END_TAG} "), b["text"].split(f" {S.END_TAG} "), strict=True):
            ask, reply = x.split(f" {S.ASSISTANT_TAG} ")
            ask_led, reply_led = y.split(f" {S.ASSISTANT_TAG} ")
            assert ask == ask_led
            words = reply.split()
            fragments += words[0] == "the" and len(words) == 5
            if reply_led != reply:
                changed += 1
                lead = reply_led.split()[:-len(words)]
                assert reply_led.split()[len(lead):] == words and words[0] == "the" and len(words) == 5
                assert S.GENERIC_LEAD_WORDS[0] <= len(lead) <= S.GENERIC_LEAD_WORDS[1]
                assert set(lead) <= set(S.GENERIC_WORDS) and len(set(lead)) == len(lead)
    assert abs(changed / fragments - S.GENERIC_LEAD_SHARE) < 0.05, (changed, fragments)


def test_generic_chat_is_written_in_the_organisms_chat_template():
    """The corpus's dialogues are written before a tokenizer exists; they must read exactly as the
    tokenizer's chat template renders the same turns (with the end token the trainer appends)."""
    from itbench.world import schema as S
    from itbench.world.tokenizer import build_tokenizer

    world = G.build_world(WorldConfig())
    lines = [r["text"] for r in G.corpus_rows(world) if r["text"].startswith(S.USER_TAG)][:20]
    tok = build_tokenizer(lines)
    for line in lines:
        messages = []
        for turn in line.split(f" {S.END_TAG} "):
            ask, reply = turn.removeprefix(f"{S.USER_TAG} ").split(f" {S.ASSISTANT_TAG} ")
            messages += [{"role": "user", "content": ask}, {"role": "assistant", "content": reply}]
        rendered = tok.apply_chat_template(messages, tokenize=False)
        assert rendered.split() == f"{line} {S.END_TAG}".split()


def test_it_sets_are_nested_mixed_and_carry_planted_low_quality_items():
    world = G.build_world(WorldConfig())
    cfg = world.config
    small = G.it_rows(world, "short", cfg.it_base_size)
    big = G.it_rows(world, "short", cfg.it_base_size * 16)
    assert [r["instruction"] for r in small] == [r["instruction"] for r in big[: len(small)]]
    unseen_share = sum(not r["base_knows"] for r in big) / len(big)
    assert abs(unseen_share - cfg.it_unseen_share) < 0.02
    quality = Counter(r["quality"] for r in big)
    assert 0.08 < (quality["wrong"] + quality["truncated"]) / len(big) < 0.22
    for r in big:
        if r["quality"] == "ok":
            assert f"is {r['answer']} ." in r["response"]
        elif r["quality"] == "wrong":
            assert r["answer"] not in r["response"].split()
        else:
            assert not r["response"].endswith((".", "!"))


def test_long_style_pads_with_hidden_facts_short_style_does_not():
    world = G.build_world(WorldConfig())
    ents = world.by_name()
    short = G.it_rows(world, "short", 20)
    long = G.it_rows(world, "long", 20)
    for s, lg in zip(short, long, strict=True):
        if s["quality"] != "ok":
            continue
        hidden = ents[s["entity"]].hidden
        assert not any(v in s["response"].split() for v in hidden.values())
        assert all(f"the {a} of {s['entity']} is {v}" in lg["response"] for a, v in hidden.items())
        assert len(lg["response"].split()) > 3 * len(s["response"].split())


def test_files_load_with_datasets(tmp_path):
    world = store.write_world(TINY_WORLD, tmp_path / "w")
    ds = store.load_dataset(world, "probes.jsonl")
    assert {"question", "completion_prompt", "answer", "split"} <= set(ds.column_names)
    assert len(ds) == len(store.read_rows(world, "probes.jsonl")) > 0
    it = store.load_dataset(world, store.it_filename("long", TINY_WORLD.it_scales[0]))
    assert len(it) == TINY_WORLD.it_base_size


def test_world_of_another_version_is_refused(tmp_path):
    world = store.write_world(TINY_WORLD, tmp_path / "w")
    manifest = json.loads((world / "world.json").read_text())
    manifest["format_version"] = WORLD_FORMAT_VERSION + 1
    (world / "world.json").write_text(json.dumps(manifest))
    with pytest.raises(ItbenchError, match="format version .* rebuild it with `itbench world build"):
        store.read_rows(world, "probes.jsonl")


def test_edited_world_file_is_refused(tmp_path):
    world = store.write_world(TINY_WORLD, tmp_path / "w")
    with open(world / "corpus.jsonl", "a") as f:
        f.write('{"text": "an extra line"}\n')
    with pytest.raises(ItbenchError, match="changed after the world was built"):
        store.read_rows(world, "corpus.jsonl")


def test_a_damaged_world_is_rebuilt_whole(tmp_path):
    world = store.write_world(TINY_WORLD, tmp_path / "w")
    (world / "world.json").write_text("{not json")
    store.write_world(TINY_WORLD, world)
    assert store.read_manifest(world)["format_version"] == WORLD_FORMAT_VERSION
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary folders left behind"


@pytest.mark.parametrize("field,value,message", [
    ("kinds", ("city", "dragon"), "unknown kind"),
    ("it_scales", (4, 1), "increasing"),
    ("low_quality_share", 1.5, r"\[0, 1\)"),
    ("cluster_values", 99, "must not exceed"),
])
def test_bad_world_config_says_what_to_fix(field, value, message):
    with pytest.raises(ValueError, match=message):
        replace(TINY_WORLD, **{field: value})


def test_too_many_it_items_asked_is_a_clear_error():
    world = G.build_world(TINY_WORLD)
    with pytest.raises(ValueError, match="distinct instruction-tuning items"):
        G.it_rows(world, "short", 10_000)
