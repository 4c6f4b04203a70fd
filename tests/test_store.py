"""builder.store + builder.embed on invented chunks: files, manifest, atomic swap, reuse."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import numpy as np
import pytest

from advisor.config import Config
from advisor.index import AdvisorIndex
from advisor.types import Chunk, ModelInfo, TaxonomyEntry, ThreadInfo
from builder import store
from builder.embed import embed_chunks
from builder.store import read_vector_cache, write_index

TEXTS = {
    "thread:1": "CUDA out of memory when fine-tuning a large model on a small GPU",
    "thread:2": "The pipeline returns LABEL_0 and LABEL_1 instead of positive and negative",
    "model:acme/sentiment": "A sentiment classifier for English product reviews",
    "taxonomy:challenge:spaces": "Problems building or running a Gradio Space on the Hub",
}


def make_chunks(texts: dict[str, str] = TEXTS) -> list[Chunk]:
    out = []
    for doc_id, text in texts.items():
        kind = doc_id.split(":")[0]
        out.append(
            Chunk(
                id=f"{doc_id}#0", doc_id=doc_id, kind=kind, title=doc_id, text=text,
                url=f"https://example.org/{doc_id}",
                content_hash=hashlib.sha1(text.encode()).hexdigest(),
                metadata={"n": len(text)},
            )
        )
    return out


def build(tmp_path, embedder, texts=TEXTS, previous=None):
    cfg = Config(index_dir=tmp_path / "index", embed_model=embedder.model_id,
                 disable_progress=True)
    chunks = make_chunks(texts)
    res = embed_chunks(chunks, embedder, cfg, previous=previous)
    man = write_index(
        cfg.index_dir, chunks, res.vectors,
        models=[ModelInfo(id="acme/sentiment", source="2022"),
                ModelInfo(id="acme/sentiment", source="2026", downloads=7)],
        threads=[ThreadInfo(topic_id=1, forum_category="Beginners", codes=["oom"], url="u")],
        taxonomy=[TaxonomyEntry("challenge", "Spaces", "", "d", "e", None, 3)],
        manifest={"embed_model": embedder.model_id},
    )
    return cfg, res, man


def test_writes_every_file_and_manifest(tmp_path, fake_embedder):
    cfg, res, man = build(tmp_path, fake_embedder)
    d = cfg.index_dir
    assert {p.name for p in d.iterdir()} >= {"manifest.json", "vectors.faiss",
                                              "store.sqlite", "bm25"}
    on_disk = json.loads((d / "manifest.json").read_text())
    assert on_disk == man
    assert man["format_version"] == 1 and man["dim"] == 64 and man["metric"] == "ip"
    assert man["counts"]["chunks"] == len(TEXTS)
    assert man["counts"]["models"] == 1 and man["counts"]["model_records"] == 2
    con = sqlite3.connect(d / "store.sqlite")
    rows = con.execute("SELECT row, id, text FROM chunks ORDER BY row").fetchall()
    assert [r[2] for r in rows] == list(TEXTS.values())
    assert res.embedded_new == len(TEXTS) and res.reused == 0
    # no temp dir left beside the index
    assert [p.name for p in tmp_path.iterdir()] == ["index"]


def test_vector_cache_reuses_only_same_model(tmp_path, fake_embedder):
    from tests.conftest import FakeEmbedder

    cfg, res, _ = build(tmp_path, fake_embedder)
    cache = read_vector_cache(cfg.index_dir, fake_embedder.model_id, 64)
    assert len(cache) == len(TEXTS)
    assert read_vector_cache(cfg.index_dir, "other-model", 64) == {}
    assert read_vector_cache(cfg.index_dir, fake_embedder.model_id, 32) == {}

    changed = dict(TEXTS, **{"thread:1": "Out of memory with batch size 64 on CPU"})
    emb2 = FakeEmbedder()
    _, res2, _ = build(tmp_path, emb2, texts=changed, previous=cache)
    assert emb2.texts_seen == 1
    assert res2.embedded_new == 1 and res2.reused == len(TEXTS) - 1
    # reused rows are bit-identical to a fresh embedding
    np.testing.assert_allclose(res2.vectors, FakeEmbedder().encode(list(changed.values())),
                               atol=1e-6)


def test_duplicate_texts_embedded_once(tmp_path, fake_embedder):
    texts = {"thread:1": "same words", "thread:2": "same words", "thread:3": "other"}
    _, res, _ = build(tmp_path, fake_embedder, texts=texts)
    assert fake_embedder.texts_seen == 2 and res.embedded_new == 2
    np.testing.assert_array_equal(res.vectors[0], res.vectors[1])


def test_failed_write_keeps_old_index(tmp_path, fake_embedder, monkeypatch):
    cfg, _, man = build(tmp_path, fake_embedder)
    (cfg.index_dir / "README.md").write_text("kept")

    def boom(path, chunks):
        (path / "partial").mkdir(parents=True)
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(store, "_write_bm25", boom)
    with pytest.raises(RuntimeError):
        build(tmp_path, fake_embedder, texts={"thread:9": "a different corpus"})
    monkeypatch.undo()
    idx = AdvisorIndex.load(cfg, embedder=fake_embedder)  # old index still usable
    assert idx.manifest["built_at"] == man["built_at"] and len(idx) == len(TEXTS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]

    # A SIGKILLed build leaves its temp dir; the next build removes it and completes.
    stale = tmp_path / ".index.tmp-99999"
    (stale / "bm25").mkdir(parents=True)
    _, _, man2 = build(tmp_path, fake_embedder, texts={"thread:9": "a different corpus"})
    assert not stale.exists()
    assert AdvisorIndex.load(cfg, embedder=fake_embedder).manifest == man2
    assert (cfg.index_dir / "README.md").read_text() == "kept"  # not ours: carried over


def test_killed_mid_swap_is_recovered(tmp_path, fake_embedder):
    cfg, _, man = build(tmp_path, fake_embedder)
    # the state between the two renames of the swap: old set aside, new not in place
    cfg.index_dir.rename(tmp_path / ".index.old-4242")
    store.recover_interrupted_swap(cfg.index_dir)
    assert AdvisorIndex.load(cfg, embedder=fake_embedder).manifest == man


KILL_SCRIPT = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from builder import store
from tests.conftest import FakeEmbedder
from tests.test_store import build

def die(path, chunks):
    os.kill(os.getpid(), signal.SIGKILL)  # after vectors + sqlite are in the temp dir

store._write_bm25 = die
build(Path({tmp!r}), FakeEmbedder(), texts={{"thread:7": "text of a build that never lands"}})
"""


