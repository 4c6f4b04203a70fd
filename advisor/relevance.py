"""How well each candidate of a pool matches a request's words: the relevance half of the
recommender's score (:mod:`advisor.pools` holds the other half and every weight).

Four parts, each 0..1 per candidate, and one more:

- **lexical** (:func:`lexical`): the request's keywords, domain words and words found in
  the model id (full weight) or its tags (half);
- **retrieval**: the rank of the model's best chunk in a hybrid search over the pool's
  model documents (1 = first; 0 when not retrieved; not searched while its weight is 0);
- **cosine**: the question's cosine with the model's best chunk, relative to the best
  candidate of the pool (1 at the best, 0 at :data:`COSINE_SPAN` or more below it): a
  reading of every candidate, not only of the hundred the search returns;
- **bm25**: the BM25 score of the model's best chunk over the pool's best;
- **accepted**: the summed cosine of the nearest labelled solved requests that were
  pointed to the model (:mod:`advisor.solved_requests`; 0 without the index's store),
  with the thread of the closest, which the answer cites.

Cosine, BM25 and accepted need an :class:`~advisor.index.AdvisorIndex` (its vectors,
BM25 matrix and query embedder); with a plain mapping of models or a retriever without an
index they are 0. This module
does not choose candidates, weigh popularity or penalties, or sort.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from advisor.modelfacts import ModelFeatures
from advisor.pools import W_ACCEPTED, W_BM25, W_COSINE, W_LEXICAL, W_RETRIEVAL, CandidatePool
from advisor.tasks import ModelRequest
from advisor.types import ModelInfo

log = logging.getLogger(__name__)

RETRIEVER_K = 100  # model documents asked of the retriever: ~3 chunks a card, 30+ models
# A candidate this much cosine below the pool's best reads as unrelated (MiniLM cosines of
# one question with model chunks spread over ~0.2-0.7). Chosen with the weights
# (bench/rank_fit.py, 375 labelled requests): 0.3.
COSINE_SPAN = 0.3
DOC_KINDS = ("model", "model2026")  # a model's documents: its 2022 card, its 2026 record
CODES_CACHE_SIZE = 64  # pools whose document codes are kept (the recommender keeps 64 pools)

_PAIR = re.compile(r"[a-z]{2,3}-[a-z]{2,3}")  # "en-fr": a translation direction


def lexical(req: ModelRequest, m: ModelInfo, feat: ModelFeatures | None = None) -> float:
    """Request words/keywords found in the model id (full weight) or tags (half), 0..1.

    Tags count half because authors stuff them ("chat", "small", "sota"); the id is what
    the community sees and downloads by. A translation pair ("en-fr") counts double: it is
    the whole point of the request; so do the user's domain words ("finbert" for finance).
    """
    f = feat or ModelFeatures.of(m)
    mid, id_tokens, tags = f.low_id, f.id_tokens, f.tags
    hits = 0.0
    for kw in req.keywords:
        pair = _PAIR.fullmatch(kw)
        weight = 2.0 if pair else 1.0
        if ((len(kw) >= 3 and kw in mid) or kw in id_tokens
                or (pair and kw.replace("-", "_") in mid)):  # "..._en_fa" ids
            hits += weight
        elif kw in tags:
            hits += weight / 2
    for kw in req.domain:
        if (len(kw) >= 3 and kw in mid) or kw in id_tokens:
            hits += 2.0
        elif kw in tags:
            hits += 1.0
    for w in req.query_text.split():
        if w in id_tokens or (len(w) >= 5 and w in mid):
            hits += 0.5
        elif w in tags:
            hits += 0.25
    return min(1.0, hits / 2.0)


@dataclass(frozen=True)
class PoolRelevance:
    """The three parts other than the lexical one, for one request and pool, indexed by
    position in the pool (the lexical part is computed per candidate while ranking)."""

    retrieval: np.ndarray  # (n,) 0..1
    cosine: np.ndarray  # (n,) 0..1
    bm25: np.ndarray  # (n,) 0..1
    accepted: np.ndarray | None = None  # (n,) >= 0; None: no solved requests
    threads: dict[int, str] = field(default_factory=dict)  # position -> closest solved request

    @classmethod
    def empty(cls, n: int) -> PoolRelevance:
        z = np.zeros(n)
        return cls(z, z, z)

    @functools.cached_property
    def without_lexical(self) -> np.ndarray:
        """(n,) the weighted sum of the other parts (the score adds ``W_LEXICAL`` times
        the lexical part, computed per candidate)."""
        out = W_RETRIEVAL * self.retrieval + W_COSINE * self.cosine + W_BM25 * self.bm25
        return out if self.accepted is None else out + W_ACCEPTED * self.accepted

    def score(self, i: int, lex: float) -> float:
        """The relevance term of candidate ``i``'s score, weights included."""
        return W_LEXICAL * lex + float(self.without_lexical[i])


