"""How FAISS index types scale: build time, single-query latency, size and recall@10.

Compares ``IndexFlatIP`` (what ``index/vectors.faiss`` holds today) with ``IndexIVFFlat``
(nlist ~ 4*sqrt(n), nprobe 8 and 16) and ``IndexHNSWFlat`` (M=32, efSearch 64) on

* synthetic random unit vectors (dim 384, like MiniLM) at 1k, 10k, 100k and 1M rows,
  generated in chunks so the generator never holds more than one chunk of float64;
* the real model-card corpus vectors (first 1k, 10k, then all rows of a built
  ``index/vectors.faiss``) when such an index exists.

Recall@10 is measured against exact (flat) search on the same queries. Random vectors in
384 dimensions have no cluster structure, so they are the *pessimistic* case for IVF and
HNSW recall; the real-corpus rows show the realistic one (queries there are held-out
corpus vectors). This script does not change the project's index type; it reports where
the change should happen.

Run: ``python -m bench.scaling`` (all sizes, ~15-25 min on 2 cores with 1M) or
``python -m bench.scaling --sizes 1000,10000 --queries 50`` for a quick look.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/scaling.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    DEFAULT_INDEX_DIR,
    md_table,
    mib,
    percentiles,
    rss_bytes,
    setup_logging,
    time_each,
    write_result,
)

log = logging.getLogger(__name__)

DEFAULT_DIM = 384  # all-MiniLM-L6-v2
DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000)
DEFAULT_REAL_SIZES = (1_000, 10_000, None)  # None = every row of the built index
DEFAULT_QUERIES = 200
DEFAULT_K = 10
DEFAULT_NPROBES = (8, 16)
DEFAULT_HNSW_M = 32  # links per node; 32 is FAISS's usual choice for d~384
DEFAULT_HNSW_EF_SEARCH = 64
DEFAULT_GEN_CHUNK = 100_000  # rows generated at a time (bounds float64 temporaries)
# k-means on 2 cores: train IVF on at most 64 points per list, 10 iterations. FAISS warns
# below 39 per list; more points or iterations raise build time, not recall, noticeably.
DEFAULT_IVF_TRAIN_PER_LIST = 64
DEFAULT_IVF_NITER = 10
KINDS = ("flat", "ivf", "hnsw")


@dataclass
class ScalingRow:
    """One (dataset, size, index type, search setting) measurement."""

    data: str  # "random" or "corpus"
    n: int
    index: str  # e.g. "IVFFlat nlist=4000 nprobe=8"
    build_s: float
    p50_ms: float
    p95_ms: float
    recall_at_10: float
    index_mib: float  # serialized size on disk
    rss_delta_mib: float  # resident memory added by building the index


def random_unit_vectors(n: int, dim: int, seed: int, chunk: int = DEFAULT_GEN_CHUNK) -> np.ndarray:
    """(n, dim) float32 rows on the unit sphere, generated ``chunk`` rows at a time."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        block = rng.standard_normal((stop - start, dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    return out


