"""Write ``index/`` (format version 1, see docs/ARCHITECTURE.md) atomically.

:func:`write_index` writes every file into a temporary directory beside the target
(``.<name>.tmp-<pid>``), writes ``manifest.json`` last, then swaps the directories with
two renames. A build killed at any point before the swap leaves the old index untouched
and usable; the next build removes the stale temp directory. A build killed between the
two renames (microseconds) leaves the old index at ``.<name>.old-<pid>``, which
:func:`recover_interrupted_swap` puts back. Files in the old directory that the builder
does not own (``index/README.md``) are carried over.

A rebuild takes over the parts of the previous index whose inputs are unchanged instead
of writing them again: ``vectors.faiss`` (same vectors), ``store.sqlite`` (same rows) and
``bm25/`` (same titles and texts, same tokeniser). Each part's inputs digest is kept in
the manifest (``parts: {name: {inputs_sha256, reused}}``); a matching part is hard-linked
from the old directory (copied where links are refused), so a no-change rebuild neither
re-tokenises BM25 nor re-inserts the store's rows.

:func:`read_vector_cache` reads the previous index's ``{content_hash: vector}`` for the
incremental embedding step. File names and the BM25 tokeniser come from
:mod:`advisor.index`, the reader, so both sides agree. This module does not embed,
chunk or decide what goes into the manifest beyond the counts it can see.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from advisor.category_head import HEAD_DIR
from advisor.embedding import QUERY_ENCODER_DIR
from advisor.index import (
    BM25_DIR,
    BM25_STOPWORDS,
    FORMAT_VERSION,
    MANIFEST_FILE,
    STORE_FILE,
    VECTORS_FILE,
    bm25_tokenize,
    file_digests,
    read_manifest,
    swap_dir,
)
from advisor.types import Chunk, ModelInfo, TaxonomyEntry, ThreadInfo

log = logging.getLogger(__name__)

# Parts a rebuild may take over from the previous index, and the files each consists of.
PART_FILES: dict[str, tuple[str, ...]] = {
    "vectors": (VECTORS_FILE,),
    "store": (STORE_FILE,),
    "bm25": (BM25_DIR,),
}

# Files the builder owns; anything else in an old index dir is carried over.
CLASSIFIER_FILES = ("classifier.npz", "classifier.json")
OWNED_FILES = (MANIFEST_FILE, VECTORS_FILE, STORE_FILE, BM25_DIR, QUERY_ENCODER_DIR,
               *CLASSIFIER_FILES, HEAD_DIR)  # a build without the head drops the old one

_SCHEMA = """
CREATE TABLE chunks(row INTEGER PRIMARY KEY, id TEXT UNIQUE, doc_id TEXT, kind TEXT,
                    title TEXT, url TEXT, text TEXT, hash TEXT, meta TEXT);
