"""Tracing a hallucinated span back to the instruction-tuning set: which IT instances are
conceptually similar to the question, and does one of them hold the span.

Two ways to find the similar instances:
  - in the world, exactly: the instances about other entities of the question's cluster;
  - on a real IT set, by retrieval: a BM25 index over the instructions (built once per IT set and
    cached by its content hash; a changed set rebuilds it).
A hallucination is *borrowed* when its wrong span occurs, as whole words, in the response of one of
the similar instances; the most similar such instance is its source.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from itbench import paths
from itbench.errors import ItbenchError
from itbench.utils import atomic

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def span_words(span: str) -> list[str]:
    """The words of a span to trace; an empty span is an error."""
    s = words(span)
    if not s:
        raise ItbenchError("an empty span cannot be traced: give the wrong words of the answer")
    return s


def contains_span(text: str, span: str) -> bool:
    """Whole-word occurrence of `span` in `text`, case-insensitive."""
    s, t = span_words(span), words(text)
    n = len(s)
    return any(t[i:i + n] == s for i in range(len(t) - n + 1))


class ResponseIndex:
    """Which of an IT set's responses hold a span as whole words: an inverted index from each word
    to the sorted ids of the responses that use it. A span's candidates are the responses that use
    all of its words (the intersection of their postings); for a span of one word that is exact,
    for a longer one `holds` confirms the words in order. `span in index` asks all responses."""

    def __init__(self, responses: list[str]):
        self.texts = [f" {' '.join(words(r))} " for r in responses]
        postings: dict[str, list[int]] = {}
        for i, text in enumerate(self.texts):
            for w in set(text.split()):
                postings.setdefault(w, []).append(i)
        self.postings = {w: np.asarray(ids, dtype=np.int64) for w, ids in postings.items()}
        self._cache: dict[str, tuple[str, np.ndarray]] = {}

    def candidates(self, span: str) -> tuple[str, np.ndarray]:
        """The span's words joined by one space (an empty span is an error) and the sorted ids of
        the responses that use every one of them."""
        key = " ".join(span_words(span))
        if key not in self._cache:
            lists = sorted((self.postings.get(w, np.zeros(0, np.int64)) for w in set(key.split())), key=len)
            ids = lists[0]
            for other in lists[1:]:  # sorted postings: look each id up in the longer list
                if ids.size:
                    pos = np.searchsorted(other, ids).clip(max=other.size - 1)
                    ids = ids[other[pos] == ids]
            if len(self._cache) >= 100_000:
                self._cache.clear()
            self._cache[key] = (key, ids)
        return self._cache[key]

    def holds(self, i: int, key: str) -> bool:
        return " " not in key or f" {key} " in self.texts[i]

    def __contains__(self, span: str) -> bool:
        key, ids = self.candidates(span)
        return any(self.holds(int(i), key) for i in ids)


def jaccard(a: str, b: str) -> float:
    x, y = set(words(a)), set(words(b))
    return len(x & y) / len(x | y) if x | y else 0.0


@dataclass(frozen=True)
class Trace:
    span: str
    source_id: str
    source_instruction: str
    source_response: str
    similarity: float  # word Jaccard of question and source instruction

    def to_dict(self) -> dict:
        return asdict(self)


class WorldTracer:
    """Exact similar-instance sets from the world's clusters."""

    def __init__(self, it_rows: list[dict], entity_rows: list[dict]):
        self.cluster_of = {e["name"]: e["cluster"] for e in entity_rows}
        self.by_cluster: dict[str, list[dict]] = {}
        self.any_response = ResponseIndex([r["response"] for r in it_rows])
        for r in it_rows:
            self.by_cluster.setdefault(r["cluster"], []).append(r)

    def similar(self, entity: str) -> list[dict]:
        cluster = self.cluster_of.get(entity)
        return [r for r in self.by_cluster.get(cluster, []) if r["entity"] != entity]

    def trace(self, span: str, question: str, entity: str) -> Trace | None:
        hits = [r for r in self.similar(entity) if contains_span(r["response"], span)]
        if not hits:
            return None
        best = max(hits, key=lambda r: jaccard(question, r["instruction"]))
        return Trace(span, best["id"], best["instruction"], best["response"], jaccard(question, best["instruction"]))


