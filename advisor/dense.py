"""Dense search over an index's FAISS vectors: top-k rows by inner product (= cosine).

One request searches several times with the same query vector (threads, taxonomy,
the nearest model cards, the candidate models' cards). On a flat index (the default)
:class:`DenseVectors` computes the inner products with every row once per vector
(a zero-copy view of FAISS's own array, one BLAS product, ~3 ms on the full index)
and answers each search, filtered to any rows or not, by a selection over them,
instead of one FAISS scan and one ID selector per search. Other FAISS index types
are searched by FAISS. It does not embed text, fuse rankings or read chunk text
(:mod:`advisor.index` and :mod:`advisor.retrieval` do).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

# Query vectors whose scores against every row are kept: a request uses one vector; a
# few concurrent requests each keep theirs (240 KiB per vector on the full index).
SCORE_CACHE_SIZE = 8


class DenseVectors:
    """Search a loaded FAISS index; thread-safe (read-only arrays, a locked cache)."""

    def __init__(self, faiss_index):
        self._faiss = faiss_index
        self._xb: np.ndarray | bool | None = None  # flat vectors view; False: not flat
        self._scores: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self._faiss.ntotal)

    def search(self, qvec: np.ndarray, k: int,
               rows: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` ``(row, score)`` by inner product, best first, optionally only
        among ``rows`` (distinct row numbers)."""
        if k <= 0 or len(self) == 0:
            return []
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
            if rows.size == 0:
                return []
        scores = self.scores(qvec)
        if scores is None:
            return self._faiss_search(qvec, k, rows)
        sub = scores if rows is None else scores[rows]
        k = min(k, int(sub.size))
        top = np.argpartition(-sub, k - 1)[:k] if k < sub.size else np.arange(sub.size)
        top = top[np.argsort(-sub[top], kind="stable")]
        ids = top if rows is None else rows[top]
        return [(int(i), float(s)) for i, s in zip(ids, sub[top], strict=True)]

    def scores(self, qvec: np.ndarray) -> np.ndarray | None:
        """``(n,)`` inner products of ``qvec`` with every row (read-only; the last
        :data:`SCORE_CACHE_SIZE` vectors' are kept), or ``None`` when the index is
        not flat."""
        xb = self._flat_vectors()
        if xb is None:
            return None
        q = np.ascontiguousarray(np.asarray(qvec, dtype=np.float32).reshape(-1))
        key = q.tobytes()
        with self._lock:
            hit = self._scores.get(key)
            if hit is not None:
                self._scores.move_to_end(key)
                return hit
        scores = xb @ q  # (n,)
        scores.flags.writeable = False
        with self._lock:
            self._scores[key] = scores
            while len(self._scores) > SCORE_CACHE_SIZE:
                self._scores.popitem(last=False)
        return scores

    def _flat_vectors(self) -> np.ndarray | None:
        """A zero-copy ``(n, dim)`` view of a flat index's vectors, else ``None``."""
        if self._xb is None:
            import faiss

            if isinstance(self._faiss, faiss.IndexFlat) and len(self):
                n, d = int(self._faiss.ntotal), int(self._faiss.d)
                self._xb = faiss.rev_swig_ptr(self._faiss.get_xb(), n * d).reshape(n, d)
            else:
                self._xb = False
        return self._xb if self._xb is not False else None

    def _faiss_search(self, qvec: np.ndarray, k: int,
                      rows: np.ndarray | None) -> list[tuple[int, float]]:
        """FAISS's own search (any index type); the reference the selection matches."""
        import faiss

        q = np.ascontiguousarray(np.asarray(qvec, dtype=np.float32).reshape(1, -1))
        params = None
        if rows is not None:
            k = min(k, int(rows.size))
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(rows))
        k = min(k, len(self))
        scores, ids = self._faiss.search(q, k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=False) if i >= 0]