CREATE TABLE models(id TEXT, source TEXT, json TEXT, PRIMARY KEY(id, source));
CREATE TABLE threads(topic_id INTEGER PRIMARY KEY, json TEXT);
CREATE TABLE taxonomy(id TEXT PRIMARY KEY, json TEXT);
CREATE TABLE documents(id TEXT PRIMARY KEY, digest TEXT);
"""
# ``documents`` (an addition to the format-1 tables, ignored by the loader) maps each
# document to the digest of its content and chunking settings, so a rebuild re-chunks
# only documents whose digest changed (see builder.rechunk.chunk_incremental).


def _tmp_dir(index_dir: Path) -> Path:
    return index_dir.parent / f".{index_dir.name}.tmp-{os.getpid()}"


def recover_interrupted_swap(index_dir: Path) -> None:
    """Put back an old index left aside by a build killed mid-swap; drop stale temps."""
    index_dir = Path(index_dir)
    parent = index_dir.parent
    if not parent.is_dir():
        return
    olds = sorted(parent.glob(f".{index_dir.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds and not (index_dir / MANIFEST_FILE).exists():
        if index_dir.exists():
            shutil.rmtree(index_dir)
        log.warning("Restoring %s from %s (a previous build stopped mid-swap)", index_dir, olds[-1])
        os.rename(olds[-1], index_dir)
        olds = olds[:-1]
    for stale in [*olds, *parent.glob(f".{index_dir.name}.tmp-*")]:
        log.info("Removing %s left by an interrupted build", stale)
        shutil.rmtree(stale, ignore_errors=True)


def read_vector_cache(index_dir: Path, embed_model: str, dim: int) -> dict[str, np.ndarray]:
    """``{content_hash: (dim,) float32}`` from the index at ``index_dir``.

    Empty when there is no index, it was built with another model or dimension, or it
    cannot be read (the build then embeds everything; it never fails because of this).
    """
    import faiss

    index_dir = Path(index_dir)
    try:
        manifest = read_manifest(index_dir)
    except Exception as e:  # noqa: BLE001 - any problem just means "no cache"
        log.info("No reusable vectors in %s (%s)", index_dir, e)
        return {}
    if manifest.get("embed_model") != embed_model or manifest.get("dim") != dim:
        log.info(
            "Not reusing vectors of %s: built with %s/dim %s, now %s/dim %s",
            index_dir, manifest.get("embed_model"), manifest.get("dim"), embed_model, dim,
        )
        return {}
    try:
        index = faiss.read_index(str(index_dir / VECTORS_FILE))
        con = sqlite3.connect(f"file:{(index_dir / STORE_FILE).resolve()}?mode=ro", uri=True)
        try:
            hashes = [h for (h,) in con.execute("SELECT hash FROM chunks ORDER BY row")]
        finally:
            con.close()
        if len(hashes) != index.ntotal:
            raise ValueError(f"{len(hashes)} chunk rows but {index.ntotal} vectors")
        vecs = index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, dim))
    except Exception as e:  # noqa: BLE001
        log.warning("Could not read vectors of %s (%s); embedding everything", index_dir, e)
        return {}
    return {h: vecs[i] for i, h in enumerate(hashes)}


def read_chunk_cache(index_dir: Path) -> dict[str, tuple[str, list[Chunk]]]:
    """``{doc_id: (digest, chunks)}`` from the index at ``index_dir``; empty when there
    is none or it cannot be read (the build then chunks everything)."""
    index_dir = Path(index_dir)
    try:
        read_manifest(index_dir)
        con = sqlite3.connect(f"file:{(index_dir / STORE_FILE).resolve()}?mode=ro", uri=True)
        try:
            digests = dict(con.execute("SELECT id, digest FROM documents"))
            rows = con.execute(
                "SELECT id, doc_id, kind, title, url, text, hash, meta FROM chunks ORDER BY row"
            ).fetchall()
        finally:
            con.close()
    except Exception as e:  # noqa: BLE001 - any problem just means "no cache"
        log.info("No reusable chunks in %s (%s)", index_dir, e)
        return {}
    out: dict[str, tuple[str, list[Chunk]]] = {}
    for cid, doc_id, kind, title, url, text, h, meta in rows:
        if doc_id not in digests:
            continue
        entry = out.setdefault(doc_id, (digests[doc_id], []))
        entry[1].append(Chunk(id=cid, doc_id=doc_id, kind=kind, title=title, text=text,
                              url=url, content_hash=h, metadata=json.loads(meta) if meta else {}))
    return out


def write_index(
    index_dir: Path,
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    *,
    models: Iterable[ModelInfo] = (),
    threads: Iterable[ThreadInfo] = (),
    taxonomy: Iterable[TaxonomyEntry] = (),
    manifest: dict[str, Any] | None = None,
    extra: Callable[[Path], dict[str, Any] | None] | None = None,
    n_documents: int | None = None,
    doc_digests: dict[str, str] | None = None,
    started: float | None = None,
) -> dict[str, Any]:
    """Write a complete index and swap it in; return the manifest written.

    Args:
        vectors: (len(chunks), dim) float32, L2-normalised, row i = chunk i.
        manifest: fields from the caller (embed_model, chunking, sources, timings...);
            format_version, dim, normalize, metric, counts, built_at and ``files``
            (``{relative path: {"sha256", "size"}}`` of every file but the manifest,
            checked by :func:`advisor.index.verify_files`) are set here.
        extra: called with the temp dir before the manifest is written (e.g. to save
            the classifier there); a dict it returns goes into ``manifest["classifier"]``.
        n_documents: documents the chunks came from (default: distinct doc ids).
        doc_digests: ``{doc_id: digest}`` for the next build's chunk reuse.
        started: ``time.perf_counter()`` at build start, for ``build_seconds``.
    """
    index_dir = Path(index_dir)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(chunks):
        raise ValueError(f"vectors shape {vectors.shape} does not match {len(chunks)} chunks")
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_swap(index_dir)
    tmp = _tmp_dir(index_dir)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    models, threads, taxonomy = list(models), list(threads), list(taxonomy)
    previous = _previous_manifest(index_dir)
    try:
        parts_info = _write_parts(index_dir, tmp, previous, chunks, vectors,
                                  _store_rows(chunks, models, threads, taxonomy, doc_digests or {}))
        extra_info = extra(tmp) if extra is not None else None

        man = dict(manifest or {})
        kinds: dict[str, int] = {}
        for c in chunks:
            kinds[c.kind] = kinds.get(c.kind, 0) + 1
        man.update(
            format_version=FORMAT_VERSION,
            dim=int(vectors.shape[1]),
            normalize=True,
            metric="ip",
            counts={
                "chunks": len(chunks),
                "documents": n_documents if n_documents is not None
                else len({c.doc_id for c in chunks}),
                "models": len({m.id for m in models}),
                "model_records": len(models),
                "threads": len(threads),
                "taxonomy": len(taxonomy),
                "chunks_by_kind": kinds,
            },
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            parts=parts_info,
        )
        if extra_info is not None:
            man["classifier"] = extra_info
        man.setdefault("classifier", {})
        if started is not None:
            man["build_seconds"] = round(time.perf_counter() - started, 2)
        # every file the index holds, so a downloaded copy can be checked byte for byte
        man["files"] = file_digests(tmp)
        (tmp / MANIFEST_FILE).write_text(json.dumps(man, indent=2, sort_keys=True), "utf-8")
        _carry_over(index_dir, tmp)
        swap_dir(tmp, index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return man


def _write_parts(old_dir: Path, tmp: Path, previous: dict[str, Any], chunks: Sequence[Chunk],
                 vectors: np.ndarray, rows: dict[str, list[tuple]]) -> dict[str, dict[str, Any]]:
    """Write the vectors, the store and BM25 into ``tmp``, or take each over from
    ``old_dir`` when its inputs digest is the previous manifest's; returns ``parts``."""
    bm25_texts = [f"{c.title}\n{c.text}" for c in chunks]
    # each digest starts with its writer's code (and the schema / tokeniser it uses), so
    # a changed writer never takes over a file written the old way
    parts = {
        "vectors": (_sha256_of(vectors, _write_faiss),
                    lambda: _write_faiss(tmp / VECTORS_FILE, vectors)),
        "store": (_sha256_of(json.dumps(rows), _write_sqlite, _SCHEMA),
                  lambda: _write_sqlite(tmp / STORE_FILE, rows)),
        "bm25": (_sha256_of("\0".join(bm25_texts), _write_bm25, bm25_tokenizer_key()),
                 lambda: _write_bm25(tmp / BM25_DIR, bm25_texts)),
    }
    old_parts = previous.get("parts") or {}
    info: dict[str, dict[str, Any]] = {}
    for name, (digest, write) in parts.items():
        reused = ((old_parts.get(name) or {}).get("inputs_sha256") == digest
                  and _take_over(old_dir, tmp, PART_FILES[name], previous.get("files")))
        if not reused:
            write()
        info[name] = {"inputs_sha256": digest, "reused": reused}
    log.info("Index parts taken over unchanged: %s",
             ", ".join(n for n, i in info.items() if i["reused"]) or "none")
    return info