class BM25Index:
    """BM25 (Lucene's variant) over instructions, through bm25s: a sparse index, saved and loaded
    as plain arrays (no pickle)."""

    TOKENS = r"(?u)\b\w+\b"  # every word, one letter too (bm25s's default drops those)

    def __init__(self, instructions: list[str], k1: float = 1.5, b: float = 0.75):
        import bm25s

        self.retriever = bm25s.BM25(k1=k1, b=b)
        self.size, self._dense = len(instructions), None
        if instructions:
            tokens = bm25s.tokenize(list(instructions), token_pattern=self.TOKENS, stopwords=None,
                                    show_progress=False)
            self.retriever.index(tokens, show_progress=False)
        self._ids = dict(getattr(self.retriever, "vocab_dict", None) or {})

    DENSE_BYTES = 2**28  # memory for the dense score rows of the most frequent words

    def _prepare(self) -> None:
        """The score matrix split by word frequency: the words in at least 2% of the instructions
        ("the", "what", ...: most of a query's postings) as dense float32 rows (the most frequent
        that fit in DENSE_BYTES), the rest as postings. A dense row is added in one pass; a word's
        postings cost more per document, so only the frequent words pay for a dense row."""
        sc = self.retriever.scores
        indptr = np.asarray(sc["indptr"])
        lengths = np.diff(indptr)
        budget = self.DENSE_BYTES // (4 * max(self.size, 1))
        frequent = np.flatnonzero(lengths >= max(self.size // 50, 1))
        frequent = frequent[np.argsort(-lengths[frequent], kind="stable")][:budget]
        self._row = np.full(lengths.size, -1, dtype=np.int64)
        self._row[frequent] = np.arange(frequent.size)
        self._dense = np.zeros((frequent.size, self.size), dtype=np.float32)
        for r, w in enumerate(frequent):
            self._dense[r, sc["indices"][indptr[w]:indptr[w + 1]]] = sc["data"][indptr[w]:indptr[w + 1]]
        self._indptr, self._indices = indptr, np.asarray(sc["indices"])
        self._data = np.asarray(sc["data"], np.float32)
        # each word's largest score in any instruction: the bound that lets top_k_many skip documents
        self._max = np.zeros(lengths.size, np.float64)
        has = lengths > 0
        self._max[has] = np.maximum.reduceat(self._data, indptr[:-1][has]) if self._data.size else 0.0
        # the kernel's work arrays, all zeros between calls: per word a count and a flag, per
        # instruction a score, a mark and a list of those scored
        self._work = (np.zeros(lengths.size, np.int64), np.zeros(lengths.size, np.uint8),
                      np.zeros(self.size, np.float32), np.zeros(self.size, np.uint8),
                      np.zeros(self.size, np.int64))
        self._kth_cache, self.scored, self.queries = {}, 0, 0

    def scores_many(self, queries: list[str]) -> np.ndarray:
        """Every instruction's BM25 score for each query, [queries, instructions] float32 (a query
        with no indexed word scores 0 everywhere): per query, the dense rows of its frequent words
        added in place, then its other words' postings. A word a query repeats counts as often as it
        appears, as in bm25s's own scorer (whose np.add.at over every posting this replaces)."""
        if self._dense is None:
            self._prepare()
        out = np.zeros((len(queries), self.size), np.float32)
        for row, q in zip(out, queries, strict=True):
            for t in self._terms(q):
                r = self._row[t]
                if r >= 0:
                    row += self._dense[r]
                else:
                    a, b = self._indptr[t], self._indptr[t + 1]
                    row[self._indices[a:b]] += self._data[a:b]  # a word's postings hold each document once
        return out

    def _terms(self, query: str) -> list[int]:
        """The query's indexed words as word ids, in order, repeats kept (the index's tokens:
        lower-cased word runs)."""
        return [t for t in (self._ids.get(w) for w in words(query)) if t is not None]

    def scores(self, query: str) -> np.ndarray | None:
        """Every instruction's BM25 score for `query` (float32), or None when no word of it is indexed."""
        if not self.size or not any(w in self._ids for w in words(query)):
            return None
        return self.scores_many([query])[0]

    def search(self, query: str, k: int = 10) -> list[tuple[int, float]]:
        """The k instructions most similar to `query` (index, score), best first, ties in index
        order; none share a word: []."""
        return self.top_k_many([query], k)[0]

    def top_k_many(self, queries: list[str], k: int) -> list[list[tuple[int, float]]]:
        """top_k(scores(query), k) for each query, exactly (the same instructions, order and float32
        scores), scoring only the instructions that can reach the top k (`itbench.tracing_kernel`).
        `self.scored` adds up the instructions scored, `self.queries` the queries."""
        from itbench import tracing_kernel

        if not self.size:
            return [[] for _ in queries]
        if self._dense is None:
            self._prepare()
        per_query = [self._terms(q) for q in queries]
        q_terms = [t for terms in per_query for t in terms]
        q_ptr = np.zeros(len(queries) + 1, np.int64)
        q_ptr[1:] = np.cumsum([len(terms) for terms in per_query])
        k = max(int(k), 0)
        ids, scores = np.zeros((len(queries), k), np.int64), np.zeros((len(queries), k), np.float32)
        n, scored = np.zeros(len(queries), np.int64), np.zeros(len(queries), np.int64)
        tracing_kernel.top_k(q_ptr, np.asarray(q_terms, np.int64), self._indptr, self._indices, self._data,
                             self._max, self._kth(k), self._row, self._dense, k, *self._work, ids, scores, n, scored)
        self.scored, self.queries = self.scored + int(scored.sum()), self.queries + len(queries)
        return [list(zip(ids[i, :n[i]].tolist(), scores[i, :n[i]].tolist(), strict=True))
                for i in range(len(queries))]

    def _kth(self, k: int) -> np.ndarray:
        """Each word's k-th largest score over the instructions (0 for a word in fewer than k)."""
        if k not in self._kth_cache:
            lengths = np.diff(self._indptr)
            kth = np.zeros(lengths.size, np.float64)
            for t in np.flatnonzero(lengths >= k) if k > 0 else ():
                values = self._data[self._indptr[t]:self._indptr[t + 1]]
                kth[t] = np.partition(values, values.size - k)[values.size - k]
            self._kth_cache[k] = kth
        return self._kth_cache[k]

    def save(self, path: Path) -> None:
        with atomic.build_dir(path) as tmp:
            self.retriever.save(str(tmp), show_progress=False)
            atomic.write_json(tmp / "size.json", {"size": self.size})

    @classmethod
    def load(cls, path: Path) -> BM25Index:
        import bm25s

        obj = cls.__new__(cls)
        obj.retriever = bm25s.BM25.load(str(path), show_progress=False)
        obj.size, obj._dense = json.loads((path / "size.json").read_text())["size"], None
        obj._ids = dict(getattr(obj.retriever, "vocab_dict", None) or {})
        return obj


class RetrievalTracer:
    """Similar instances of a real IT set by retrieval over instructions, top `k`: the source of a
    span is the best-ranked of the `k` instructions most similar to the question (ties in index
    order) whose response holds the span. The index gives the exact top k (BM25 without scoring
    every instruction where a bound allows); the responses that hold the span come from an inverted
    index (ResponseIndex), so no response is searched per trace."""

    def __init__(self, it_rows: list[dict], index, k: int = 20, instruction_field: str = "instruction",
                 response_field: str = "response", id_field: str | None = None):
        self.rows, self.index, self.k = it_rows, index, k
        self.fi, self.fr, self.fid = instruction_field, response_field, id_field
        self.any_response = ResponseIndex([r[response_field] for r in it_rows])

    def trace(self, span: str, question: str, entity: str | None = None) -> Trace | None:
        return self.trace_many([(span, question)])[0]

    def trace_many(self, pairs: list[tuple[str, str]]) -> list[Trace | None]:
        """trace() for many (span, question) pairs, the questions ranked together."""
        found = [self.any_response.candidates(span) for span, _ in pairs]
        todo = [j for j, (_, c) in enumerate(found) if c.size]
        out: list[Trace | None] = [None] * len(pairs)
        if not todo:
            return out
        ranked = self.index.top_k_many([pairs[j][1] for j in todo], self.k)
        for top, j in zip(ranked, todo, strict=True):
            key, candidates = found[j]
            best = next((i for i, _ in top if _among(candidates, i) and self.any_response.holds(i, key)), None)
            if best is not None:
                r, (span, question) = self.rows[best], pairs[j]
                rid = str(r[self.fid]) if self.fid and self.fid in r else str(best)
                out[j] = Trace(span, rid, r[self.fi], r[self.fr], jaccard(question, r[self.fi]))
        return out


def _among(sorted_ids: np.ndarray, i: int) -> bool:
    pos = int(np.searchsorted(sorted_ids, i))
    return pos < sorted_ids.size and int(sorted_ids[pos]) == i


def cached_index(it_rows: list[dict], cache_dir: Path | None, instruction_field: str = "instruction") -> BM25Index:
    """The BM25 index of an IT set, from the cache when the set's content is unchanged."""
    texts = [r[instruction_field] for r in it_rows]
    key = atomic.sha256_json(texts)[:16]
    path = cache_dir / f"bm25-{key}" if cache_dir else None
    if path and (path / "size.json").exists():
        return BM25Index.load(path)
    index = BM25Index(texts)
    if path:
        index.save(path)
    return index


def world_tracer(it_set: str, world: str) -> WorldTracer:
    """The exact tracer of a world IT set (memoised per process while the IT set's file is
    unchanged: a task traces every document)."""
    from itbench import data

    return _world_tracer(data.identity(it_set), it_set, world)


@functools.lru_cache(maxsize=8)
def _world_tracer(identity: tuple, it_set: str, world: str) -> WorldTracer:
    from itbench import data
    from itbench.world import store

    return WorldTracer(data.it_set_rows(it_set), store.read_rows(world, "entities.jsonl"))


def retrieval_tracer(it_set: str, instruction_field: str = "instruction", response_field: str = "response",
                     retriever: str = "bm25") -> RetrievalTracer:
    """The retrieval tracer of a real IT set: BM25 (cached on disk by content) or embeddings;
    memoised per process while the IT set's file is unchanged."""
    from itbench import data

    return _retrieval_tracer(data.identity(it_set), it_set, instruction_field, response_field, retriever)


@functools.lru_cache(maxsize=8)
def _retrieval_tracer(identity: tuple, it_set: str, instruction_field: str, response_field: str,
                      retriever: str) -> RetrievalTracer:
    from itbench import data

    rows = data.it_set_rows(it_set, instruction_field, response_field)
    if retriever == "bm25":
        index = cached_index(rows, paths.index_cache(), instruction_field)
    elif retriever == "embeddings":
        from itbench.embedding_index import EmbeddingIndex

        index = EmbeddingIndex([r[instruction_field] for r in rows])
    else:
        raise ItbenchError(f"retriever must be bm25 or embeddings, not {retriever!r}")
    return RetrievalTracer(rows, index, k=20, instruction_field=instruction_field, response_field=response_field)
