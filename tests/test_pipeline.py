"""builder.pipeline on real corpus slices: build -> load -> search, incremental rebuilds.

The expected documents are taken from the index itself (a document's own text must
find it), so nothing here hard-codes corpus content.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3

import pytest

import builder.embed
from advisor.errors import CorpusNotFoundError, IndexMismatchError
from advisor.index import AdvisorIndex
from builder import pipeline
from builder.pipeline import build
from tests.conftest import SMALL_INDEX_LIMIT, FakeEmbedder, small_index_config

KINDS = ["taxonomy", "thread", "model", "model2026"]


def _first_chunk(index: AdvisorIndex, kind: str):
    rows = index.rows_for(kind=kind)
    assert rows.size, f"no {kind} chunk in the small index"
    # a chunk with some substance, so its words identify it
    for row in rows[: min(rows.size, 200)]:
        hit = index.hits([(int(row), 0.0)])[0]
        if len(hit.text.split()) >= 12:
            return hit
    return index.hits([(int(rows[0]), 0.0)])[0]


def test_small_index_matches_its_manifest(small_index):
    m = small_index.manifest
    assert len(small_index) == m["counts"]["chunks"] == len(small_index.kinds)
    assert set(small_index.kinds) == set(KINDS)
    assert len(small_index.threads) == m["counts"]["threads"] > 0
    assert len(small_index.taxonomy) == m["counts"]["taxonomy"] > 0
    assert set(m["sources"]) == {"taxonomy", "threads", "cards2022", "hub2026"}
    assert m["sources"]["cards2022"]["kept"] <= 300 and m["sources"]["hub2026"]["kept"] <= 300
    assert m["embedded_new"] + m["reused_vectors"] >= 1
    if importlib.util.find_spec("advisor.classifier"):  # labelled, classifier saved
        assert m["classifier"]["fitted"] is True
        assert (small_index.index_dir / "classifier.npz").exists()
        assert all(t.category for t in small_index.threads.values())
    assert all(mi.id for mi in small_index.models.values())
    # every model with both records resolves to the 2026 one
    for mid in set(small_index.models) & set(small_index.models_2022):
        if small_index.models[mid].source != "2022":
            assert small_index.models[mid].source in {"2026", "hub"}


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_finds_the_document(small_index, kind):
    hit = _first_chunk(small_index, kind)
    query = " ".join(hit.text.split()[:40])
    dense = small_index.dense_search(small_index.embed_query(query), k=3)
    assert hit.doc_id in {small_index.hits([p])[0].doc_id for p in dense}
    sparse = small_index.bm25_search(query, k=3)
    assert hit.doc_id in {h.doc_id for h in small_index.hits(sparse)}
    # restricted to this kind, the top dense hit is this document
    top = small_index.hits(small_index.dense_search(
        small_index.embed_query(query), k=1, rows=small_index.rows_for(kind=kind)))[0]
    assert top.kind == kind and top.doc_id == hit.doc_id


def test_small_index_refuses_other_embedder(small_index_dir):
    cfg = small_index_config(small_index_dir)
    with pytest.raises(IndexMismatchError, match="python -m builder build --index-dir"):
        AdvisorIndex.load(cfg, embedder=FakeEmbedder(model_id="other"))


class RecordingEmbedder(FakeEmbedder):
    def __init__(self):
        super().__init__()
        self.texts: list[str] = []

    def encode(self, texts, batch_size=64):
        self.texts.extend(texts)
        return super().encode(texts, batch_size)


def _hashes(index_dir, doc_id=None):
    con = sqlite3.connect(index_dir / "store.sqlite")
    q, args = "SELECT hash, text FROM chunks", ()
    if doc_id:
        q, args = q + " WHERE doc_id = ?", (doc_id,)
    out = dict(con.execute(q, args).fetchall())
    con.close()
    return out


def test_incremental_rebuild(small_index_dir, corpus_dir, tmp_path, monkeypatch):
    cfg = small_index_config(tmp_path / "index", corpus_dir)
    shutil.copytree(small_index_dir, cfg.index_dir)
    first = json.loads((cfg.index_dir / "manifest.json").read_text())

    # 1. nothing changed: nothing is embedded (neither chunks nor classifier inputs)
    emb = FakeEmbedder()
    res = build(cfg, limit=SMALL_INDEX_LIMIT, embedder=emb)
    assert emb.texts_seen == 0 and res.embedded_new == 0 and res.rechunked == 0
    assert res.reused == res.counts["chunks"] == first["counts"]["chunks"]

    # 2. one document changed: only its changed chunks are embedded
    real_read = pipeline.read_sources
    target = {}

    def read_with_one_change(*a, **kw):
        data = real_read(*a, **kw)
        doc = next(d for d in data.model_docs if d.kind == "model2026")
        doc.text += " Now also supports Spanish sentiment analysis."
        target["id"] = doc.id
        return data

    monkeypatch.setattr(pipeline, "read_sources", read_with_one_change)
    old = _hashes(cfg.index_dir)
    emb = RecordingEmbedder()
    res = build(cfg, limit=SMALL_INDEX_LIMIT, embedder=emb)
    changed = _hashes(cfg.index_dir, target["id"])
    expected = {h for h in changed if h not in old}
    assert len(expected) >= 1
    # besides the changed chunks, only the task descriptions and the training requests are
    # embedded again (the task model learns from the model chunks, so a changed card
    # refits it)
    from advisor.config import TRAIN_REQUESTS_FILE
    from advisor.labelled import training_requests
    from advisor.tasks import load_task_specs

    descriptions = {f"{s.title}. {s.description}" for s in load_task_specs().values()}
    descriptions |= {q for q, _ in training_requests(TRAIN_REQUESTS_FILE)}
    chunk_texts = [t for t in emb.texts if t not in descriptions]
    assert res.embedded_new == len(chunk_texts) == len(expected)
    assert set(chunk_texts) == {changed[h] for h in expected}
    assert res.reused == res.counts["chunks"] - len(expected)
    assert res.rechunked == 1 and res.manifest["rechunked_documents"] == 1
    # the rebuilt index equals a from-scratch build of the same input
    scratch = small_index_config(tmp_path / "scratch", corpus_dir)
    build(scratch, limit=SMALL_INDEX_LIMIT, embedder=FakeEmbedder())
    assert _hashes(scratch.index_dir) == _hashes(cfg.index_dir)


def test_missing_corpus_is_a_typed_error(tmp_path):
    cfg = small_index_config(tmp_path / "index", tmp_path / "no-corpus")
    with pytest.raises(CorpusNotFoundError, match="ADVISOR_CORPUS_DIR"):
        build(cfg, limit=5, embedder=FakeEmbedder())
    assert not (tmp_path / "index").exists()


@pytest.mark.slow
def test_real_minilm_semantic_query(corpus_dir, tmp_path, monkeypatch):
    """A tiny index with the packaged MiniLM: a paraphrased question finds its category.

    Threads are cut to 40 and models to 5 per source to keep the real-model time small;
    the model is the configured one (ONNX backend), loaded by the build itself.
    """
    from advisor.config import Config

    real_read = pipeline.read_sources

    def fewer_threads(*a, **kw):
        data = real_read(*a, **kw)
        data.threads = data.threads[:40]
        return data

    monkeypatch.setattr(pipeline, "read_sources", fewer_threads)
    cfg = Config.from_env(corpus_dir=corpus_dir, index_dir=tmp_path / "index",
                          disable_progress=True)
    res = build(cfg, limit=5)
    assert res.embedded_new > 0
    index = AdvisorIndex.load(cfg)  # creates its own (cached) embedder lazily
    rows = index.rows_for(kind="taxonomy")
    q = index.embed_query("my GPU runs out of RAM and inference is very slow")
    top = index.hits(index.dense_search(q, k=3, rows=rows))
    assert any(h.doc_id.startswith("taxonomy:challenge:memory-performance") for h in top), [
        h.doc_id for h in top
    ]


def test_no_change_rebuild_does_not_load_the_model(small_index_dir, corpus_dir, tmp_path,
                                                   monkeypatch):
    cfg = small_index_config(tmp_path / "index", corpus_dir)
    shutil.copytree(small_index_dir, cfg.index_dir)
    calls = []

    def fake_get_embedder(*args, **kwargs):
        calls.append(args)
        return FakeEmbedder()

    monkeypatch.setattr(builder.embed, "get_embedder", fake_get_embedder)
    res = build(cfg, limit=SMALL_INDEX_LIMIT)  # no embedder passed: the lazy one
    assert calls == [] and res.embedded_new == 0
    res = build(cfg, limit=SMALL_INDEX_LIMIT + 5)  # new cards: now the model is needed
    assert len(calls) == 1 and res.embedded_new > 0


def test_classifier_refit_when_its_features_change(small_index_dir, corpus_dir, tmp_path,
                                                    monkeypatch):
    """A new FEATURES_VERSION must not reuse a fit made with the old featuriser."""
    import advisor.classifier

    cfg = small_index_config(tmp_path / "index", corpus_dir)
    shutil.copytree(small_index_dir, cfg.index_dir)
    res = build(cfg, limit=SMALL_INDEX_LIMIT, embedder=FakeEmbedder())
    assert res.manifest["classifier"]["reused"] is True
    monkeypatch.setattr(advisor.classifier, "FEATURES_VERSION",
                        advisor.classifier.FEATURES_VERSION + 1)
    res = build(cfg, limit=SMALL_INDEX_LIMIT, embedder=FakeEmbedder())
    assert res.manifest["classifier"]["reused"] is False


def test_manifest_records_the_backend_that_embedded(corpus_dir, tmp_path):
    """If the ONNX export fell back to torch, the manifest must say torch."""
    cfg = small_index_config(tmp_path / "index", corpus_dir).replace(embed_backend="onnx")
    emb = FakeEmbedder()
    emb.backend = "torch"  # what get_embedder returns after a fallback
    res = build(cfg, limit=5, embedder=emb)
    assert res.manifest["embed_backend"] == "torch"


def test_no_change_rebuild_rewrites_and_rechunks_nothing(small_index_dir, corpus_dir, tmp_path,
                                                        monkeypatch):
    """The parsed records come from the cache the first rebuild writes; the chunker (its
    tokenizer) is never loaded; the vectors, the store and BM25 are taken over."""
    import builder.chunk
    from builder.sources import cache

    cfg = small_index_config(tmp_path / "index", corpus_dir)
    shutil.copytree(small_index_dir, cfg.index_dir)
    monkeypatch.setattr(builder.chunk, "_counter_for",
                        lambda cfg: pytest.fail("the chunker was loaded"))
    first = build(cfg, limit=SMALL_INDEX_LIMIT, embedder=FakeEmbedder())
    assert all(p["reused"] for p in first.manifest["parts"].values()), first.manifest["parts"]

    def no_parsing(*args, **kwargs):
        raise AssertionError("a card file was parsed again")

    monkeypatch.setattr(cache, "_store", no_parsing)  # a cache miss would store anew
    second = build(cfg, limit=SMALL_INDEX_LIMIT, embedder=FakeEmbedder())
    assert second.rechunked == 0 and second.embedded_new == 0
    assert second.manifest["sources"] == first.manifest["sources"]
    assert second.manifest["files"] == first.manifest["files"]


def test_the_knowledge_base_is_read_once_a_build_and_a_broken_one_is_left_out(
        small_index_dir, corpus_dir, tmp_path, monkeypatch, caplog):
    """The classifier's KB texts and the KB vectors come from one read of the entries;
    a broken entry file leaves the KB out (the classifier is refitted without its texts)
    and the build still completes, naming the file."""
    import advisor.kb_store
    import advisor.known_issues
    from advisor.errors import KnowledgeBaseError

    cfg = small_index_config(tmp_path / "index", corpus_dir)
    shutil.copytree(small_index_dir, cfg.index_dir)
    real = advisor.known_issues.load_known_issues
    calls = []

    def counted(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(advisor.known_issues, "load_known_issues", counted)
    build(cfg, limit=SMALL_INDEX_LIMIT, embedder=FakeEmbedder())
    assert len(calls) == 1
    assert (cfg.index_dir / advisor.kb_store.VECTORS_FILE).exists()

    def broken(*a, **kw):
        raise KnowledgeBaseError("bad-entry.yaml: unreadable")

    monkeypatch.setattr(advisor.known_issues, "load_known_issues", broken)
    res = build(cfg, limit=SMALL_INDEX_LIMIT, embedder=FakeEmbedder())
    assert res.manifest["classifier"]["fitted"] and "bad-entry.yaml" in caplog.text


def test_a_failed_build_closes_the_text_vector_cache(corpus_dir, tmp_path, monkeypatch):
    """The cache's SQLite file is closed when a later stage fails, and the failure is the
    one raised (not hidden by the close)."""
    made = []

    class Recording(pipeline.CachedEmbedder):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.closed = False
            made.append(self)

        def close(self):
            self.closed = True
            super().close()

    def fail(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline, "CachedEmbedder", Recording)
    monkeypatch.setattr(pipeline, "write_index", fail)
    cfg = small_index_config(tmp_path / "index", corpus_dir)
    with pytest.raises(OSError, match="disk full"):
        build(cfg, limit=5, embedder=FakeEmbedder())
    assert len(made) == 1 and made[0].closed and made[0]._db is None
    assert made[0].misses > 0  # it was used (and opened) before the failure
