"""advisor.retrieval on an invented index built with the FakeEmbedder (milliseconds)."""

from __future__ import annotations

import hashlib

import pytest

from advisor.config import Config
from advisor.index import AdvisorIndex
from advisor.retrieval import HybridRetriever, rrf_fuse
from advisor.types import Chunk, ModelInfo
from builder.embed import embed_chunks
from builder.store import write_index

# doc id -> chunk texts (invented). model:acme/big has 3 chunks that all match "sentiment".
DOCS = {
    "model:acme/big": [
        "sentiment classifier for english reviews",
        "sentiment usage with the pipeline api",
        "sentiment labels negative positive",
    ],
    "model:acme/small": ["tiny sentiment model distilled for cpu"],
    "model:acme/translate": ["translation german english marian"],
    "thread:7": ["cuda out of memory during fine tuning reduce batch size"],
    "thread:8": ["tokenizer fails to load install sentencepiece"],
    "taxonomy:challenge:memory-performance": ["memory and performance problems gpu ram slow"],
}


@pytest.fixture
def index(tmp_path, fake_embedder):
    cfg = Config(index_dir=tmp_path / "index", embed_model=fake_embedder.model_id)
    chunks = []
    for doc_id, texts in DOCS.items():
        for i, text in enumerate(texts):
            chunks.append(Chunk(
                id=f"{doc_id}#{i}", doc_id=doc_id, kind=doc_id.split(":")[0], title=doc_id,
                text=text, url=f"https://example.org/{doc_id}",
                content_hash=hashlib.sha1(text.encode()).hexdigest(),
            ))
    res = embed_chunks(chunks, fake_embedder, cfg)
    write_index(cfg.index_dir, chunks, res.vectors,
                models=[ModelInfo(id="acme/big", source="2026")], threads=[], taxonomy=[],
                manifest={"embed_model": fake_embedder.model_id})
    return AdvisorIndex.load(cfg, embedder=fake_embedder)


def test_rrf_fuse_rewards_agreement():
    fused = rrf_fuse([[1, 2, 3], [3, 1]], rrf_k=60)
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert max(fused, key=fused.get) == 1


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_one_hit_per_document(index, mode):
    hits = HybridRetriever(index, Config(), mode=mode).search("sentiment", k=5)
    doc_ids = [h.doc_id for h in hits]
    assert len(doc_ids) == len(set(doc_ids))
    assert "model:acme/big" in doc_ids and "model:acme/small" in doc_ids
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_hybrid_scores_are_rrf_of_both_ranks(index):
    cfg = Config(rrf_k=60)
    hits = HybridRetriever(index, cfg).search("cuda out of memory batch size", k=3)
    assert hits[0].doc_id == "thread:7"
    top = hits[0]
    expected = sum(1 / (60 + top.metadata[r]) for r in ("dense_rank", "bm25_rank")
                   if r in top.metadata)
    assert top.score == pytest.approx(expected)
    assert "bm25_rank" in top.metadata and "dense_rank" in top.metadata


def test_filters_by_kind_and_doc_ids(index):
    r = HybridRetriever(index, Config())
    hits = r.search("memory gpu sentiment", k=10, kinds=["thread"])
    assert hits and {h.kind for h in hits} == {"thread"}
    hits = r.search("sentiment", k=10, kinds="model", doc_ids=["model:acme/small"])
    assert [h.doc_id for h in hits] == ["model:acme/small"]
    assert r.search("sentiment", k=10, doc_ids=["model:nope"]) == []


def test_bm25_mode_ignores_words_absent_from_index(index):
    r = HybridRetriever(index, Config(), mode="bm25")
    assert r.search("zzzz qqqq", k=3) == []
    dense = HybridRetriever(index, Config(), mode="dense").search("zzzz qqqq", k=3)
    assert len(dense) == 3  # dense always returns its nearest neighbours


def test_k_and_empty_query(index):
    r = HybridRetriever(index, Config())
    assert r.search("", k=3) == []
    assert r.search("sentiment", k=0) == []
    assert len(r.search("sentiment model english", k=2)) == 2


def test_precomputed_query_vector_is_used(index, fake_embedder):
    r = HybridRetriever(index, Config(), mode="dense")
    before = fake_embedder.texts_seen
    qvec = index.embed_query("translation german")
    hits = r.search("translation german", k=1, qvec=qvec)
    assert hits[0].doc_id == "model:acme/translate"
    assert fake_embedder.texts_seen == before + 1  # only the explicit embed


def test_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        HybridRetriever(None, Config(), mode="magic")
