"""The recommender's relevance parts (advisor.relevance) on the small real index: each
candidate's cosine and BM25 part agree with searching its own documents, the pruned
ranking equals scoring every candidate, and without an index the parts are zero."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.config import Config
from advisor.pools import CandidatePool
from advisor.recommender import Recommender
from advisor.relevance import COSINE_SPAN, DOC_KINDS, PoolScorer
from advisor.retrieval import HybridRetriever
from advisor.types import ModelInfo

QUESTION = "a model that classifies the sentiment of product reviews"


@pytest.fixture(scope="module")
def rec(small_index):
    return Recommender(small_index, HybridRetriever(small_index, Config()))


def _own_best(index, mid: str, query: str) -> tuple[float | None, float]:
    """Best cosine and BM25 over the model's own documents, by the index's searches."""
    rows = index.rows_for(doc_ids=[f"{k}:{mid}" for k in DOC_KINDS])
    if not len(rows):
        return None, 0.0
    cos = index.dense_search(index.embed_query(query), 1, rows=rows)[0][1]
    bm = index.bm25_search(query, 1, rows=rows)
    return cos, (bm[0][1] if bm else 0.0)


def test_parts_agree_with_searching_each_candidates_documents(rec, small_index):
    req, source = rec.build_request(QUESTION)
    pool = rec._pool(req, source)
    assert len(pool.items) > 20
    rel = rec.scorer(req, pool)
    own = [_own_best(small_index, m.id, req.text) for m, *_ in pool.items]
    cos = np.array([c if c is not None else -np.inf for c, _ in own])
    bm = np.array([b for _, b in own])
    top = cos[np.isfinite(cos)].max()
    want_cos = np.where(np.isfinite(cos), 1 - np.clip((top - cos) / COSINE_SPAN, 0, 1), 0)
    np.testing.assert_allclose(rel.cosine, want_cos, atol=1e-5)
    np.testing.assert_allclose(rel.bm25, bm / bm.max() if bm.max() > 0 else bm, atol=1e-5)
    assert rel.cosine.max() == pytest.approx(1.0) and rel.cosine.min() >= 0.0
    # the hybrid search runs only while its rank weighs in the score (0 in the sixteenth
    # pass's fit), or when asked
    from advisor import relevance

    assert rec.scorer.read_retrieval == (relevance.W_RETRIEVAL > 0)
    assert rel.retrieval.any() == rec.scorer.read_retrieval
    rec.scorer.read_retrieval = True  # as bench.rank_fit reads it
    rel = rec.scorer(req, pool)
    assert (rel.retrieval > 0).any() and rel.retrieval.max() == pytest.approx(1.0)


def test_a_candidate_without_documents_gets_no_cosine_or_bm25(rec, small_index):
    req, source = rec.build_request(QUESTION)
    pool = rec._pool(req, source)
    ghost = ModelInfo(id="nobody/not-in-the-index", pipeline_tag=req.task, source="2022")
    items = list(pool.items[:10]) + [(ghost, 0, False, rec._feat(ghost), False)]
    rel = rec.scorer(req, CandidatePool.of(items, None))
    assert rel.cosine[-1] == 0.0 and rel.bm25[-1] == 0.0 and rel.retrieval[-1] == 0.0
    assert rel.cosine[:-1].max() == pytest.approx(1.0)


@pytest.mark.parametrize("text", [QUESTION, "a model", "named entity recognition in German"])
def test_pruned_ranking_with_the_index_equals_scoring_every_candidate(rec, text, monkeypatch):
    import advisor.recommender as recommender
    from advisor.recommender import _rank_key, collapse_variants

    monkeypatch.setattr(recommender, "MIN_PRUNE_CANDIDATES", 20)
    req, source = rec.build_request(text)
    pool = rec._pool(req, source)
    got = [c.model.id for c in rec._top(req, pool, 5)]
    rel = rec.scorer(req, pool)
    cands = rec.candidates(req, source)
    for c in cands:
        rec._score_one(req, c, rel)
    assert got == [c.model.id for c in collapse_variants(sorted(cands, key=_rank_key)[:15], 5)]


def test_without_an_index_only_retrieval_and_words_count(small_index):
    rec = Recommender(dict(small_index.models))  # a plain mapping: no index, no retriever
    req, source = rec.build_request(QUESTION)
    pool = rec._pool(req, source)
    rel = rec.scorer(req, pool)
    assert not rel.cosine.any() and not rel.bm25.any() and not rel.retrieval.any()
    assert PoolScorer()(req, CandidatePool.of([], None)).cosine.shape == (0,)
