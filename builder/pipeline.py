"""Run the build stages: sources -> thread labels -> documents -> chunks -> vectors -> index/.

:func:`build` is the one entry point (the CLI, the app's auto-build and the tests call
it; tests pass a fake embedder). ``source="snapshot"`` reads the corpus snapshot
(taxonomy, coded threads, the 2022 model cards, the 2026 Hub metadata);
``source="hub"`` reads taxonomy and threads from the snapshot too but takes its models
from the live Hub (``--hub-filter``). Threads without a study label get a derived
challenge category from :class:`advisor.classifier.TaxonomyClassifier`, which is saved
into the index. Embedding is incremental against the index being replaced.

This module holds no reading, chunking or writing logic of its own; each stage lives in
its module (:mod:`builder.sources`, :mod:`builder.documents`, :mod:`builder.chunk`,
:mod:`builder.embed`, :mod:`builder.store`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Literal

from advisor.config import Config
from advisor.corpus import require_corpus_path
from advisor.embedding import QUERY_ENCODER_DIR, Embedder, get_embedder
from advisor.errors import EmbeddingModelError, EmptyCorpusError
from advisor.taskmodel import FORMAT_VERSION as TASK_MODEL_FORMAT
from advisor.types import Chunk, Document, ModelInfo, TaxonomyEntry, ThreadInfo
from builder.embed import embed_chunks, export_query_encoder
from builder.report import SourceReport
from builder.store import (
    CLASSIFIER_FILES,
    read_chunk_cache,
    read_vector_cache,
    recover_interrupted_swap,
    write_index,
)

log = logging.getLogger(__name__)

CARDS_2022_FILE = "model_cards_2022.jsonl.gz"
HUB_2026_FILE = "hub_models_2026.jsonl.gz"
DEFAULT_HUB_LIMIT = 200  # live Hub models per build when --limit is not given
Source = Literal["snapshot", "hub"]


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


@dataclass
class SourceData:
    """Everything the sources produced, before documents and chunks."""

    taxonomy: list[TaxonomyEntry]
    threads: list[ThreadInfo]
    models: list[ModelInfo]
    model_docs: list[Document]
    reports: dict[str, SourceReport]


def read_sources(
    cfg: Config,
    source: Source = "snapshot",
    limit: int | None = None,
    hub_filters: list[str] | None = None,
) -> SourceData:
    """Read every source; ``limit`` caps each model source (2022 cards, 2026, Hub)."""
    from builder.sources.taxonomy import read_taxonomy
    from builder.sources.threads import read_threads

    corpus = require_corpus_path(Path(cfg.corpus_dir), folder=True)
    reports = {name: SourceReport(name) for name in ("taxonomy", "threads")}
    taxonomy = read_taxonomy(corpus, reports["taxonomy"])
    threads = read_threads(corpus, reports["threads"])
    if cfg.fetch_threads:  # --fetch-threads: titles and first posts from the forum
        from builder.sources.discourse import fetch_thread_texts

        reports["discourse"] = SourceReport("discourse")
        threads = fetch_thread_texts(threads, cfg, reports["discourse"])
    models: list[ModelInfo] = []
    docs: list[Document] = []
    if source == "snapshot":
        from builder.sources.cards2022 import read_cards
        from builder.sources.hub2026 import read_hub2026

        readers = [
            ("cards2022", lambda r: read_cards(corpus / CARDS_2022_FILE, r, limit=limit)),
            ("hub2026", lambda r: read_hub2026(corpus / HUB_2026_FILE, r, limit=limit)),
        ]
    elif source == "hub":
        from builder.sources.hub_live import read_hub

        readers = [(
            "hub_live",
            lambda r: read_hub(None, r, filters=list(hub_filters or []),
                               limit=limit or DEFAULT_HUB_LIMIT, token=cfg.hf_token),
        )]
    else:
        raise ValueError(f"Unknown source {source!r}; use 'snapshot' or 'hub'.")
    for name, read in readers:
        report = reports[name] = SourceReport(name)
        for info, doc in read(report):
            models.append(info)
            docs.append(doc)
    for report in reports.values():
        log.info("%s", report.summary())
    return SourceData(taxonomy, threads, models, docs, reports)


def _classifier_inputs_sha256(data: SourceData, guidance: dict, embedder: Embedder,
                              posts: list | None = None) -> str:
    """Digest of everything the classifier is fitted on (a rebuild with the same digest
    reuses the previous fit and thread labels instead of embedding them again)."""
    from advisor.classifier import FEATURES_VERSION

    payload = json.dumps(
        {
            "embed_model": embedder.model_id,
            "dim": embedder.dim,
            "features_version": FEATURES_VERSION,
            "taxonomy": [asdict(e) for e in data.taxonomy],
            "threads": [asdict(t) for t in data.threads],
            "guidance": {k: asdict(v) if is_dataclass(v) else repr(v)
                         for k, v in sorted(guidance.items())},
            "posts": [asdict(p) for p in posts or []],
        },
        sort_keys=True, default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _previous_labels(index_dir: Path, digest: str) -> dict[int, ThreadInfo] | None:
    """Thread labels of the index being replaced, if its classifier had the same inputs."""
    from advisor.index import STORE_FILE, read_manifest

    try:
        man = read_manifest(index_dir)
        if (man.get("classifier") or {}).get("inputs_sha256") != digest:
            return None
        if not all((index_dir / f).exists() for f in CLASSIFIER_FILES):
            return None
        con = sqlite3.connect(f"file:{(index_dir / STORE_FILE).resolve()}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT json FROM threads").fetchall()
        finally:
            con.close()
    except Exception as e:  # noqa: BLE001 - no reuse, just fit again
        log.info("Not reusing the previous classifier (%s)", e)
        return None
    fields_ = set(ThreadInfo.__dataclass_fields__)
    out = {}
    for (js,) in rows:
        d = json.loads(js)
        out[d["topic_id"]] = ThreadInfo(**{k: v for k, v in d.items() if k in fields_})
    return out


@dataclass
class Labelling:
    """How threads got their labels; ``save`` puts the classifier into the new index."""

    classifier: Any = None  # fitted TaxonomyClassifier, or None
    reuse_from: Path | None = None  # copy classifier files from this index dir
    inputs_sha256: str = ""

    def save(self, tmp_dir: Path, threads: list[ThreadInfo]) -> dict[str, Any]:
        info: dict[str, Any] = {"fitted": False, "inputs_sha256": self.inputs_sha256}
        if self.reuse_from is not None:
            for name in CLASSIFIER_FILES:
                shutil.copy2(self.reuse_from / name, tmp_dir / name)
            info.update(fitted=True, reused=True)
        elif self.classifier is not None:
            self.classifier.save(tmp_dir)
            info.update(fitted=True, reused=False)
        by_source: dict[str, int] = {}
        for t in threads:
            if t.category:
                by_source[t.label_source] = by_source.get(t.label_source, 0) + 1
        info["labelled_threads"] = by_source
        return info


def label_threads(data: SourceData, embedder: Embedder, index_dir: Path) -> Labelling:
    """Label threads without a study label with the taxonomy classifier.

    Reuses the previous index's classifier and labels when their inputs (taxonomy,
    threads, guidance, embedding model) are unchanged; otherwise fits a new one. When
    :mod:`advisor.classifier` is not available, threads keep only their root-cause
    labels.
    """
    try:
        from advisor.classifier import TaxonomyClassifier
        from advisor.config import LABELLED_POSTS_FILE
        from advisor.guidance import load_guidance
        from advisor.labelled import labelled_posts
    except ImportError as e:
        log.warning("Taxonomy classifier unavailable (%s); threads are not labelled", e)
        return Labelling()
    guidance = load_guidance()
    posts = labelled_posts(Path(LABELLED_POSTS_FILE).parent)
    digest = _classifier_inputs_sha256(data, guidance, embedder, posts)
    previous = _previous_labels(Path(index_dir), digest)
    if previous is not None and set(previous) == {t.topic_id for t in data.threads}:
        data.threads = [previous[t.topic_id] for t in data.threads]
        log.info("Reusing the previous classifier and thread labels (inputs unchanged)")
        return Labelling(reuse_from=Path(index_dir), inputs_sha256=digest)
    clf = TaxonomyClassifier().fit(data.taxonomy, data.threads, guidance, embedder, posts)
    data.threads = clf.label_threads(data.threads)
    return Labelling(classifier=clf, inputs_sha256=digest)


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
    for c in chunk_documents(changed, cfg):
        fresh.setdefault(c.doc_id, []).append(c)
    changed_ids = {d.id for d in changed}
    chunks: list[Chunk] = []
    for d in docs:
        chunks.extend(fresh.get(d.id, []) if d.id in changed_ids else previous[d.id][1])
    log.info("Chunked %s documents anew, reused the chunks of %s",
             f"{len(changed):,}", f"{len(docs) - len(changed):,}")
    return chunks, digests, len(changed)


class LazyEmbedder:
    """``cfg.embed_model``, loaded on the first ``encode`` call.

    A rebuild where nothing changed embeds nothing, so it need not import torch and load
    the model (seconds of the no-change budget). ``dim`` comes from the previous
    manifest when that index used the same model; otherwise reading it loads the model.
    """

    def __init__(self, cfg: Config, dim_hint: int | None = None):
        self.model_id = cfg.embed_model
        self._cfg = cfg
        self._dim = dim_hint
        self._model: Embedder | None = None

    def _load(self) -> Embedder:
        if self._model is None:
            self._model = get_embedder(self._cfg.embed_model, self._cfg.embed_backend,
                                       cache_dir=self._cfg.cache_dir)
            if self._dim is not None and self._model.dim != self._dim:
                raise EmbeddingModelError(
                    f"{self.model_id!r} now makes dim {self._model.dim}, the previous "
                    f"index says {self._dim}. Delete {self._cfg.index_dir} and build again."
                )
            self._dim = self._model.dim
        return self._model

    @property
    def dim(self) -> int:
        return self._dim if self._dim is not None else self._load().dim

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def backend(self) -> str:
        """The backend that actually embedded (ONNX may have fallen back to torch)."""
        if self._model is None:
            return self._cfg.embed_backend
        return getattr(self._model, "backend", self._cfg.embed_backend)

    def encode(self, texts, batch_size: int = 64):
        return self._load().encode(texts, batch_size=batch_size)


def _previous_dim(cfg: Config) -> int | None:
    from advisor.index import read_manifest

    try:
        man = read_manifest(cfg.index_dir)
    except Exception:  # noqa: BLE001 - no previous index: the model gives the dim
        return None
    return man.get("dim") if man.get("embed_model") == cfg.embed_model else None


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


def fit_task_stage(cfg: Config, chunks, vectors, models: list[ModelInfo], embedder: Embedder):
    """Fit the task model (:mod:`builder.taskfit`) and the intent model
    (:mod:`advisor.intent`) on this build's data. Returns ``(save(tmp_dir), info)``.

    The task model is reused from the previous index when its inputs are unchanged (its
    fit takes a minute or two); a build with too few tagged models has none (tiny test
    builds), and the app then falls back to the readable task cues."""
    from builder.taskfit import fit_task_model, inputs_sha256

    by_id: dict[str, ModelInfo] = {}
    for m in models:  # the 2026 record wins, as in AdvisorIndex.load
        if m.id not in by_id or m.source != "2022":
            by_id[m.id] = m
    digest = inputs_sha256(chunks, by_id, embedder)
    prev_dir = Path(cfg.index_dir)
    prev = _previous_task_info(prev_dir)
    task_model = None
    reuse = prev.get("inputs_sha256") == digest and (prev_dir / "taskmodel.npz").exists()
    if not reuse:
        try:
            task_model = fit_task_model([c.text for c in chunks], [c.kind for c in chunks],
                                        [c.doc_id for c in chunks], vectors, by_id, embedder)
        except ValueError as e:
            log.warning("No task model in this build (%s); the app falls back to task cues", e)
    else:
        log.info("Reusing the previous task model (inputs unchanged)")
    intent, intent_digest, intent_reuse = fit_intent_stage(embedder, prev_dir, prev)

    def save(tmp: Path) -> None:
        if reuse:
            for name in ("taskmodel.npz", "taskmodel.json"):
                shutil.copy2(prev_dir / name, tmp / name)
        elif task_model is not None:
            task_model.save(tmp)
        if intent_reuse:
            for name in ("intent.npz", "intent.json"):
                shutil.copy2(prev_dir / name, tmp / name)
        elif intent is not None:
            intent.save(tmp)

    info = {"format_version": TASK_MODEL_FORMAT, "inputs_sha256": digest, "reused": reuse,
            "present": reuse or task_model is not None,
            "intent_model": intent_reuse or intent is not None, "intent_sha256": intent_digest}
    return save, info


def _previous_task_info(index_dir: Path) -> dict[str, Any]:
    """The ``task_model`` section of the index being replaced (``{}`` when none)."""
    from advisor.index import read_manifest

    try:
        return dict(read_manifest(index_dir).get("task_model") or {})
    except Exception:  # noqa: BLE001 - no (readable) previous index: fit anew
        return {}


def fit_intent_stage(embedder: Embedder, prev_dir: Path, prev: dict[str, Any]):
    """The intent model from the labelled questions in ``eval/``: ``(model or None,
    inputs digest, reuse the previous index's files)``; ``prev`` is the previous index's
    ``task_model`` manifest section."""
    from advisor.config import LABELLED_POSTS_FILE
    from advisor.intent import FORMAT_VERSION, IntentModel, training_rows

    texts, labels = training_rows(Path(LABELLED_POSTS_FILE).parent)
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, embedder.model_id, texts, labels])
                            .encode()).hexdigest()
    if len(set(labels)) < 2:
        log.warning("No intent model: labelled questions missing under %s",
                    Path(LABELLED_POSTS_FILE).parent)
        return None, digest, False
    if prev.get("intent_sha256") == digest and (prev_dir / "intent.npz").exists():
        log.info("Reusing the previous intent model (inputs unchanged)")
        return None, digest, True
    vecs = embedder.encode(texts)
    return IntentModel.fit(texts, vecs, labels), digest, False


def _extra_files(tmp: Path, cfg: Config, embedder: Embedder, labelling: Labelling,
                 data: SourceData) -> dict[str, Any]:
    """The index's query encoder (``onnx/``), the known-issue vectors and the classifier,
    written into ``tmp``."""
    export_query_encoder(embedder, cfg, tmp / QUERY_ENCODER_DIR)
    save_known_issue_vectors(tmp, cfg, embedder)
    return labelling.save(tmp, data.threads)


def save_known_issue_vectors(tmp: Path, cfg: Config, embedder: Embedder) -> None:
    """Embed the known-issues KB into the index (vectors of unchanged entries are taken
    from the previous index); a broken KB file is reported and skipped, the app then
    embeds at start."""
    from advisor.errors import KnowledgeBaseError
    from advisor.known_issues import load_known_issues, load_vector_cache, save_vector_cache

    try:
        issues = load_known_issues()
    except KnowledgeBaseError as e:
        log.warning("Known-issue vectors not built: %s", e)
        return
    previous = load_vector_cache(Path(cfg.index_dir), embedder.model_id)
    fresh = save_vector_cache(tmp, issues, embedder, previous)
    log.info("Known-issue vectors: %d entries, %d texts embedded anew", len(issues), fresh)


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
    embedder = embedder or LazyEmbedder(cfg, _previous_dim(cfg))
    labelling = label_threads(data, embedder, cfg.index_dir)
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
                                                         embedder)

    def extra(tmp: Path) -> dict[str, Any]:
        save_models(tmp)
        return _extra_files(tmp, cfg, embedder, labelling, data)

    written = write_index(
        cfg.index_dir, chunks, emb.vectors,
        models=data.models, threads=data.threads, taxonomy=data.taxonomy,
        manifest=manifest, extra=extra,
        n_documents=len(docs), doc_digests=digests, started=started,
    )
    result = BuildResult(
        index_dir=Path(cfg.index_dir), manifest=written, embedded_new=emb.embedded_new,
        reused=emb.reused, embed_seconds=emb.seconds,
        build_seconds=time.perf_counter() - started, rechunked=rechunked,
        reports=data.reports,
    )
    log.info("%s", result.summary())
    return result
