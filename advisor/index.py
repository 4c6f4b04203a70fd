"""Load a built ``index/`` into memory and search it (dense FAISS and BM25).

:meth:`AdvisorIndex.load` checks the manifest against the configuration and every file
against the manifest, so a stale or damaged index fails at start-up with a typed error
that says how to rebuild, never with a wrong answer later. In memory it keeps only what
search and filtering need: the FAISS vectors, the BM25 matrix, per-row ``kinds`` and
``doc_ids`` arrays and the structured side tables (models, threads, taxonomy). Chunk
text stays in SQLite and is fetched for the rows a search returns (:meth:`hits`).

This module also owns the on-disk names and the BM25 tokeniser, so the writer
(:mod:`builder.store`) and the reader agree by construction. It does not fuse dense
and BM25 results (:mod:`advisor.retrieval` does) and never writes an index.

Thread safety: searches only read shared arrays; SQLite gets one read-only connection
per thread, so the Gradio app may query from several worker threads at once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from advisor.config import Config
from advisor.dense import DenseVectors
from advisor.embedding import Embedder
from advisor.errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
)
from advisor.types import Hit, ModelInfo, TaxonomyEntry, ThreadInfo

log = logging.getLogger(__name__)

# --- the on-disk format (builder.store writes exactly these) ------------------------
FORMAT_VERSION = 1  # bump when a file's layout changes; old indexes are then refused
MANIFEST_FILE = "manifest.json"
VECTORS_FILE = "vectors.faiss"
STORE_FILE = "store.sqlite"
ROWS_CACHE_SIZE = 64  # row sets of fixed doc-id tuples kept (see AdvisorIndex.rows_for)
BM25_DIR = "bm25"
# Model records of these sources are current; the 2022 snapshot is kept apart.
_CURRENT_MODEL_SOURCES = ("hub", "2026")

# BM25 tokenisation: lower-case words of 2+ characters, English stopwords removed,
# Snowball-stemmed when PyStemmer is installed (it is in requirements.txt).
BM25_STOPWORDS = "en"


def swap_dir(new: Path, index_dir: Path) -> None:
    """Replace ``index_dir`` with the finished directory ``new``: two renames, then the
    old copy is removed (a crash between the renames leaves ``.<name>.old-<pid>``, which
    ``builder.store.recover_interrupted_swap`` puts back). Used by the builder and by the
    Hub download."""
    old = index_dir.parent / f".{index_dir.name}.old-{os.getpid()}"
    if old.exists():
        shutil.rmtree(old)
    if index_dir.exists():
        os.rename(index_dir, old)
    os.rename(new, index_dir)
    shutil.rmtree(old, ignore_errors=True)


def rebuild_hint(index_dir: Path | str) -> str:
    return f"Run `python -m builder build --index-dir {index_dir}`"


def _stemmer():
    try:
        import Stemmer  # PyStemmer
    except ImportError:  # pragma: no cover - PyStemmer is a requirement
        return None
    return Stemmer.Stemmer("english")


_STEMMER = _stemmer()


def bm25_tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Tokenise for BM25 (same function at build and query time)."""
    import bm25s

    if len(texts) == 0:
        return []
    return bm25s.tokenize(
        list(texts),
        stopwords=BM25_STOPWORDS,
        stemmer=_STEMMER,
        return_ids=False,
        show_progress=False,
    )


