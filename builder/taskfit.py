"""Build stage: fit the task model (:mod:`advisor.taskmodel`) from the model chunks.

Inputs are what the build already has in hand: the chunks (text, kind, doc id), their
vectors, the model records (for each model's pipeline tag) and the task descriptions in
``prompts/tasks.yaml``. Every model chunk whose model has a pipeline tag is one training
example. :func:`refit` does the same from an index on disk (``python -m builder taskmodel``),
so the task model can be refitted without re-embedding anything.

This module does not embed cards (it reuses the build's vectors) and does not decide how
the app uses the model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from advisor.taskmodel import TaskModel, card_training_text
from advisor.tasks import load_task_specs
from advisor.types import ModelInfo

log = logging.getLogger(__name__)

MODEL_KINDS = ("model", "model2026")


def fit_task_model(texts: Sequence[str], kinds: Sequence[str], doc_ids: Sequence[str],
                   vectors: np.ndarray, models: dict[str, ModelInfo], embedder) -> TaskModel:
    """Fit on every model chunk with a tagged model; see the module docstring.

    Args:
        texts, kinds, doc_ids: per chunk row (row i = vector i).
        vectors: ``(n, dim)`` float32 chunk vectors.
        models: model id -> record (its ``pipeline_tag`` is the label).
        embedder: embeds the task descriptions (same model as the vectors).
    """
    t0 = time.perf_counter()
    rows, x_text, y = [], [], []
    for i, (kind, doc_id) in enumerate(zip(kinds, doc_ids, strict=True)):
        if kind not in MODEL_KINDS:
            continue
        m = models.get(doc_id.split(":", 1)[1])
        tag = m.pipeline_tag if m is not None else None
        if not tag:
            continue
        rows.append(i)
        x_text.append(card_training_text(texts[i], tag))
        y.append(tag)
    specs = load_task_specs()
    desc = {t: f"{s.title}. {s.description}" for t, s in specs.items() if s.description}
    dvec = embedder.encode(list(desc.values())) if desc else None
    desc_vectors = {t: dvec[j] for j, t in enumerate(desc)} if dvec is not None else None
    model = TaskModel.fit(x_text, np.asarray(vectors)[rows], y, descriptions=desc,
                          description_vectors=desc_vectors)
    log.info("Fitted the task model on %s model chunks (%d tasks) in %.1f s",
             f"{len(rows):,}", len(model.labels), time.perf_counter() - t0)
    return model


def inputs_sha256(chunks, models: dict[str, ModelInfo], embedder) -> str:
    """Digest of everything the task model learns from (a rebuild with the same digest
    copies the previous index's task model instead of fitting it again: ~1-2 minutes)."""
    import hashlib

    from advisor.taskmodel import C_DENSE, C_TEXT, FORMAT_VERSION, MAX_FEATURES

    h = hashlib.sha256()
    h.update(f"{FORMAT_VERSION}|{C_TEXT}|{C_DENSE}|{MAX_FEATURES}|{embedder.model_id}".encode())
    from advisor.tasks import TASKS_FILE

    h.update(Path(TASKS_FILE).read_bytes())
    for c in chunks:
        if c.kind in MODEL_KINDS:
            m = models.get(c.doc_id.split(":", 1)[1])
            h.update(f"{c.content_hash}|{m.pipeline_tag if m else ''}\n".encode())
    return h.hexdigest()


def refit(index_dir: Path, embedder=None) -> TaskModel:
    """Refit and save the task model of an existing index (no re-embedding)."""
    import faiss

    from advisor.config import Config
    from advisor.index import AdvisorIndex

    cfg = Config.from_env().replace(index_dir=Path(index_dir))
    idx = AdvisorIndex.load(cfg, embedder=embedder)
    vecs = faiss.read_index(str(Path(index_dir) / "vectors.faiss"))
    vectors = vecs.reconstruct_n(0, vecs.ntotal)
    texts = [idx.chunk_text(r) for r in range(len(idx))]
    model = fit_task_model(texts, list(idx.kinds), list(idx.doc_ids), vectors, idx.models,
                           idx.embedder)
    model.save(Path(index_dir))
    return model
