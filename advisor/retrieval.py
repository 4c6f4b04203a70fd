"""Hybrid retrieval over the index: dense (FAISS) + BM25, fused by reciprocal rank.

:class:`HybridRetriever` asks the index for the top candidates of each ranker over the
rows allowed by the filters (``kinds``, ``doc_ids``), fuses the two rankings with
reciprocal rank fusion (RRF, Cormack et al. 2009: ``sum 1 / (rrf_k + rank)``), keeps
the best chunk of each document, and returns the top ``k`` :class:`~advisor.types.Hit`
with their fused scores. ``mode="dense"`` or ``"bm25"`` uses one ranker only (the
benchmarks compare the three).

This module does not embed or score anything itself (the index does) and does not
rerank with a cross-encoder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from advisor.config import Config
from advisor.types import Hit

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")
# Candidates fetched per ranker, as a multiple of k: model cards have up to 3 chunks, so
# per-document deduplication needs headroom; 4x keeps k distinct documents in practice.
DEFAULT_CANDIDATE_FACTOR = 4
DEFAULT_MIN_CANDIDATES = 30  # small k still fuses over a meaningful pool


def rrf_fuse(rankings: Iterable[Sequence[int]], rrf_k: int) -> dict[int, float]:
    """Reciprocal rank fusion: row -> sum over rankings of 1 / (rrf_k + rank), rank from 1."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (rrf_k + rank)
    return fused


class HybridRetriever:
    """Dense + BM25 retrieval with filters and per-document deduplication.

    Args:
        index: an :class:`advisor.index.AdvisorIndex` (or anything with its methods).
        cfg: settings (``rrf_k``, ``top_k``).
        mode: default ranker: "hybrid" (RRF of both), "dense" or "bm25".
    """

    def __init__(self, index, cfg: Config | None = None, mode: Mode = "hybrid"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.index = index
        self.cfg = cfg or Config()
        self.mode = mode

    def allowed_rows(
        self, kinds: Sequence[str] | str | None = None, doc_ids: Sequence[str] | None = None
    ) -> np.ndarray | None:
        """Rows matching the filters, or ``None`` when nothing is filtered (all rows)."""
        if kinds is None and doc_ids is None:
            return None
        # a tuple passes as is: the index keeps the rows of a fixed set (see rows_for)
        doc_list = (doc_ids if isinstance(doc_ids, tuple) or doc_ids is None
                    else list(doc_ids))
        kind_arg = [kinds] if isinstance(kinds, str) else (list(kinds) if kinds is not None else None)
        return np.asarray(self.index.rows_for(kind=kind_arg, doc_ids=doc_list), dtype=np.int64)

    def search(
        self,
        query: str,
        k: int | None = None,
        kinds: Sequence[str] | str | None = None,
        doc_ids: Sequence[str] | None = None,
        *,
        mode: Mode | None = None,
        qvec: np.ndarray | None = None,
    ) -> list[Hit]:
        """Top ``k`` documents (best chunk each) for ``query``.

        Args:
            query: the user's text (already validated).
            k: documents to return (default ``cfg.top_k``).
            kinds: restrict to these document kinds ("taxonomy", "thread", "model", "model2026").
            doc_ids: restrict to these document ids.
            mode: override the retriever's default ranker.
            qvec: a precomputed query vector (dim,), to avoid embedding twice.

        Returns:
            Hits sorted by fused score (hybrid: RRF score; dense: cosine; bm25: BM25 score).
            ``hit.metadata`` gains ``dense_rank`` / ``bm25_rank`` (1-based, absent when the
            ranker did not return the chunk).
        """
        k = self.cfg.top_k if k is None else k
        mode = mode or self.mode
        if k <= 0 or not query.strip():
            return []
        rows = self.allowed_rows(kinds, doc_ids)
        if rows is not None and len(rows) == 0:
            return []
        n_cand = max(k * DEFAULT_CANDIDATE_FACTOR, DEFAULT_MIN_CANDIDATES)
        if rows is not None:
            n_cand = min(n_cand, len(rows))

        dense: list[tuple[int, float]] = []
        sparse: list[tuple[int, float]] = []
        if mode in ("hybrid", "dense"):
            vec = qvec if qvec is not None else self.index.embed_query(query)
            dense = list(self.index.dense_search(vec, n_cand, rows=rows))
        if mode in ("hybrid", "bm25"):
            sparse = [(r, s) for r, s in self.index.bm25_search(query, n_cand, rows=rows) if s > 0]

        dense_rank = {row: i for i, (row, _) in enumerate(dense, start=1)}
        bm25_rank = {row: i for i, (row, _) in enumerate(sparse, start=1)}
        if mode == "hybrid":
            scores = rrf_fuse([[r for r, _ in dense], [r for r, _ in sparse]], self.cfg.rrf_k)
        else:
            scores = {int(r): float(s) for r, s in (dense or sparse)}

        ranked = sorted(scores.items(), key=lambda rs: (-rs[1], rs[0]))
        doc_arr = getattr(self.index, "doc_ids", None)
        chosen: list[tuple[int, float]] = []
        seen_docs: set[str] = set()
        for row, score in ranked:
            doc = str(doc_arr[row]) if doc_arr is not None else None
            if doc is not None:
                if doc in seen_docs:
                    continue
                seen_docs.add(doc)
            chosen.append((row, score))
            if doc is not None and len(chosen) >= k:
                break
        hits = self.index.hits(chosen)
        if doc_arr is None:  # an index without doc_ids: deduplicate on the hits
            hits = _dedupe_hits(hits)[:k]
        out: list[Hit] = []
        for hit in hits:
            meta = dict(hit.metadata or {})
            if hit.row in dense_rank:
                meta["dense_rank"] = dense_rank[hit.row]
            if hit.row in bm25_rank:
                meta["bm25_rank"] = bm25_rank[hit.row]
            hit.metadata = meta
            hit.score = float(scores.get(hit.row, hit.score))
            out.append(hit)
        log.debug("search %r mode=%s k=%d -> %d hits", query[:60], mode, k, len(out))
        return out


def _dedupe_hits(hits: list[Hit]) -> list[Hit]:
    seen: set[str] = set()
    out = []
    for hit in hits:
        if hit.doc_id not in seen:
            seen.add(hit.doc_id)
            out.append(hit)
    return out
