"""Memoised query embedding: one request embeds each piece of the question once.

:class:`MemoEmbedder` wraps the index's embedder. The engine embeds the question for
retrieval, the classifier embeds its title and prose windows, the recommender and the
known-issue matcher reuse the question's vector: the memo serves every piece it has
seen from an LRU cache. It does not embed anything itself, and large batches (a build,
the knowledge base at load) pass through uncached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

DEFAULT_MEMO_SIZE = 256  # cached query vectors (a few KB each)
MEMO_MAX_BATCH = 16  # encodes of more texts than this are not memoised (builds, KB load)


class MemoEmbedder:
    """Wraps an embedder; caches the texts of small encodes (a question, its title and
    windows for the classifier) so each piece of a question is embedded once. Larger
    batches (building, the knowledge base at load) go straight to the inner embedder."""

    def __init__(self, inner, size: int = DEFAULT_MEMO_SIZE, max_batch: int = MEMO_MAX_BATCH):
        """``size``: texts kept; ``max_batch``: larger encodes pass through uncached (a
        cross-validation that re-embeds the same training texts per fold raises both)."""
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size
        self._max_batch = max_batch

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        texts = list(texts)
        if not texts or len(texts) > self._max_batch:
            return self.inner.encode(texts, batch_size=batch_size)
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for t in texts:
                vec = self._cache.get(t)
                if vec is not None:
                    self._cache.move_to_end(t)
                    found[t] = vec
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            vecs = self.inner.encode(missing, batch_size=min(batch_size, len(missing)))
            with self._lock:
                for t, vec in zip(missing, vecs, strict=True):
                    found[t] = vec
                    self._cache[t] = vec
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        return np.stack([found[t] for t in texts]).copy()