def _from_dict(cls, data: dict[str, Any]):
    """Build a dataclass from a JSON dict, ignoring keys it does not know."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def _model_info(js: str) -> ModelInfo:
    """A ``ModelInfo`` from its stored JSON, its repeated strings (tags, languages,
    formats, section names, licences) interned: the full index holds ~45k records, and
    interning saves the serving process tens of MiB of duplicate strings."""
    info = _from_dict(ModelInfo, json.loads(js))
    for name in ("languages", "formats", "tags", "missing_sections"):
        setattr(info, name, [sys.intern(x) if isinstance(x, str) else x
                             for x in getattr(info, name) or []])
    for name in ("source", "pipeline_tag", "library", "license", "license_family"):
        value = getattr(info, name)
        if isinstance(value, str):
            setattr(info, name, sys.intern(value))
    return info


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """Read ``manifest.json``; raise the typed errors the loader and the CLI share."""
    index_dir = Path(index_dir)
    path = index_dir / MANIFEST_FILE
    if not path.exists():
        raise IndexNotFoundError(
            f"No index at {index_dir}. {rebuild_hint(index_dir)} first."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("manifest is not a JSON object")
    except (ValueError, UnicodeDecodeError) as e:
        raise IndexCorruptError(
            f"{path} is not valid JSON ({e}). {rebuild_hint(index_dir)} to rebuild it."
        ) from e
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"{index_dir} has index format version {version!r} but this code reads "
            f"version {FORMAT_VERSION}. {rebuild_hint(index_dir)} to rebuild it."
        )
    return manifest


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digests(index_dir: Path) -> dict[str, dict[str, Any]]:
    """``{relative posix path: {"sha256", "size"}}`` of every file under ``index_dir``
    except the manifest and hidden paths (``.cache/`` left by a Hub download)."""
    index_dir = Path(index_dir)
    out: dict[str, dict[str, Any]] = {}
    for p in sorted(index_dir.rglob("*")):
        rel = p.relative_to(index_dir)
        if not p.is_file() or rel.as_posix() == MANIFEST_FILE:
            continue
        if any(part.startswith(".") for part in rel.parts):
            continue
        out[rel.as_posix()] = {"sha256": sha256_file(p), "size": p.stat().st_size}
    return out


class AdvisorIndex:
    """A loaded index. Build with :meth:`load`; row ``i`` is chunk ``i`` everywhere.

    Attributes:
        manifest: the parsed ``manifest.json``.
        models: ``{model id: ModelInfo}``, the 2026 / live-Hub record when a model is in
            both sources; ``models_2022`` holds the 2022 snapshot's records.
        threads: ``{topic id: ThreadInfo}``; taxonomy: codebook entries in order.
        kinds, doc_ids: ``(n,)`` arrays (str, and object of str), per chunk row, for filtering.
    """

    def __init__(
        self,
        cfg: Config,
        index_dir: Path,
        manifest: dict[str, Any],
        faiss_index,
        bm25,
        kinds: np.ndarray,
        doc_ids: np.ndarray,
        models: dict[str, ModelInfo],
        models_2022: dict[str, ModelInfo],
        threads: dict[int, ThreadInfo],
        taxonomy: list[TaxonomyEntry],
        embedder: Embedder | None = None,
    ):
        self.cfg = cfg
        self.index_dir = index_dir
        self.manifest = manifest
        self._faiss = faiss_index
        self._bm25 = bm25
        self.kinds = kinds  # (n,) str
        self.doc_ids = doc_ids  # (n,) str
        self.models = models
        self.models_2022 = models_2022
        self.threads = threads
        self.taxonomy = taxonomy
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self._local = threading.local()
        self._doc_groups: tuple[np.ndarray, np.ndarray, dict[str, int]] | None = None
        self._kind_masks: dict[tuple[str, ...], np.ndarray] = {}
        # rows of recent fixed doc-id sets (the recommender's candidate pools)
        self._fixed_rows = functools.lru_cache(maxsize=ROWS_CACHE_SIZE)(self._read_only_rows)
        self._dense = DenseVectors(faiss_index)

    # --- loading ----------------------------------------------------------------
    @classmethod
    def load(cls, cfg: Config, embedder: Embedder | None = None) -> AdvisorIndex:
        """Load ``cfg.index_dir``.

        Raises:
            IndexNotFoundError: no directory or no manifest.
            IndexMismatchError: other format version, embedding model or dimension.
            IndexCorruptError: a file is missing, truncated, unreadable, or its row
                count disagrees with the manifest.
        """
        import faiss

        index_dir = Path(cfg.index_dir)
        manifest = read_manifest(index_dir)
        fix = f"{rebuild_hint(index_dir)} to rebuild it."
        want_model = embedder.model_id if embedder is not None else cfg.embed_model
        if manifest.get("embed_model") != want_model:
            raise IndexMismatchError(
                f"{index_dir} was built with embed model {manifest.get('embed_model')!r} "
                f"(dim {manifest.get('dim')}) but the configuration asks for "
                f"{want_model!r}. {fix}"
            )
        dim = manifest.get("dim")
        if embedder is not None and embedder.dim != dim:
            raise IndexMismatchError(
                f"{index_dir} has vectors of dim {dim} but embedder {want_model!r} "
                f"makes dim {embedder.dim}. {fix}"
            )
        counts = manifest.get("counts") or {}
        n = counts.get("chunks")
        if not isinstance(n, int) or not isinstance(dim, int):
            raise IndexCorruptError(f"{index_dir}/{MANIFEST_FILE} lacks counts/dim. {fix}")

        vec_path = index_dir / VECTORS_FILE
        if not vec_path.exists():
            raise IndexCorruptError(f"{vec_path} is missing. {fix}")
        try:
            faiss_index = faiss.read_index(str(vec_path))
        except Exception as e:  # noqa: BLE001 - faiss raises RuntimeError for any damage
            raise IndexCorruptError(f"{vec_path} is unreadable ({e}). {fix}") from e
        if faiss_index.ntotal != n or faiss_index.d != dim:
            raise IndexCorruptError(
                f"{vec_path} holds {faiss_index.ntotal} vectors of dim {faiss_index.d}, "
                f"the manifest says {n} of dim {dim}. {fix}"
            )

        store_path = index_dir / STORE_FILE
        if not store_path.exists():
            raise IndexCorruptError(f"{store_path} is missing. {fix}")
        try:
            con = _connect_ro(store_path)
            try:
                rows = con.execute("SELECT kind, doc_id FROM chunks ORDER BY row").fetchall()
                model_rows = con.execute("SELECT source, json FROM models").fetchall()
                thread_rows = con.execute("SELECT json FROM threads").fetchall()
                tax_rows = con.execute("SELECT json FROM taxonomy ORDER BY rowid").fetchall()
            finally:
                con.close()
        except sqlite3.DatabaseError as e:
            raise IndexCorruptError(f"{store_path} is unreadable ({e}). {fix}") from e
        if len(rows) != n:
            raise IndexCorruptError(
                f"{store_path} holds {len(rows)} chunks, the manifest says {n}. {fix}"
            )
        kinds = np.array([r[0] for r in rows], dtype=str) if rows else np.array([], dtype=str)
        # object array of interned ids: a fixed-width str array is as wide as the
        # longest id (~60 MiB for the full index), this one ~5 MiB
        doc_ids = np.array([sys.intern(r[1]) for r in rows], dtype=object)

        bm25 = _load_bm25(index_dir / BM25_DIR, n, fix)

        models: dict[str, ModelInfo] = {}
        models_2022: dict[str, ModelInfo] = {}
        for source, js in model_rows:
            info = _model_info(js)
            if source in _CURRENT_MODEL_SOURCES:
                models[info.id] = info
            else:
                models_2022[info.id] = info
        for mid, info in models_2022.items():
            models.setdefault(mid, info)
        threads = {}
        for (js,) in thread_rows:
            t = _from_dict(ThreadInfo, json.loads(js))
            threads[t.topic_id] = t
        taxonomy = [_from_dict(TaxonomyEntry, json.loads(js)) for (js,) in tax_rows]
        log.info(
            "Loaded index %s: %s chunks, %s models, %s threads, %s taxonomy entries",
            index_dir, f"{n:,}", f"{len(models):,}", len(threads), len(taxonomy),
        )
        return cls(
            cfg, index_dir, manifest, faiss_index, bm25, kinds, doc_ids,
            models, models_2022, threads, taxonomy, embedder,
        )

    # --- embedding ----------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        """The query embedder; created on first use from ``cfg.embed_model``."""
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    from advisor.embedding import embedder_for

                    emb = embedder_for(self.cfg)
                    if emb.dim != self.dim:
                        raise IndexMismatchError(
                            f"{self.index_dir} has vectors of dim {self.dim} but "
                            f"{self.cfg.embed_model!r} makes dim {emb.dim}. "
                            f"{rebuild_hint(self.index_dir)} to rebuild it."
                        )
                    self._embedder = emb
        return self._embedder

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    def __len__(self) -> int:
        return int(self._faiss.ntotal)

    def embed_query(self, text: str) -> np.ndarray:
        """One query -> (dim,) float32, L2-normalised."""
        return self.embedder.encode([text], batch_size=1)[0]

    # --- search -------------------------------------------------------------------
    def dense_search(
        self, qvec: np.ndarray, k: int, rows: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` rows by inner product (= cosine), optionally within ``rows``
        (see :meth:`advisor.dense.DenseVectors.search`)."""
        return self._dense.search(qvec, k, rows)

    def bm25_search(
        self, text: str, k: int, rows: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` rows by BM25 score (> 0 only), optionally within ``rows``."""
        scores = self.bm25_row_scores(text) if k > 0 and len(self) else None
        if scores is None:
            return []
        rows = np.arange(scores.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
        sub = scores[rows]
        k = min(k, int(sub.size))
        if k == 0:
            return []
        top = np.argpartition(-sub, k - 1)[:k]
        top = top[np.argsort(-sub[top], kind="stable")]
        return [(int(rows[i]), float(sub[i])) for i in top if sub[i] > 0]

    def bm25_row_scores(self, text: str) -> np.ndarray | None:
        """``(n,)`` BM25 score of ``text`` with every row, or ``None``: no known word."""
        tokens = bm25_tokenize([text])
        ids = self._bm25.get_tokens_ids(tokens[0]) if tokens else []
        return self._bm25.get_scores_from_ids(ids) if ids else None

    def dense_row_scores(self, qvec: np.ndarray) -> np.ndarray | None:
        """``(n,)`` cosine of ``qvec`` with every row, or ``None`` (a non-flat index)."""
        return self._dense.scores(qvec)

    def rows_for(
        self, kind: str | Iterable[str] | None = None, doc_ids: Iterable[str] | None = None
    ) -> np.ndarray:
        """Row numbers whose kind is ``kind`` (one or several) and/or doc id is listed.

        A tuple of doc ids is treated as a fixed set: the rows of the last
        :data:`ROWS_CACHE_SIZE` such sets are kept (the recommender asks for the same
        candidates' documents again and again) and returned read-only."""
        if isinstance(doc_ids, tuple):
            kinds = kind if kind is None or isinstance(kind, str) else tuple(kind)
            return self._fixed_rows(kinds, doc_ids)
        return self._rows_for(kind, doc_ids)

    def _read_only_rows(self, kind, doc_ids: tuple[str, ...]) -> np.ndarray:
        rows = self._rows_for(kind, doc_ids)
        rows.flags.writeable = False
        return rows

    def _rows_for(self, kind: str | Iterable[str] | None,
                  doc_ids: Iterable[str] | None) -> np.ndarray:
        mask = np.ones(len(self), dtype=bool)
        if kind is not None:
            kinds = [kind] if isinstance(kind, str) else list(kind)
            mask &= self._kind_mask(kinds)
        if doc_ids is not None:
            # doc id -> rows lookup, also for thousands of ids (the recommender's
            # candidates): np.isin on the string column sorts all rows on every call
            # (~50 ms on 59k rows), the lookup costs ~1 us per id.
            sel = np.zeros(len(self), dtype=bool)
            order, bounds, run = self.doc_groups()
            found = [order[bounds[i]:bounds[i + 1]] for i in map(run.get, doc_ids) if i is not None]
            if found:
                sel[np.concatenate(found)] = True
            mask &= sel
        return np.flatnonzero(mask).astype(np.int64)

    def _kind_mask(self, kinds: list[str]) -> np.ndarray:
        """Boolean row mask for a set of kinds, cached (a handful of distinct sets)."""
        key = tuple(sorted(set(kinds)))
        mask = self._kind_masks.get(key)
        if mask is None:
            mask = np.isin(self.kinds, list(key))
            mask.flags.writeable = False
            self._kind_masks[key] = mask
        return mask

    def doc_groups(self) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        """Rows sorted by document id, the bounds of each document's run in that order
        (``(d + 1,)``) and doc id -> run number; computed once (the doc-id lookups and
        the recommender's per-document maxima share it)."""
        if self._doc_groups is None:
            order = np.argsort(self.doc_ids, kind="stable")
            uniq, starts = np.unique(self.doc_ids[order], return_index=True)
            bounds = np.append(starts, len(order))
            self._doc_groups = (order, bounds, {str(u): i for i, u in enumerate(uniq)})
        return self._doc_groups

    # --- chunk text -----------------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = _connect_ro(self.index_dir / STORE_FILE)
            self._local.con = con
        return con

    def hits(self, pairs: Sequence[tuple[int, float]]) -> list[Hit]:
        """(row, score) pairs -> :class:`Hit` records with text, in the given order."""
        if not pairs:
            return []
        rows = [int(r) for r, _ in pairs]
        marks = ",".join("?" * len(rows))
        cur = self._con().execute(
            "SELECT row, id, doc_id, kind, title, url, text, meta FROM chunks "
            f"WHERE row IN ({marks})",
            rows,
        )
        by_row = {r[0]: r for r in cur.fetchall()}
        out = []
        for row, score in pairs:
            r = by_row.get(int(row))
            if r is None:
                continue
            out.append(
                Hit(
                    row=r[0], chunk_id=r[1], doc_id=r[2], kind=r[3], title=r[4],
                    url=r[5], text=r[6], score=float(score),
                    metadata=json.loads(r[7]) if r[7] else {},
                )
            )
        return out

    def chunk_text(self, row: int) -> str:
        r = self._con().execute("SELECT text FROM chunks WHERE row = ?", (int(row),)).fetchone()
        return r[0] if r else ""


def _connect_ro(path: Path) -> sqlite3.Connection:
    """Read-only connection (never creates a missing file)."""
    return sqlite3.connect(
        f"file:{Path(path).resolve()}?mode=ro", uri=True, check_same_thread=False
    )


def _load_bm25(path: Path, n: int, fix: str):
    import bm25s

    if not path.is_dir():
        raise IndexCorruptError(f"{path} is missing. {fix}")
    try:
        bm25 = bm25s.BM25.load(str(path), show_progress=False, verbosity=0)
        num_docs = int(bm25.scores["num_docs"])
    except Exception as e:  # noqa: BLE001 - numpy/json errors all mean a damaged file
        raise IndexCorruptError(f"{path} is unreadable ({type(e).__name__}: {e}). {fix}") from e
    if num_docs != n:
        raise IndexCorruptError(
            f"{path} indexes {num_docs} chunks, the manifest says {n}. {fix}"
        )
    return bm25
