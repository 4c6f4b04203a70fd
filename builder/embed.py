"""Chunks -> vectors, batched, with a progress bar, reusing vectors of unchanged chunks.

:func:`embed_chunks` embeds only the chunks whose ``content_hash`` is not in the
``previous`` cache (the vectors of the index being replaced, read by
:func:`builder.store.read_vector_cache` only when that index used the same embedding
model and dimension). Identical texts inside one build are embedded once. Texts are
sorted by length before batching so each batch pads to similar lengths (the main
throughput lever for transformer encoders on CPU); the result is returned in chunk
order. :func:`progress` is the one tqdm wrapper the builder uses; it is silent when
``cfg.disable_progress`` (``ADVISOR_DISABLE_PROGRESS=1``) is set or stderr is not a
terminal that can take it.

:func:`export_query_encoder` puts the ONNX query encoder (model, tokenizer, settings)
into the new index's ``onnx/`` so the app embeds questions without torch.

:class:`LazyEmbedder` loads ``cfg.embed_model`` (through :func:`advisor.embedding.get_embedder`)
only when something must be embedded, so a no-change rebuild never loads the model. It
embeds with :func:`build_backend`: ``cfg.build_embed_backend``, where ``"auto"`` means bf16
autocast on a CPU with native bf16, kept when the first texts it embeds come within
cosine :data:`BF16_MIN_COSINE` of fp32, else ``cfg.embed_backend`` (queries always use that).
:func:`save_known_issue_vectors` embeds the known-issues KB and its solved posts into the new index;
:func:`save_solved_request_vectors` embeds the labelled training requests (the recommender's
"accepted for similar requests" signal, :mod:`advisor.solved_requests`).

This module does not choose the model or the backend (:mod:`advisor.embedding`) and writes
no index file other than the query encoder, the known-issue vectors and the solved
requests (:mod:`builder.store` writes the rest).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from advisor.config import Config
from advisor.embedding import BF16_BACKEND, Embedder, get_embedder, native_bf16
from advisor.errors import EmbeddingModelError
from advisor.types import Chunk

log = logging.getLogger(__name__)

# Texts handed to one ``encode`` call: several model batches, so sentence-transformers'
# own per-call overhead is amortised while the progress bar still moves every few s.
DEFAULT_CALL_BATCHES = 8
DEFAULT_LOG_INTERVAL = 30.0  # seconds between progress lines when stderr is a file
BUILD_BACKENDS = ("auto", "onnx", "torch", BF16_BACKEND)
# "auto" keeps bf16 only when its vectors stay this close to fp32 on the first texts the
# build embeds (MiniLM measures >= 0.99995 on 1,500 chunks; a model that loses more in bf16
# falls back); BF16_PROBE_SIZE of them are embedded both ways
BF16_MIN_COSINE = 0.999
BF16_PROBE_SIZE = 8


def build_backend(cfg: Config) -> str:
    """The backend the builder embeds with (see the module docstring).

    Raises:
        EmbeddingModelError: ``cfg.build_embed_backend`` is not one of :data:`BUILD_BACKENDS`.
    """
    choice = cfg.build_embed_backend
    if choice not in BUILD_BACKENDS:
        raise EmbeddingModelError(
            f"ADVISOR_BUILD_EMBED_BACKEND={choice!r} is not one of {', '.join(BUILD_BACKENDS)}."
        )
    if choice != "auto":
        return choice
    return BF16_BACKEND if native_bf16() else cfg.embed_backend


def progress(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool = False,
):
    """The builder's one progress bar (tqdm), or a no-op bar when ``disable``."""
    import sys

    from tqdm.auto import tqdm

    # A log file (not a terminal) gets one progress line per DEFAULT_LOG_INTERVAL s.
    interactive = getattr(sys.stderr, "isatty", lambda: False)()
    try:
        return tqdm(
            iterable, total=total, desc=desc, unit=unit, disable=disable,
            leave=False, dynamic_ncols=True,
            mininterval=0.5 if interactive else DEFAULT_LOG_INTERVAL,
            maxinterval=max(10.0, 0.5 if interactive else DEFAULT_LOG_INTERVAL),
        )
    except Exception:  # noqa: BLE001 - a stderr that cannot take a bar must not stop a build
        return tqdm(iterable, total=total, disable=True)


