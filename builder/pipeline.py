"""Run the build stages: sources -> thread labels -> documents -> chunks -> vectors -> index/.

:func:`build` is the one entry point (the CLI, the app's auto-build and the tests call
it; tests pass a fake embedder). ``source="snapshot"`` reads the corpus snapshot
(taxonomy, coded threads, the 2022 model cards, the 2026 Hub metadata);
``source="hub"`` reads taxonomy and threads from the snapshot too but takes its models
from the live Hub (``--hub-filter``). Threads without a study label get a derived
challenge category from :class:`advisor.classifier.TaxonomyClassifier`, which is saved
into the index with, on a full build, its fine-tuned head (:mod:`builder.category_head`). Every stage reuses what the index being replaced already has when its
inputs are unchanged, and the fixed training texts come from the text-vector cache in
``cfg.cache_dir`` (:mod:`builder.vector_cache`) when a build into a new folder has seen
them before.

This module holds no reading, labelling, chunking, embedding, fitting or writing logic
of its own; each stage lives in its module: :mod:`builder.sources.read`,
:mod:`builder.labelling` (with :mod:`builder.category_head`), :mod:`builder.documents`, :mod:`builder.rechunk` (with
:mod:`builder.chunk`), :mod:`builder.embed`, :mod:`builder.taskfit`, :mod:`builder.store`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.config import Config
from advisor.embedding import QUERY_ENCODER_DIR, Embedder
from advisor.errors import EmptyCorpusError
from advisor.types import Document
from builder.embed import (
    LazyEmbedder,
    embed_chunks,
    export_query_encoder,
    previous_dim,
    save_known_issue_vectors,
    save_solved_request_vectors,
)
from builder.labelling import Labelling, label_threads
from builder.rechunk import chunk_incremental
from builder.report import SourceReport
from builder.sources.read import Source, SourceData, read_sources
from builder.store import read_chunk_cache, read_vector_cache, recover_interrupted_swap, write_index
from builder.task_head import task_head_stage
from builder.taskfit import fit_task_stage
from builder.vector_cache import CachedEmbedder

log = logging.getLogger(__name__)

@dataclass
class BuildResult:
    index_dir: Path
    manifest: dict[str, Any]
    embedded_new: int
    reused: int
    embed_seconds: float
    build_seconds: float
    rechunked: int = 0  # documents chunked anew (the others reused their chunks)
    reports: dict[str, SourceReport] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, Any]:
        return self.manifest["counts"]

    def summary(self) -> str:
        return (
            f"Embedded {self.embedded_new:,} new chunks (reused {self.reused:,}) from "
            f"{len(self.reports)} sources in {self.build_seconds:.1f}s -> {self.index_dir}/"
        )


def _unique(docs: list[Document]) -> list[Document]:
    """Drop repeated document ids (the first wins): chunk ids must be unique."""
    seen: set[str] = set()
    out = []
    for d in docs:
        if d.id in seen:
            log.warning("Duplicate document id %s dropped", d.id)
            continue
        seen.add(d.id)
        out.append(d)
    return out


def _read_known_issues() -> list[Any] | None:
    """The known-issue entries, read once per build for the classifier's training texts
    and the KB vectors; ``None`` (with a warning) when a file is broken: the build goes
    on without them and the app reports the file at start."""
    from advisor.errors import KnowledgeBaseError
    from advisor.known_issues import load_known_issues

    try:
        return load_known_issues()
    except KnowledgeBaseError as e:
        log.warning("Known issues left out of this build (no KB texts for the classifier, "
                    "no KB vectors): %s", e)
        return None


def _extra_files(tmp: Path, cfg: Config, embedder: Embedder, labelling: Labelling,
                 data: SourceData, known_issues: list[Any] | None) -> dict[str, Any]:
    """The index's query encoder (``onnx/``), the known-issue vectors, the solved
    requests and the classifier, written into ``tmp``."""
    export_query_encoder(getattr(embedder, "inner", embedder), cfg, tmp / QUERY_ENCODER_DIR)
    save_known_issue_vectors(tmp, cfg, embedder, known_issues)
    save_solved_request_vectors(tmp, cfg, embedder)
    return labelling.save(tmp, data.threads)


def build(
    cfg: Config,
    source: Source = "snapshot",
    limit: int | None = None,
    hub_filters: list[str] | None = None,
    embedder: Embedder | None = None,
) -> BuildResult:
    """Build ``cfg.index_dir`` from ``source``; see the module docstring.

    Args:
        cfg: corpus_dir, index_dir, embed_model/backend/batch, chunking, progress.
        source: "snapshot" (the corpus files) or "hub" (models from the live Hub).
        limit: cap on model cards per model source, for quick builds.
        hub_filters: ``HfApi.list_models`` filters for ``source="hub"``.
        embedder: used instead of loading ``cfg.embed_model`` (tests pass a fake).
    """
    from builder.documents import taxonomy_documents, thread_documents

    started = time.perf_counter()
    recover_interrupted_swap(cfg.index_dir)
    data = read_sources(cfg, source, limit, hub_filters)  # fails fast on a bad corpus
    embedder = embedder or LazyEmbedder(cfg, previous_dim(cfg))
    # the fixed training texts (classifier, task and intent models, KB) are embedded
    # through the persistent text-vector cache; chunks reuse the previous index's vectors
    texts_embedder = CachedEmbedder(embedder, cfg.cache_dir)
    try:
        known_issues = _read_known_issues()
        # the category head's fine-tune (~6 min) is for full builds: a build capped by
        # ``limit`` (the app's quick first index, tests, quick looks) goes without it
        head_epochs = cfg.category_head_epochs if limit is None else 0.0
        labelling = label_threads(data, texts_embedder, cfg.index_dir, known_issues or (),
                                  head_epochs, cfg.embed_model, cfg.disable_progress)
        docs = [*taxonomy_documents(data.taxonomy), *thread_documents(data.threads), *data.model_docs]
        if not docs:
            raise EmptyCorpusError(
                f"The sources in {cfg.corpus_dir} produced no document; check the corpus files."
            )
        docs = _unique(docs)
        chunks, digests, rechunked = chunk_incremental(docs, cfg, read_chunk_cache(cfg.index_dir))
        if not chunks:
            raise EmptyCorpusError("Chunking produced no chunk; check the corpus files.")
        log.info("%s documents -> %s chunks", f"{len(docs):,}", f"{len(chunks):,}")

        previous = read_vector_cache(cfg.index_dir, embedder.model_id, embedder.dim)
        emb = embed_chunks(chunks, embedder, cfg, previous=previous)
        del previous
        manifest = {
            "embed_model": embedder.model_id,
            "embed_backend": getattr(embedder, "backend", cfg.embed_backend),
            "source": source,
            "limit": limit,
            "hub_filters": list(hub_filters or []),
            "chunking": {
                "chunk_size": cfg.chunk_size,
                "chunk_overlap": cfg.chunk_overlap,
                "max_chunks_per_card": cfg.max_chunks_per_card,
            },
            "sources": {name: r.as_dict() for name, r in data.reports.items()},
            "embed_seconds": round(emb.seconds, 2),
            "embedded_new": emb.embedded_new,
            "reused_vectors": emb.reused,
            "rechunked_documents": rechunked,
        }
        save_models, manifest["task_model"] = fit_task_stage(cfg, chunks, emb.vectors, data.models,
                                                             texts_embedder)
        # the task head's fine-tune (~9 min) is for full builds too, and reused when unchanged
        save_task_head, manifest["task_head"] = task_head_stage(cfg, limit)

        def extra(tmp: Path) -> dict[str, Any]:
            save_models(tmp)
            save_task_head(tmp)
            return _extra_files(tmp, cfg, texts_embedder, labelling, data, known_issues)

        written = write_index(
            cfg.index_dir, chunks, emb.vectors,
            models=data.models, threads=data.threads, taxonomy=data.taxonomy,
            manifest=manifest, extra=extra,
            n_documents=len(docs), doc_digests=digests, started=started,
        )
    finally:  # the cache file is closed on failure too
        texts_embedder.close()
    log.info("Training texts: %s from the text-vector cache, %s embedded (%s)",
             f"{texts_embedder.hits:,}", f"{texts_embedder.misses:,}", texts_embedder.path)
    result = BuildResult(
        index_dir=Path(cfg.index_dir), manifest=written, embedded_new=emb.embedded_new,
        reused=emb.reused, embed_seconds=emb.seconds,
        build_seconds=time.perf_counter() - started, rechunked=rechunked,
        reports=data.reports,
    )
    log.info("%s", result.summary())
    return result
