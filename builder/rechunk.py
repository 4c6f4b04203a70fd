"""Incremental chunking: reuse the previous index's chunks of unchanged documents.

Each document's digest (:func:`document_digest`) covers its content and the chunk key
(:func:`chunk_key`: chunk settings, embedding model and the source of
:mod:`builder.chunk`); the store keeps ``{doc_id: digest}`` in its ``documents`` table.
:func:`chunk_incremental` chunks only documents whose digest changed and takes the others'
chunks from the previous index (:func:`builder.store.read_chunk_cache`).

This lives apart from :mod:`builder.chunk` because that module's source is part of the
chunk key: changing how reuse works must not make every document look changed. It does
not embed or write anything.
"""

from __future__ import annotations

import hashlib
import json
import logging

from advisor.config import Config
from advisor.types import Chunk, Document

log = logging.getLogger(__name__)


def chunk_key(cfg: Config) -> str:
    """Digest of what decides chunking besides the document: settings and chunker code."""
    import inspect

    import builder.chunk

    code = inspect.getsource(builder.chunk)
    return hashlib.sha256(
        f"{cfg.chunk_size}|{cfg.chunk_overlap}|{cfg.max_chunks_per_card}|{cfg.embed_model}|"
        f"{code}".encode()
    ).hexdigest()


def document_digest(doc: Document, key: str) -> str:
    payload = json.dumps(
        [key, doc.id, doc.kind, doc.title, doc.text, doc.url, doc.metadata, doc.sections],
        sort_keys=True, default=str, ensure_ascii=False,
    )
    return hashlib.sha1(payload.encode()).hexdigest()


def chunk_incremental(
    docs: list[Document], cfg: Config, previous: dict[str, tuple[str, list[Chunk]]]
) -> tuple[list[Chunk], dict[str, str], int]:
    """Chunk ``docs``, reusing the previous index's chunks of unchanged documents.

    Returns (chunks in document order, {doc_id: digest}, documents chunked anew).
    """
    from builder.chunk import chunk_documents

    key = chunk_key(cfg)
    digests = {d.id: document_digest(d, key) for d in docs}
    changed = [d for d in docs if previous.get(d.id, ("", []))[0] != digests[d.id]]
    fresh: dict[str, list[Chunk]] = {}
    # (nothing changed: not even the chunker's tokenizer is loaded)
    for c in chunk_documents(changed, cfg) if changed else ():
        fresh.setdefault(c.doc_id, []).append(c)
    changed_ids = {d.id for d in changed}
    chunks: list[Chunk] = []
    for d in docs:
        chunks.extend(fresh.get(d.id, []) if d.id in changed_ids else previous[d.id][1])
    log.info("Chunked %s documents anew, reused the chunks of %s",
             f"{len(changed):,}", f"{len(docs) - len(changed):,}")
    return chunks, digests, len(changed)