def test_sigkilled_build_leaves_old_index_usable(tmp_path, fake_embedder):
    import subprocess
    import sys

    from tests.conftest import REPO

    cfg, _, man = build(tmp_path, fake_embedder)
    script = KILL_SCRIPT.format(repo=str(REPO), tmp=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "index"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".index.tmp-")
    assert AdvisorIndex.load(cfg, embedder=fake_embedder).manifest == man
    _, _, man2 = build(tmp_path, fake_embedder, texts={"thread:8": "the next build"})
    assert [p.name for p in tmp_path.iterdir()] == ["index"]
    assert AdvisorIndex.load(cfg, embedder=fake_embedder).manifest == man2


# --- taking over unchanged parts of the previous index ------------------------------
def _inodes(index_dir):
    return {name: (index_dir / name).stat().st_ino for name in ("vectors.faiss", "store.sqlite")}


def test_unchanged_rebuild_takes_every_part_over(tmp_path, fake_embedder):
    from advisor.hub_index import verify_files

    cfg, _, man = build(tmp_path, fake_embedder)
    assert {n: p["reused"] for n, p in man["parts"].items()} == {
        "vectors": False, "store": False, "bm25": False}
    before = _inodes(cfg.index_dir)
    cache = read_vector_cache(cfg.index_dir, fake_embedder.model_id, 64)
    _, _, man2 = build(tmp_path, fake_embedder, previous=cache)
    assert all(p["reused"] for p in man2["parts"].values())
    assert _inodes(cfg.index_dir) == before  # the same files, not rewritten copies
    assert man2["files"] == man["files"] and verify_files(cfg.index_dir, man2) > 0
    idx = AdvisorIndex.load(cfg, embedder=fake_embedder)
    assert [h.doc_id for h in idx.hits(idx.bm25_search("GPU memory", k=1))] == ["thread:1"]
    assert [tmp.name for tmp in tmp_path.iterdir()] == ["index"]  # the old dir is gone


def test_changed_rows_rewrite_only_their_parts(tmp_path, fake_embedder):
    cfg, _, _ = build(tmp_path, fake_embedder)
    cache = read_vector_cache(cfg.index_dir, fake_embedder.model_id, 64)
    chunks = make_chunks()
    chunks[0].metadata["n"] = -1  # stored metadata only: vectors and BM25 text unchanged
    from builder.embed import embed_chunks as embed

    res = embed(chunks, fake_embedder, cfg, previous=cache)
    man = write_index(cfg.index_dir, chunks, res.vectors, manifest={"embed_model": "x"})
    assert {n: p["reused"] for n, p in man["parts"].items()} == {
        "vectors": True, "store": False, "bm25": True}
    con = sqlite3.connect(cfg.index_dir / "store.sqlite")
    assert json.loads(con.execute("SELECT meta FROM chunks WHERE row = 0").fetchone()[0]) == {"n": -1}
    con.close()
    changed = dict(TEXTS, **{"thread:1": "Out of memory with batch size 64 on CPU"})
    _, _, man = build(tmp_path, fake_embedder, texts=changed, previous=cache)
    assert not any(p["reused"] for p in man["parts"].values())


def test_damaged_previous_part_is_written_anew(tmp_path, fake_embedder):
    from advisor.hub_index import verify_files

    cfg, _, man = build(tmp_path, fake_embedder)
    with open(cfg.index_dir / "store.sqlite", "ab") as f:
        f.write(b"appended garbage")  # its size no longer matches the manifest
    _, _, man2 = build(tmp_path, fake_embedder)
    assert man2["parts"]["store"]["reused"] is False and man2["parts"]["bm25"]["reused"] is True
    assert man2["files"]["store.sqlite"] == man["files"]["store.sqlite"]
    assert verify_files(cfg.index_dir, man2) > 0


def test_changed_writer_rewrites_its_part(tmp_path, fake_embedder, monkeypatch):
    cfg, _, _ = build(tmp_path, fake_embedder)
    cache = read_vector_cache(cfg.index_dir, fake_embedder.model_id, 64)
    real = store._write_faiss

    def write_faiss_another_way(path, vectors):  # e.g. another FAISS index type
        real(path, vectors)

    monkeypatch.setattr(store, "_write_faiss", write_faiss_another_way)
    _, _, man = build(tmp_path, fake_embedder, previous=cache)
    assert {n: p["reused"] for n, p in man["parts"].items()} == {
        "vectors": False, "store": True, "bm25": True}
