"""Our index vs llama-index's default ``VectorStoreIndex`` on the same chunks and vectors.

The peer is llama-index-core's default pipeline: ``VectorStoreIndex`` over
``TextNode`` objects in the in-memory ``SimpleVectorStore`` plus ``SimpleDocumentStore``,
saved with ``storage_context.persist`` and read back with ``load_index_from_storage``.
Each node carries the vector already stored in our ``index/vectors.faiss`` (so nothing
is re-embedded and both sides rank the same numbers) and the same text and metadata
(doc id, kind, title, url) as our ``store.sqlite`` row. ``MockEmbedding`` is set as the
embed model only so llama-index does not try to load a default one; queries pass their
vector in a ``QueryBundle``, so it is never called.

Sizes: (a) a fixed 10k-chunk sample, where our side is the same FAISS ``IndexFlatIP``
layout over the same vectors; (b) every chunk of the built index, where our side is the
real :meth:`advisor.index.AdvisorIndex.load` (vectors, BM25, side tables) and
``dense_search`` (+ ``hits`` for the text, as the llama-index retriever returns nodes
with text). Query vectors are stored chunk vectors (random rows): latency does not
depend on which unit vector is asked. llama-index queries stop after
``DEFAULT_QUERY_BUDGET_S`` seconds per size, since its pure-Python top-k re-reads every
vector per query; the number of timed queries is recorded. RSS figures are in-process
deltas (approximate: freed memory is not always returned to the OS).

Run: ``python -m bench.llamaindex_baseline`` (needs a built ``index/``; ~5-10 min).
"""

from __future__ import annotations

import argparse
import gc
import logging
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/llamaindex_baseline.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    DEFAULT_INDEX_DIR,
    dir_size,
    md_table,
    mib,
    percentiles,
    rss_bytes,
    setup_logging,
    write_result,
)

log = logging.getLogger(__name__)

DEFAULT_SIZES = (10_000, None)  # None = every chunk of the index
DEFAULT_QUERIES = 200
DEFAULT_K = 10
DEFAULT_QUERY_BUDGET_S = 60.0  # per side and size: enough for stable p50/p95


def read_rows(index_dir: Path) -> tuple[np.ndarray, list[tuple]]:
    """All vectors (n, dim) and (row, id, doc_id, kind, title, url, text) of an index."""
    import faiss

    from advisor.index import STORE_FILE, VECTORS_FILE

    fx = faiss.read_index(str(Path(index_dir) / VECTORS_FILE))
    vecs = fx.reconstruct_n(0, fx.ntotal)  # (n, dim) float32
    con = sqlite3.connect(f"file:{Path(index_dir) / STORE_FILE}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT row, id, doc_id, kind, title, url, text FROM chunks ORDER BY row"
        ).fetchall()
    finally:
        con.close()
    return vecs, rows


def _time_queries(fn, qvecs: np.ndarray, budget_s: float) -> list[float]:
    out: list[float] = []
    start = time.perf_counter()
    for q in qvecs:
        t0 = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t0) * 1000.0)
        if time.perf_counter() - start > budget_s:
            break
    return out


def bench_llamaindex(vecs: np.ndarray, rows: list[tuple], qvecs: np.ndarray, k: int,
                     budget_s: float) -> dict:
    """Build, persist, load and query llama-index's default index; return figures."""
    from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.schema import QueryBundle, TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery

    dim = vecs.shape[1]
    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    nodes = [
        TextNode(id_=r[1], text=r[6], embedding=v.tolist(),
                 metadata={"doc_id": r[2], "kind": r[3], "title": r[4], "url": r[5]})
        for r, v in zip(rows, vecs, strict=True)
    ]
    index = VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=dim))
    build_s = time.perf_counter() - t0
    rss_build = rss_bytes() - rss0
    del nodes
    tmp = Path(tempfile.mkdtemp(prefix="bench-llama-"))
    try:
        t0 = time.perf_counter()
        index.storage_context.persist(persist_dir=str(tmp))
        persist_s = time.perf_counter() - t0
        size = dir_size(tmp)
        del index
        gc.collect()
        t0 = time.perf_counter()
        index = load_index_from_storage(StorageContext.from_defaults(persist_dir=str(tmp)),
                                        embed_model=MockEmbedding(embed_dim=dim))
        load_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    store = index.vector_store
    retriever = index.as_retriever(similarity_top_k=k)
    vs_ms = _time_queries(
        lambda q: store.query(VectorStoreQuery(query_embedding=q.tolist(), similarity_top_k=k)),
        qvecs, budget_s)
    ret_ms = _time_queries(
        lambda q: retriever.retrieve(QueryBundle(query_str="q", embedding=q.tolist())),
        qvecs, budget_s)
    return {"build_s": build_s, "persist_s": persist_s, "load_s": load_s, "disk": size,
            "rss_build": rss_build, "search": percentiles(vs_ms),
            "search_text": percentiles(ret_ms)}