def _previous_manifest(index_dir: Path) -> dict[str, Any]:
    try:
        return read_manifest(index_dir)
    except Exception:  # noqa: BLE001 - no (readable) previous index: nothing to take over
        return {}


def _sha256_of(data: str | np.ndarray, writer: Callable, extra: str = "") -> str:
    """sha256 of ``writer``'s source, ``extra`` and ``data`` (an array with its shape)."""
    try:
        code = inspect.getsource(writer)
    except (OSError, TypeError):  # defined where no source is kept (python -c)
        code = writer.__qualname__
    h = hashlib.sha256(f"{code}\0{extra}\0".encode())
    if isinstance(data, str):
        h.update(data.encode())
    else:
        h.update(f"{data.dtype}{data.shape}".encode())
        h.update(np.ascontiguousarray(data))
    return h.hexdigest()


def _take_over(old_dir: Path, tmp: Path, names: Sequence[str],
               old_files: dict[str, Any] | None) -> bool:
    """Hard-link (or copy) ``names`` from the previous index into ``tmp``; False when one
    is missing or differs in size from what the previous manifest recorded."""
    old_files = old_files or {}
    for name in names:
        src = old_dir / name
        listed = {rel: f for rel, f in old_files.items() if rel == name or rel.startswith(name + "/")}
        if not src.exists() or not listed or any(
            not (old_dir / rel).is_file() or (old_dir / rel).stat().st_size != f.get("size")
            for rel, f in listed.items()
        ):
            return False
    try:
        for name in names:
            src = old_dir / name
            if src.is_dir():
                shutil.copytree(src, tmp / name, copy_function=_link_or_copy)
            else:
                _link_or_copy(src, tmp / name)
    except OSError as e:
        log.info("Writing %s anew (could not take it over: %s)", ", ".join(names), e)
        for name in names:
            dst = tmp / name
            shutil.rmtree(dst, ignore_errors=True) if dst.is_dir() else dst.unlink(missing_ok=True)
        return False
    return True


