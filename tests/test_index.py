"""advisor.index: load checks (typed errors with the fix), search, filters, threads."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest

from advisor.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from advisor.index import AdvisorIndex
from tests.conftest import FakeEmbedder
from tests.test_store import TEXTS, build


@pytest.fixture
def built(tmp_path, fake_embedder):
    cfg, _, _ = build(tmp_path, fake_embedder)
    return cfg


def test_missing_index_says_how_to_build(tmp_path, fake_embedder):
    from advisor.config import Config

    cfg = Config(index_dir=tmp_path / "nowhere")
    with pytest.raises(IndexNotFoundError, match=r"No index at .*nowhere.*python -m builder build --index-dir"):
        AdvisorIndex.load(cfg, embedder=fake_embedder)


@pytest.mark.parametrize(
    "change, embedder",
    [
        ({"format_version": 99}, FakeEmbedder()),
        ({}, FakeEmbedder(model_id="another-model")),
        ({}, FakeEmbedder(dim=32)),
        ({"dim": 32}, FakeEmbedder(dim=32)),  # manifest dim edited, vectors still 64
    ],
    ids=["format-version", "embed-model", "embedder-dim", "manifest-dim"],
)
def test_mismatch_raises_with_rebuild_command(built, change, embedder):
    path = built.index_dir / "manifest.json"
    man = json.loads(path.read_text())
    man.update(change)
    path.write_text(json.dumps(man))
    err = IndexMismatchError if change.get("dim") is None else IndexCorruptError
    with pytest.raises(err, match="python -m builder build --index-dir"):
        AdvisorIndex.load(built, embedder=embedder)


def test_config_model_mismatch_without_embedder(built):
    with pytest.raises(IndexMismatchError, match="packaged:all-MiniLM-L6-v2"):
        AdvisorIndex.load(built.replace(embed_model="packaged:all-MiniLM-L6-v2"))


def _truncate_faiss(d):
    p = d / "vectors.faiss"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _garbage_manifest(d):
    (d / "manifest.json").write_text("{not json")


def _garbage_sqlite(d):
    (d / "store.sqlite").write_bytes(b"this is not a database" * 100)


def _drop_sqlite_row(d):
    import sqlite3

    con = sqlite3.connect(d / "store.sqlite")
    con.execute("DELETE FROM chunks WHERE row = 0")
    con.commit()
    con.close()


def _truncate_bm25(d):
    for p in (d / "bm25").glob("*.npy"):
        p.write_bytes(p.read_bytes()[:10])


@pytest.mark.parametrize(
    "damage",
    [
        _truncate_faiss,
        lambda d: (d / "vectors.faiss").unlink(),
        lambda d: (d / "store.sqlite").unlink(),
        _garbage_sqlite,
        _drop_sqlite_row,
        _garbage_manifest,
        _truncate_bm25,
        lambda d: shutil.rmtree(d / "bm25"),
    ],
    ids=["truncated-faiss", "no-faiss", "no-sqlite", "garbage-sqlite", "row-count",
         "garbage-manifest", "truncated-bm25", "no-bm25"],
)
def test_corrupt_files_raise_with_rebuild_command(built, fake_embedder, damage):
    damage(built.index_dir)
    with pytest.raises(IndexCorruptError, match="python -m builder build --index-dir"):
        AdvisorIndex.load(built, embedder=fake_embedder)


def test_loader_does_not_create_a_missing_sqlite(built, fake_embedder):
    (built.index_dir / "store.sqlite").unlink()
    with pytest.raises(IndexCorruptError, match="store.sqlite is missing"):
        AdvisorIndex.load(built, embedder=fake_embedder)
    assert not (built.index_dir / "store.sqlite").exists()


@pytest.mark.parametrize(
    "query, doc_id",
    [
        ("out of memory on my GPU while fine-tuning", "thread:1"),
        ("LABEL_0 LABEL_1 positive negative", "thread:2"),
        ("sentiment of English reviews", "model:acme/sentiment"),
        ("my Gradio Space does not run", "taxonomy:challenge:spaces"),
    ],
)
def test_dense_and_bm25_find_the_document(built, fake_embedder, query, doc_id):
    idx = AdvisorIndex.load(built, embedder=fake_embedder)
    dense = idx.hits(idx.dense_search(idx.embed_query(query), k=2))
    assert dense[0].doc_id == doc_id
    sparse = idx.hits(idx.bm25_search(query, k=2))
    assert sparse[0].doc_id == doc_id
    assert sparse[0].text == TEXTS[doc_id] and sparse[0].url.endswith(doc_id)


def test_row_filters(built, fake_embedder):
    idx = AdvisorIndex.load(built, embedder=fake_embedder)
    threads = idx.rows_for(kind="thread")
    assert sorted(idx.doc_ids[threads]) == ["thread:1", "thread:2"]
    model_rows = idx.rows_for(doc_ids=["model:acme/sentiment"])
    assert list(idx.kinds[model_rows]) == ["model"]
    assert idx.rows_for(kind="thread", doc_ids=["model:acme/sentiment"]).size == 0
    q = idx.embed_query("sentiment of English reviews")
    # restricted to threads, the model chunk cannot come back
    got = idx.dense_search(q, k=5, rows=threads)
    assert {r for r, _ in got} <= set(threads.tolist()) and len(got) == 2
    assert all(r in set(threads.tolist()) for r, _ in idx.bm25_search("memory label", 5, threads))
    assert idx.dense_search(q, k=5, rows=np.array([], dtype=np.int64)) == []
    assert idx.bm25_search("zzzz qqqq", k=5) == []


def test_dense_search_matches_faiss_and_scores_once(built, fake_embedder):
    """The flat index's scores are computed once per query vector and every search,
    filtered or not, selects from them: same rows and scores as FAISS's own search."""
    idx = AdvisorIndex.load(built, embedder=fake_embedder)
    q = idx.embed_query("CUDA out of memory while training")
    threads = idx.rows_for(kind="thread")
    for rows in (None, threads):
        for k in (1, 2, len(idx) + 3):
            got = idx.dense_search(q, k, rows=rows)
            want = idx._dense._faiss_search(q, k, rows)
            # same scores in the same order; rows may swap only where scores tie
            assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
            assert (sorted((round(s, 4), r) for r, s in got)
                    == sorted((round(s, 4), r) for r, s in want))
    q2 = idx.embed_query("a Space that does not start")
    first = idx._dense.scores(q2)
    idx.dense_search(q2, 2)
    idx.dense_search(q2, 2, rows=threads)
    assert idx._dense.scores(q2) is first  # one product per vector, reused
    assert first.flags.writeable is False
    for i in range(20):  # bounded: old vectors are dropped
        idx._dense.scores(np.full(q2.shape, i, dtype=np.float32))
    assert idx._dense.scores(q2) is not first and len(idx._dense._scores) <= 8


