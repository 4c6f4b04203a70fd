"""A persistent text -> vector cache for the builder's fixed training texts.

Every build fits the category classifier, the task model and the intent model, and
embeds the known-issues KB. Those texts (KB entries, labelled posts and requests, task
descriptions, coded threads) hardly change between builds, but a build into a fresh
``--index-dir`` (a second index, a test, a CI run, a Space building on start) used to
embed all of them again: about four minutes of the five a small build takes on 2 CPU
cores. :class:`CachedEmbedder` wraps the build's embedder and keeps each vector in
``<cache_dir>/text-vectors/<model>--<backend>.sqlite``, keyed by the SHA-256 of the
text; only the texts it has not seen reach the model, so a build whose texts are all
cached never loads it.

The file is chosen by the model id and the embedder's backend (a lazy embedder reports
the configured one; ONNX and torch agree to ~1e-6, but are kept apart). The backend is
read again before each write: a build whose bf16 check fell back to fp32, or whose ONNX
export fell back to torch, stores its vectors under the backend that made them. Replacing a
model's weights under the same id is not detected: delete the cache folder then. The
cache holds at most :data:`MAX_ROWS` vectors (the oldest go first). A cache that cannot
be opened or written (read-only disk, a corrupt file, a lock held too long) logs one
warning and the build embeds as if there were none: the cache never fails a build.

This module does not decide what to embed or cache chunk vectors (the index being
replaced holds those: :func:`builder.embed.embed_chunks`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from advisor.embedding import Embedder

log = logging.getLogger(__name__)

CACHE_FOLDER = "text-vectors"
MAX_ROWS = 200_000  # ~300 MB at 384 float32 dims; the oldest rows go first past it
LOCK_TIMEOUT_S = 30.0


def cache_path(cache_dir: Path, model_id: str, backend: str | None) -> Path:
    """The SQLite file holding ``model_id``'s vectors (made from ``backend``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{model_id}--{backend or 'none'}").strip("_")
    return Path(cache_dir) / CACHE_FOLDER / f"{safe}.sqlite"


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class CachedEmbedder:
    """``inner`` with its vectors kept on disk (see the module docstring).

    ``encode`` returns what ``inner.encode`` would, in input order, as float32 rows;
    ``model_id``, ``dim`` and any other attribute are ``inner``'s. ``hits`` and
    ``misses`` count distinct texts per call found in / missing from the cache.
    """

    def __init__(self, inner: Embedder, cache_dir: Path):
        self.inner = inner
        self.model_id = inner.model_id
        self._cache_dir = Path(cache_dir)
        self.path = self._path_now()
        self.hits = 0
        self.misses = 0
        self._db: sqlite3.Connection | None = None
        self._broken = False

    @property
    def dim(self) -> int:
        return self.inner.dim

    def __getattr__(self, name: str):  # backend, loaded, ...: the wrapped embedder's
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    # --- storage ------------------------------------------------------------------------
    def _path_now(self) -> Path:
        """The file for the backend ``inner`` reports now (it may change on first use)."""
        return cache_path(self._cache_dir, self.model_id, getattr(self.inner, "backend", None))

    def _follow_backend(self) -> None:
        """Point at the current backend's file, closing the previous one if it changed."""
        path = self._path_now()
        if path != self.path:
            self.close()
            self.path = path

    def _give_up(self, e: Exception) -> None:
        if not self._broken:
            log.warning("Text-vector cache %s not used (%s: %s); embedding without it.",
                        self.path, type(e).__name__, e)
        self._broken = True
        self.close()

    def _conn(self) -> sqlite3.Connection | None:
        if self._broken:
            return None
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT_S)
                db.execute("CREATE TABLE IF NOT EXISTS vec (key BLOB PRIMARY KEY, v BLOB NOT NULL)")
                self._db = db
            except (sqlite3.Error, OSError) as e:
                self._give_up(e)
        return self._db

    def _get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        db = self._conn()
        if db is None or not keys:
            return {}
        found: dict[bytes, np.ndarray] = {}
        try:
            for start in range(0, len(keys), 500):
                part = list(keys[start:start + 500])
                marks = ",".join("?" * len(part))
                for k, blob in db.execute(f"SELECT key, v FROM vec WHERE key IN ({marks})", part):
                    found[k] = np.frombuffer(blob, dtype=np.float32)
        except sqlite3.Error as e:
            self._give_up(e)
            return {}
        return found

    def _put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        self._follow_backend()  # the vectors were just made: file them under their backend
        db = self._conn()
        if db is None:
            return
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO vec (key, v) VALUES (?, ?)",
                               [(k, v.tobytes()) for k, v in zip(keys, vectors, strict=True)])
                (n,) = db.execute("SELECT COUNT(*) FROM vec").fetchone()
                if n > MAX_ROWS:
                    db.execute("DELETE FROM vec WHERE rowid IN "
                               "(SELECT rowid FROM vec ORDER BY rowid LIMIT ?)", (n - MAX_ROWS,))
        except sqlite3.Error as e:
            self._give_up(e)

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    # --- the embedder interface ----------------------------------------------------------
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.asarray(self.inner.encode(texts, batch_size=batch_size), dtype=np.float32)
        keys = [text_key(t) for t in texts]
        found = self._get(keys) if self.path.exists() else {}
        if len({v.shape for v in found.values()}) > 1:  # mixed dimensions: trust none
            found = {}
        todo = self._todo(keys, texts, found)
        if todo:
            new = self._embed(todo, batch_size)
            if found and next(iter(found.values())).shape != new.shape[1:]:
                found = {}  # the model's dimension changed under the same id
                todo = self._todo(keys, texts, found)
                new = self._embed(todo, batch_size)
            found.update(zip(todo, new, strict=True))
            self._put(list(todo), new)
        self.misses += len(todo)
        self.hits += len(set(keys)) - len(todo)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    @staticmethod
    def _todo(keys: Sequence[bytes], texts: Sequence[str],
              found: dict[bytes, np.ndarray]) -> dict[bytes, str]:
        """The distinct texts not in ``found``, first occurrence first."""
        todo: dict[bytes, str] = {}
        for k, t in zip(keys, texts, strict=True):
            if k not in found and k not in todo:
                todo[k] = t
        return todo

    def _embed(self, todo: dict[bytes, str], batch_size: int) -> np.ndarray:
        new = np.asarray(self.inner.encode(list(todo.values()), batch_size=batch_size),
                         dtype=np.float32)
        if new.ndim != 2 or new.shape[0] != len(todo):
            raise ValueError(f"Embedder {self.model_id!r} returned shape {new.shape} "
                             f"for {len(todo)} texts.")
        return new