@dataclass
class EmbedResult:
    vectors: np.ndarray  # (n_chunks, dim) float32, row i = chunk i, L2-normalised
    embedded_new: int  # distinct texts sent to the model
    reused: int  # chunks whose vector came from the previous index
    seconds: float  # wall time of the model calls


def embed_chunks(
    chunks: Sequence[Chunk],
    embedder: Embedder,
    cfg: Config,
    previous: dict[str, np.ndarray] | None = None,
) -> EmbedResult:
    """Vectors for ``chunks`` (in order), embedding only hashes not in ``previous``.

    Args:
        chunks: the build's chunks, row order.
        embedder: any :class:`advisor.embedding.Embedder`.
        cfg: ``embed_batch`` and ``disable_progress`` are used.
        previous: ``{content_hash: (dim,) vector}`` from the index being replaced; pass
            it only when that index was built with the same model id and dimension.
    """
    previous = previous or {}
    n = len(chunks)
    vectors = np.zeros((n, embedder.dim), dtype=np.float32)  # (n, dim)
    todo: dict[str, str] = {}  # hash -> text, first occurrence wins
    reused = 0
    for i, c in enumerate(chunks):
        vec = previous.get(c.content_hash)
        if vec is not None and vec.shape == (embedder.dim,):
            vectors[i] = vec
            reused += 1
        elif c.content_hash not in todo:
            todo[c.content_hash] = c.text

    new_vecs: dict[str, np.ndarray] = {}
    seconds = 0.0
    if todo:
        order = sorted(todo, key=lambda h: len(todo[h]))
        batch = max(1, int(cfg.embed_batch))
        step = batch * DEFAULT_CALL_BATCHES
        bar = progress(total=len(order), desc="Embedding", unit="chunk",
                       disable=cfg.disable_progress)
        t0 = time.perf_counter()
        try:
            for start in range(0, len(order), step):
                hashes = order[start:start + step]
                out = embedder.encode([todo[h] for h in hashes], batch_size=batch)
                out = np.asarray(out, dtype=np.float32)
                if out.shape != (len(hashes), embedder.dim):
                    raise ValueError(
                        f"Embedder {embedder.model_id!r} returned shape {out.shape}, "
                        f"expected ({len(hashes)}, {embedder.dim})."
                    )
                new_vecs.update(zip(hashes, out, strict=False))
                bar.update(len(hashes))
        finally:
            bar.close()
        seconds = time.perf_counter() - t0
        for i, c in enumerate(chunks):
            vec = new_vecs.get(c.content_hash)
            if vec is not None:
                vectors[i] = vec
    rate = len(todo) / seconds if seconds > 0 else 0.0
    log.info(
        "Embedded %s new texts (%s chunks reused) in %.1fs (%.0f/s)",
        f"{len(todo):,}", f"{reused:,}", seconds, rate,
    )
    return EmbedResult(vectors=vectors, embedded_new=len(todo), reused=reused, seconds=seconds)