def ivf_nlist(n: int) -> int:
    """nlist ~ 4*sqrt(n), at least 1 and at most n/39 (FAISS's minimum points per list)."""
    return max(1, min(int(round(4 * math.sqrt(n))), n // 39 or 1))


def _index_mib(index) -> float:
    import faiss

    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        path = Path(tmp) / "x.faiss"
        faiss.write_index(index, str(path))
        return round(path.stat().st_size / 2**20, 3)


def build_index(kind: str, xb: np.ndarray, seed: int = 0):
    """Build one index of ``kind`` over ``xb``; return (index, seconds)."""
    import faiss

    n, dim = xb.shape
    t0 = time.perf_counter()
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
        index.add(xb)
    elif kind == "ivf":
        nlist = ivf_nlist(n)
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = DEFAULT_IVF_NITER
        n_train = min(n, DEFAULT_IVF_TRAIN_PER_LIST * nlist)
        rng = np.random.default_rng(seed)
        sample = xb if n_train == n else xb[np.sort(rng.choice(n, n_train, replace=False))]
        index.train(sample)
        index.add(xb)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, DEFAULT_HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.add(xb)
        index.hnsw.efSearch = DEFAULT_HNSW_EF_SEARCH
    else:
        raise ValueError(f"Unknown index kind {kind!r}; use one of {KINDS}.")
    return index, time.perf_counter() - t0


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean |found ∩ truth| / k over query rows; both (nq, k) int arrays."""
    k = truth.shape[1]
    hits = [len(set(f[f >= 0].tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) / k


def _search_row(index, xq: np.ndarray, k: int, i: int) -> None:
    index.search(xq[i : i + 1], k)  # one query, as the app sends them


def bench_dataset(
    data: str,
    xb: np.ndarray,
    xq: np.ndarray,
    kinds: tuple[str, ...] = KINDS,
    k: int = DEFAULT_K,
    nprobes: tuple[int, ...] = DEFAULT_NPROBES,
) -> list[ScalingRow]:
    """Measure every index kind on one base set ``xb`` with queries ``xq``."""
    import faiss

    rows: list[ScalingRow] = []
    n = xb.shape[0]
    exact = faiss.IndexFlatIP(xb.shape[1])
    exact.add(xb)
    _, truth = exact.search(xq, k)  # (nq, k) ground truth
    del exact
    for kind in kinds:
        rss0 = rss_bytes()
        index, build_s = build_index(kind, xb)
        rss_delta = mib(max(0, rss_bytes() - rss0))
        size = _index_mib(index)
        settings: list[tuple[str, int | None]]
        if kind == "ivf":
            settings = [(f"IVFFlat nlist={index.nlist} nprobe={p}", p) for p in nprobes]
        elif kind == "hnsw":
            settings = [(f"HNSWFlat M={DEFAULT_HNSW_M} efSearch={DEFAULT_HNSW_EF_SEARCH}", None)]
        else:
            settings = [("FlatIP", None)]
        for label, nprobe in settings:
            if nprobe is not None:
                index.nprobe = nprobe
            _, found = index.search(xq, k)
            times = time_each(partial(_search_row, index, xq, k), range(xq.shape[0]))
            stats = percentiles(times)
            row = ScalingRow(
                data=data,
                n=n,
                index=label,
                build_s=round(build_s, 3),
                p50_ms=stats["p50"],
                p95_ms=stats["p95"],
                recall_at_10=round(recall_at_k(found, truth), 4),
                index_mib=size,
                rss_delta_mib=rss_delta,
            )
            log.info("%s", row)
            rows.append(row)
        del index
    return rows


def load_corpus_vectors(index_dir: Path) -> np.ndarray | None:
    """All rows of ``index_dir/vectors.faiss`` as (n, dim) float32, or None if absent."""
    import faiss

    path = Path(index_dir) / "vectors.faiss"
    if not path.exists():
        log.warning("No %s: skipping the real-corpus rows (build the index first).", path)
        return None
    index = faiss.read_index(str(path))
    return index.reconstruct_n(0, index.ntotal)


def main(
    sizes: tuple[int, ...] = DEFAULT_SIZES,
    dim: int = DEFAULT_DIM,
    n_queries: int = DEFAULT_QUERIES,
    kinds: tuple[str, ...] = KINDS,
    index_dir: Path | None = DEFAULT_INDEX_DIR,
    real_sizes: tuple[int | None, ...] = DEFAULT_REAL_SIZES,
    out_dir: Path | None = None,
    seed: int = 0,
    name: str = "scaling",
) -> dict:
    """Run the synthetic sizes, then the real corpus growth; write JSON, return results."""
    rows: list[ScalingRow] = []
    xq = random_unit_vectors(n_queries, dim, seed=seed + 1)
    for n in sizes:
        log.info("random vectors: n=%d dim=%d", n, dim)
        xb = random_unit_vectors(n, dim, seed=seed)
        rows += bench_dataset("random", xb, xq, kinds)
        del xb
    corpus = load_corpus_vectors(index_dir) if index_dir is not None else None
    if corpus is not None and corpus.shape[0] > n_queries:
        rng = np.random.default_rng(seed)
        perm = rng.permutation(corpus.shape[0])
        q_rows, pool = perm[:n_queries], np.sort(perm[n_queries:])  # held-out queries
        cq = np.ascontiguousarray(corpus[q_rows])
        for n in real_sizes:
            if n is not None and n >= pool.size:
                continue  # the "all" row covers it
            take = pool if n is None else np.sort(pool[:n])
            rows += bench_dataset("corpus", np.ascontiguousarray(corpus[take]), cq, kinds)
    result = {"rows": [asdict(r) for r in rows], "dim": dim, "queries": n_queries, "k": DEFAULT_K}
    result["path"] = str(write_result(name, result, out_dir))
    print(md_table(result["rows"]))
    return result


def _parse_sizes(text: str) -> tuple[int, ...]:
    return tuple(int(s.replace("_", "")) for s in text.split(",") if s.strip())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=_parse_sizes, default=DEFAULT_SIZES)
    ap.add_argument("--queries", type=int, default=DEFAULT_QUERIES)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX_DIR)
    ap.add_argument("--no-corpus", action="store_true", help="skip the real-corpus rows")
    ap.add_argument("--name", default="scaling", help="output bench/out/<name>.json")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    setup_logging(a.verbose)
    main(
        sizes=a.sizes,
        n_queries=a.queries,
        kinds=tuple(a.kinds.split(",")),
        index_dir=None if a.no_corpus else a.index_dir,
        name=a.name,
    )