class PoolScorer:
    """Computes :class:`PoolRelevance` for a request over a pool.

    Args:
        retriever: object with ``search(query, k, kinds=..., doc_ids=...)`` (the hybrid
            retriever) or ``None``.
        index: the :class:`~advisor.index.AdvisorIndex` behind it (``dense_row_scores``,
            ``bm25_row_scores``, ``doc_groups``), or ``None``: no cosine / BM25 parts.
    """

    def __init__(self, retriever=None, index=None, solved=None):
        self.retriever = retriever
        self.solved = solved  # advisor.solved_requests.SolvedRequests or None
        # the hybrid search runs only while its rank weighs in the score (the sixteenth
        # pass's fit put it at 0: cosine and BM25 over every card carry the relevance);
        # bench.rank_fit sets it to read the feature anyway
        self.read_retrieval = retriever is not None and W_RETRIEVAL > 0
        self.index = index if hasattr(index, "dense_row_scores") else None
        self._lock = threading.Lock()
        self._codes: OrderedDict[int, tuple[CandidatePool, np.ndarray]] = OrderedDict()

    def __call__(self, req: ModelRequest, pool: CandidatePool) -> PoolRelevance:
        n = len(pool.items)
        if not n:
            return PoolRelevance.empty(0)
        query = req.text or req.query_text or (req.task or "")
        retrieval = self._retrieval(query, pool)
        if self.index is None or not query.strip():
            return PoolRelevance(retrieval, np.zeros(n), np.zeros(n))
        codes = self._pool_codes(pool)
        qvec = self.index.embed_query(query)
        cos = self._best(self.index.dense_row_scores(qvec), codes)
        bm = self._best(self.index.bm25_row_scores(query), codes)
        cosine = np.zeros(n)
        if cos is not None and np.isfinite(cos.max()):  # -inf: no document, ranks below
            cosine = np.clip(1.0 - (cos.max() - cos) / COSINE_SPAN, 0.0, 1.0)
        bm25 = np.zeros(n)
        if bm is not None and bm.max() > 0:  # scores are >= 0; -inf: no document
            bm25 = np.maximum(bm, 0.0) / bm.max()
        if self.solved is None:
            return PoolRelevance(retrieval, cosine, bm25)
        accepted, threads = self.solved.accepted(qvec, req.task, pool.position, n)
        return PoolRelevance(retrieval, cosine, bm25, accepted, threads)

    def _retrieval(self, query: str, pool: CandidatePool) -> np.ndarray:
        """(n,) 1 - rank / hits of each candidate's best chunk in the hybrid search."""
        out = np.zeros(len(pool.items))
        if not self.read_retrieval or self.retriever is None or not query.strip():
            return out
        try:
            hits = self.retriever.search(query, k=RETRIEVER_K, kinds=list(DOC_KINDS),
                                         doc_ids=pool.doc_ids)
        except Exception:  # relevance is a bonus here; ranking still works without it
            log.exception("model retrieval failed; ranking without it")
            return out
        ranked: list[str] = []
        for h in hits:
            mid = h.doc_id.split(":", 1)[1] if ":" in h.doc_id else h.doc_id
            if mid not in ranked:
                ranked.append(mid)
        n = max(len(ranked), 1)
        for i, mid in enumerate(ranked):
            pos = pool.position.get(mid)
            if pos is not None:
                out[pos] = 1.0 - i / n
        return out

    def _best(self, row_scores: np.ndarray | None, codes: np.ndarray) -> np.ndarray | None:
        """(n,) each candidate's best row score over its documents (-inf: no document)."""
        if row_scores is None:
            return None
        order, bounds, _ = self.index.doc_groups()
        per_doc = np.maximum.reduceat(np.asarray(row_scores, np.float64)[order], bounds[:-1])
        per_doc = np.append(per_doc, -np.inf)  # code -1: no such document
        return per_doc[codes].max(axis=1)

    def _pool_codes(self, pool: CandidatePool) -> np.ndarray:
        """(n, 2) document codes of each candidate's 2022 card and 2026 record (-1: none);
        kept for the last :data:`CODES_CACHE_SIZE` pools."""
        with self._lock:
            hit = self._codes.get(id(pool))
            if hit is not None and hit[0] is pool:
                self._codes.move_to_end(id(pool))
                return hit[1]
        lookup = self.index.doc_groups()[2]
        codes = np.array([[lookup.get(f"{kind}:{m.id}", -1) for kind in DOC_KINDS]
                          for m, *_ in pool.items], dtype=np.int64).reshape(-1, len(DOC_KINDS))
        with self._lock:
            self._codes[id(pool)] = (pool, codes)
            while len(self._codes) > CODES_CACHE_SIZE:
                self._codes.popitem(last=False)
        return codes