def test_side_tables_prefer_2026_record(built, fake_embedder):
    idx = AdvisorIndex.load(built, embedder=fake_embedder)
    assert idx.models["acme/sentiment"].source == "2026"
    assert idx.models_2022["acme/sentiment"].source == "2022"
    assert idx.threads[1].codes == ["oom"]
    assert idx.taxonomy[0].category == "Spaces"


def test_concurrent_reads(built, fake_embedder):
    idx = AdvisorIndex.load(built, embedder=fake_embedder)
    q = idx.embed_query("CUDA out of memory")
    errors, results = [], []

    def worker():
        try:
            for _ in range(20):
                results.append(idx.hits(idx.dense_search(q, 3))[0].doc_id)
                results.append(idx.hits(idx.bm25_search("memory", 3))[0].doc_id)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors and set(results) == {"thread:1"}


def test_rows_for_keeps_the_rows_of_a_fixed_doc_id_tuple(small_index):
    docs = sorted({d for d in small_index.doc_ids})[:5]
    as_list = small_index.rows_for(kind=None, doc_ids=list(docs))
    first = small_index.rows_for(kind=None, doc_ids=tuple(docs))
    assert first.tolist() == as_list.tolist() and len(first) >= 5
    assert small_index.rows_for(kind=None, doc_ids=tuple(docs)) is first  # kept
    assert not first.flags.writeable  # shared between requests: read-only
    kind = str(small_index.kinds[int(first[0])])
    with_kind = small_index.rows_for(kind=kind, doc_ids=tuple(docs))  # a separate entry
    assert with_kind.tolist() == small_index.rows_for(kind=kind, doc_ids=list(docs)).tolist()
    assert 0 < len(with_kind) <= len(first)