def export_query_encoder(embedder: Embedder, cfg: Config, out_dir: Path) -> bool:
    """Write ``cfg.embed_model``'s ONNX query encoder into ``out_dir`` (an index's
    ``onnx/``); True when written.

    Only for real embedders (they have a ``backend``; the tests' fakes do not) whose
    model is ``cfg.embed_model``. Uses the export cache in ``cfg.cache_dir`` (the first
    export imports torch, later builds copy files). A failure (onnx missing, a model the
    ONNX backend cannot run) logs one warning: the app then embeds queries as before.
    """
    from advisor.embedding import write_query_encoder

    if getattr(embedder, "backend", None) is None or embedder.model_id != cfg.embed_model:
        return False
    try:
        write_query_encoder(cfg.embed_model, cfg.cache_dir, out_dir)
    except Exception as e:  # noqa: BLE001 - the index is complete without it
        log.warning("No ONNX query encoder in the index (%s: %s); the app will load "
                    "%r with its full stack", type(e).__name__, e, cfg.embed_model)
        shutil.rmtree(out_dir, ignore_errors=True)
        return False
    return True


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
        self._probed = False  # the bf16 check of _probe_bf16 runs on the first texts

    def _load(self) -> Embedder:
        if self._model is None:
            self._model = get_embedder(self._cfg.embed_model, build_backend(self._cfg),
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
        """The backend that actually embedded (ONNX may have fallen back to torch);
        before loading, the one it would use."""
        if self._model is None:
            return build_backend(self._cfg)
        return getattr(self._model, "backend", self._cfg.embed_backend)

    def _probe_bf16(self, texts) -> None:
        """An "auto" bf16 embedder is kept only if the first texts it is given embed within
        :data:`BF16_MIN_COSINE` of fp32; otherwise ``cfg.embed_backend`` (same model, dim)."""
        self._probed = True
        if (getattr(self._model, "backend", None) != BF16_BACKEND
                or self._cfg.build_embed_backend != "auto"):
            return
        fidelity = self._model.bf16_fidelity(list(texts[:BF16_PROBE_SIZE]))
        if fidelity < BF16_MIN_COSINE:
            log.warning("bf16 vectors of %r reach cosine %.4f to fp32 (< %s); embedding with "
                        "%s instead", self.model_id, fidelity, BF16_MIN_COSINE,
                        self._cfg.embed_backend)
            self._model = get_embedder(self._cfg.embed_model, self._cfg.embed_backend,
                                       cache_dir=self._cfg.cache_dir)

    def encode(self, texts, batch_size: int = 64):
        self._load()
        if not self._probed and len(texts):
            self._probe_bf16(texts)
        return self._model.encode(texts, batch_size=batch_size)


def previous_dim(cfg: Config) -> int | None:
    from advisor.index import read_manifest

    try:
        man = read_manifest(cfg.index_dir)
    except Exception:  # noqa: BLE001 - no previous index: the model gives the dim
        return None
    return man.get("dim") if man.get("embed_model") == cfg.embed_model else None


def save_known_issue_vectors(tmp: Path, cfg: Config, embedder: Embedder,
                             issues: Sequence[Any] | None) -> None:
    """Embed the known-issues KB (``issues``, read once by the build; ``None`` when a KB
    file is broken: nothing is written and the app embeds at start) and the labelled
    posts it solved (``eval/train_posts.jsonl`` rows with a ``known_issue``) into the
    index, with each entry's signature record over the posts labelled for the knowledge
    base (:func:`advisor.kb_store.signature_record`); vectors of unchanged texts are
    taken from the previous index."""
    from advisor.config import LABELLED_POSTS_FILE
    from advisor.kb_rank import signature_likely
    from advisor.kb_store import (
        load_vector_cache,
        read_kb_labelled_posts,
        read_solved_posts,
        save_vector_cache,
        signature_record,
    )

    if issues is None:
        return
    previous = load_vector_cache(Path(cfg.index_dir), embedder.model_id)
    solved = read_solved_posts(LABELLED_POSTS_FILE)
    labelled = read_kb_labelled_posts(LABELLED_POSTS_FILE)
    record = signature_record(issues, labelled)
    fresh = save_vector_cache(tmp, issues, embedder, previous, solved, record)
    log.info("Known-issue vectors: %d entries, %d solved posts, %d texts embedded anew; "
             "signatures of %d entries fire on the %d labelled posts, %d of them mostly "
             "on other problems", len(issues), len(solved), fresh, len(record), len(labelled),
             sum(not signature_likely(*c) for c in record.values()))


def save_solved_request_vectors(tmp: Path, cfg: Config, embedder: Embedder) -> None:
    """Embed the labelled training requests (``eval/train_requests.jsonl`` rows with
    ``good_models``) into the index (``solved_requests.npz``); vectors of unchanged
    requests are taken from the index being replaced."""
    from advisor.config import TRAIN_REQUESTS_FILE
    from advisor.solved_requests import read_solved_requests, save_solved_requests, stored_vectors

    rows = read_solved_requests(TRAIN_REQUESTS_FILE)
    n = save_solved_requests(tmp, rows,
                             lambda texts: embedder.encode(texts, batch_size=cfg.embed_batch),
                             embedder.model_id, stored_vectors(cfg.index_dir, embedder.model_id))
    log.info("Solved requests: %d for the recommender, %d embedded anew", len(rows), n)