def bench_ours_sample(vecs: np.ndarray, qvecs: np.ndarray, k: int, budget_s: float) -> dict:
    """Our storage layout for a sample: FAISS IndexFlatIP over the same vectors."""
    import faiss

    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    fx = faiss.IndexFlatIP(vecs.shape[1])
    fx.add(np.ascontiguousarray(vecs))
    build_s = time.perf_counter() - t0
    rss_build = rss_bytes() - rss0
    tmp = Path(tempfile.mkdtemp(prefix="bench-faiss-"))
    try:
        t0 = time.perf_counter()
        faiss.write_index(fx, str(tmp / "v.faiss"))
        persist_s = time.perf_counter() - t0
        size = dir_size(tmp)
        t0 = time.perf_counter()
        fx = faiss.read_index(str(tmp / "v.faiss"))
        load_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ms = _time_queries(lambda q: fx.search(q.reshape(1, -1), k), qvecs, budget_s)
    return {"build_s": build_s, "persist_s": persist_s, "load_s": load_s, "disk": size,
            "rss_build": rss_build, "search": percentiles(ms), "search_text": None}


def bench_ours_full(index_dir: Path, qvecs: np.ndarray, k: int, budget_s: float,
                    embedder=None) -> dict:
    """The real loader and search on the whole built index."""
    from advisor.config import Config
    from advisor.index import AdvisorIndex

    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    idx = AdvisorIndex.load(Config(index_dir=Path(index_dir)), embedder=embedder)
    load_s = time.perf_counter() - t0
    rss_load = rss_bytes() - rss0
    ms = _time_queries(lambda q: idx.dense_search(q, k), qvecs, budget_s)
    ms_text = _time_queries(lambda q: idx.hits(idx.dense_search(q, k)), qvecs, budget_s)
    # build_s None: our build embeds and writes BM25 too (bench/build.py has its time)
    return {"build_s": None, "persist_s": None,
            "load_s": load_s, "disk": dir_size(Path(index_dir)), "rss_build": rss_load,
            "search": percentiles(ms), "search_text": percentiles(ms_text)}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _ratio(a, b) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def _table_rows(label: str, n: int, ours: dict, peer: dict) -> list[dict]:
    def row(who: str, d: dict) -> dict:
        st = d["search_text"]
        return {
            "size": f"{label} ({n:,})", "system": who,
            "build_s": _round(d["build_s"]),
            "persist_s": _round(d["persist_s"]),
            "load_s": _round(d["load_s"]),
            "search_p50_ms": d["search"]["p50"], "search_p95_ms": d["search"]["p95"],
            "with_text_p50_ms": st["p50"] if st else None,
            "disk_mib": mib(d["disk"]), "rss_mib": mib(d["rss_build"]),
            "queries": d["search"]["n"],
        }

    a, b = row("ours", ours), row("llama-index", peer)
    ratio = {"size": a["size"], "system": "llama-index / ours"}
    for key in ("build_s", "persist_s", "load_s", "search_p50_ms", "search_p95_ms",
                "with_text_p50_ms", "disk_mib", "rss_mib"):
        ratio[key] = _ratio(b[key], a[key])
    return [a, b, ratio]


def main(
    index_dir: Path = DEFAULT_INDEX_DIR,
    sizes: tuple[int | None, ...] = DEFAULT_SIZES,
    n_queries: int = DEFAULT_QUERIES,
    k: int = DEFAULT_K,
    budget_s: float = DEFAULT_QUERY_BUDGET_S,
    out_dir: Path | None = None,
    seed: int = 0,
    embedder=None,
) -> dict:
    """Compare both systems at each size; write JSON and print a table."""
    vecs, rows = read_rows(index_dir)
    n_all = vecs.shape[0]
    rng = np.random.default_rng(seed)
    qvecs = vecs[rng.choice(n_all, min(n_queries, n_all), replace=False)]
    table: list[dict] = []
    raw: list[dict] = []
    for size in sizes:
        if size is None or size >= n_all:
            label, take = "all", np.arange(n_all)
            ours = bench_ours_full(index_dir, qvecs, k, budget_s, embedder)
        else:
            label, take = "sample", np.sort(rng.choice(n_all, size, replace=False))
            ours = bench_ours_sample(vecs[take], qvecs, k, budget_s)
        peer = bench_llamaindex(vecs[take], [rows[i] for i in take], qvecs, k, budget_s)
        table += _table_rows(label, int(take.size), ours, peer)
        raw.append({"size": label, "n": int(take.size), "ours": ours, "llamaindex": peer})
        gc.collect()
    result = {"rows": table, "raw": raw, "k": k}
    result["path"] = str(write_result("llamaindex_baseline", result, out_dir))
    print(md_table(table))
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX_DIR)
    ap.add_argument("--sample", type=int, default=DEFAULT_SIZES[0])
    ap.add_argument("--no-full", action="store_true", help="skip the all-chunks size")
    ap.add_argument("--queries", type=int, default=DEFAULT_QUERIES)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    setup_logging(a.verbose)
    main(index_dir=a.index_dir, sizes=(a.sample,) if a.no_full else (a.sample, None),
         n_queries=a.queries)