def _link_or_copy(src: str | Path, dst: str | Path) -> None:
    """A hard link: nothing writes an index file in place (the app opens the store
    read-only), and the old directory is removed after the swap, so the data is shared,
    not aliased. A copy where the file system refuses links."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _write_faiss(path: Path, vectors: np.ndarray) -> None:
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    faiss.write_index(index, str(path))


def _as_json(obj: Any) -> str:
    """``json.dumps(asdict(obj))`` for the flat record dataclasses, without asdict's deep
    copy of every list and dict (~2x faster over 45k model records)."""
    names = _FIELD_NAMES.get(type(obj))
    if names is None:
        names = _FIELD_NAMES[type(obj)] = tuple(f.name for f in fields(obj))
    return json.dumps({n: getattr(obj, n) for n in names}, ensure_ascii=False)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _store_rows(chunks, models, threads, taxonomy, doc_digests) -> dict[str, list[tuple]]:
    """The rows of each ``store.sqlite`` table, as they are inserted (and digested)."""
    return {
        "chunks": [
            (i, c.id, c.doc_id, c.kind, c.title, c.url, c.text, c.content_hash,
             json.dumps(c.metadata, ensure_ascii=False, default=str))
            for i, c in enumerate(chunks)
        ],
        "models": [(m.id, m.source, _as_json(m)) for m in models],
        "threads": [(t.topic_id, _as_json(t)) for t in threads],
        "taxonomy": [(e.id, _as_json(e)) for e in taxonomy],
        "documents": list(doc_digests.items()),
    }


def _write_sqlite(path: Path, rows: dict[str, list[tuple]]) -> None:
    con = sqlite3.connect(path)
    try:
        # Atomicity comes from the directory swap, so no journal is needed here.
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.executescript(_SCHEMA)
        con.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?)", rows["chunks"])
        con.executemany("INSERT OR REPLACE INTO models VALUES (?,?,?)", rows["models"])
        con.executemany("INSERT OR REPLACE INTO threads VALUES (?,?)", rows["threads"])
        con.executemany("INSERT OR REPLACE INTO taxonomy VALUES (?,?)", rows["taxonomy"])
        con.executemany("INSERT OR REPLACE INTO documents VALUES (?,?)", rows["documents"])
        con.commit()
    finally:
        con.close()


def bm25_tokenizer_key() -> str:
    """What besides the texts decides the BM25 index: bm25s's version, the stop words
    and the tokeniser's code (:func:`advisor.index.bm25_tokenize`)."""
    from importlib.metadata import version

    return f"{version('bm25s')}|{BM25_STOPWORDS}|{inspect.getsource(bm25_tokenize)}"


def _write_bm25(path: Path, texts: Sequence[str]) -> None:
    """BM25 over title + text of each chunk (titles carry model ids and category names)."""
    import bm25s

    tokens = bm25_tokenize(texts)
    bm25 = bm25s.BM25()
    bm25.index(tokens, show_progress=False)
    bm25.save(str(path), show_progress=False)


def _carry_over(index_dir: Path, tmp: Path) -> None:
    """Copy files the builder does not own (e.g. README.md) from the old dir."""
    if not index_dir.is_dir():
        return
    for p in index_dir.iterdir():
        if p.name in OWNED_FILES or (tmp / p.name).exists():
            continue
        if p.is_dir():
            shutil.copytree(p, tmp / p.name)
        else:
            shutil.copy2(p, tmp / p.name)
