"""Build stage: fit the task model (:mod:`advisor.taskmodel`) from the model chunks.

Inputs are what the build already has in hand: the chunks (text, kind, doc id), their
vectors, the model records (for each model's pipeline tag) and the task descriptions in
``prompts/tasks.yaml``. Every model chunk whose model has a pipeline tag is one training
example. :func:`refit` does the same from an index on disk (``builder.taskfit.refit(dir)``),
so the task model can be refitted without re-embedding anything. Both then infer the task
of every model without a pipeline tag (:func:`infer_untagged`, ``inferred_tasks.json``).

The build calls :func:`fit_task_stage`, which also learns the related tasks of the
recommender (:func:`advisor.pools.learn_related_tasks`, from the labelled requests) and
fits the intent model
(:mod:`advisor.intent`, from the labelled questions in ``eval/``) and reuses either model
from the previous index when its inputs digest (``manifest.task_model.inputs_sha256`` /
``intent_sha256``) is unchanged.

This module does not embed cards (it reuses the build's vectors) and does not decide how
the app uses the model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from advisor.ask_language import fit as fit_ask_language
from advisor.config import TRAIN_REQUESTS_FILE, Config
from advisor.embedding import Embedder
from advisor.labelled import training_request_models, training_request_rows, training_requests
from advisor.pools import learn_related_tasks, save_related
from advisor.taskmodel import FORMAT_VERSION as TASK_MODEL_FORMAT
from advisor.taskmodel import (
    INFERRED_FILE,
    MAX_TEXT_CHARS,
    TaskModel,
    card_training_text,
    load_inferred,
    save_inferred,
)
from advisor.tasks import load_task_specs
from advisor.types import ModelInfo

log = logging.getLogger(__name__)

MODEL_KINDS = ("model", "model2026")
INFER_CHUNKS = 3  # chunks per untagged model read by the task inference (id, tags, summary)
INFER_BATCH = 2048  # models per prediction step: bounds the sparse x dense product's memory


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
    requests = training_requests(TRAIN_REQUESTS_FILE)
    rvec = embedder.encode([q for q, _ in requests]) if requests else None
    model = TaskModel.fit(x_text, np.asarray(vectors)[rows], y, descriptions=desc,
                          description_vectors=desc_vectors, requests=requests,
                          request_vectors=rvec)
    log.info("Fitted the task model on %s model chunks (%d tasks) in %.1f s",
             f"{len(rows):,}", len(model.labels), time.perf_counter() - t0)
    return model


def infer_untagged(model: TaskModel, texts: Sequence[str], kinds: Sequence[str],
                   doc_ids: Sequence[str], vectors: np.ndarray,
                   models: dict[str, ModelInfo]) -> dict[str, tuple[str, float]]:
    """The task model's best task for every model without a pipeline tag: ``{model id:
    (task, probability)}``. A third of the Hub's models carry no tag (base checkpoints
    such as Longformer or DeBERTa, speaker-verification heads, GGUF and ComfyUI repos);
    this reads their first :data:`INFER_CHUNKS` chunks (text and mean vector) as the
    fit reads tagged cards. The recommender decides what probability is enough."""
    t0 = time.perf_counter()
    rows: dict[str, list[int]] = {}
    for i, (kind, doc_id) in enumerate(zip(kinds, doc_ids, strict=True)):
        if kind not in MODEL_KINDS:
            continue
        mid = doc_id.split(":", 1)[1]
        m = models.get(mid)
        if m is None or m.pipeline_tag:
            continue
        got = rows.setdefault(mid, [])
        if len(got) < INFER_CHUNKS:
            got.append(i)
    if not rows:
        return {}
    ids = list(rows)
    vecs = np.asarray(vectors, np.float32)
    text = [" ".join(texts[i] for i in rows[mid])[:MAX_TEXT_CHARS] for mid in ids]
    mean = np.stack([vecs[rows[mid]].mean(axis=0) for mid in ids])
    mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
    out: dict[str, tuple[str, float]] = {}
    for start in range(0, len(ids), INFER_BATCH):
        batch = slice(start, start + INFER_BATCH)
        p = model.proba_many(text[batch], mean[batch])
        best = p.argmax(axis=1)
        for j, mid in enumerate(ids[batch]):
            out[mid] = (model.labels[int(best[j])], float(p[j, best[j]]))
    log.info("Inferred the task of %s untagged models in %.1f s", f"{len(out):,}",
             time.perf_counter() - t0)
    return out


def inputs_sha256(chunks, models: dict[str, ModelInfo], embedder) -> str:
    """Digest of everything the task model learns from (a rebuild with the same digest
    copies the previous index's task model instead of fitting it again: ~1-2 minutes)."""
    from advisor import taskmodel as T

    h = hashlib.sha256()
    settings = (T.FORMAT_VERSION, T.C_TEXT, T.C_DENSE, T.MAX_FEATURES, T.MIN_DF, T.W_TEXT,
                T.MIN_MODELS_PER_TASK, T.MIN_MODELS_ANCHORED, T.REQUEST_WEIGHT,
                T.DESCRIPTION_WEIGHT, T.CLASS_WEIGHT_POWER, embedder.model_id)
    h.update("|".join(map(str, settings)).encode())
    from advisor.tasks import TASKS_FILE

    h.update(Path(TASKS_FILE).read_bytes())
    h.update(json.dumps(training_requests(TRAIN_REQUESTS_FILE)).encode())
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
    save_inferred(Path(index_dir), infer_untagged(model, texts, list(idx.kinds),
                                                  list(idx.doc_ids), vectors, idx.models))
    return model


def fit_task_stage(cfg: Config, chunks, vectors, models: list[ModelInfo], embedder: Embedder):
    """Fit the task model (:func:`fit_task_model`) and the intent model
    (:mod:`advisor.intent`) on this build's data. Returns ``(save(tmp_dir), info)``.

    The task model is reused from the previous index when its inputs are unchanged (its
    fit takes a minute or two); a build with too few tagged models has none (tiny test
    builds), and the app then falls back to the readable task cues."""
    by_id: dict[str, ModelInfo] = {}
    for m in models:  # the 2026 record wins, as in AdvisorIndex.load
        if m.id not in by_id or m.source != "2022":
            by_id[m.id] = m
    digest = inputs_sha256(chunks, by_id, embedder)
    prev_dir = Path(cfg.index_dir)
    prev = previous_section(prev_dir, "task_model")
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
    # the inferred tasks read the same model chunks the digest covers: with the task model
    # reused, the previous index's file is this build's too
    reuse_inferred = reuse and (prev_dir / INFERRED_FILE).exists()
    inferred: dict[str, tuple[str, float]] = {}
    infer_with = None
    if reuse_inferred:
        inferred = load_inferred(prev_dir)
    else:
        infer_with = task_model if not reuse else TaskModel.load(prev_dir)
    if infer_with is not None:
        inferred = infer_untagged(infer_with, [c.text for c in chunks], [c.kind for c in chunks],
                                  [c.doc_id for c in chunks], vectors, by_id)

    # which other tasks' models the labelled requests' good models are (cheap: no reuse)
    related = learn_related_tasks(training_request_models(TRAIN_REQUESTS_FILE), by_id)
    # which of several named languages a request asks for (cheap: no reuse)
    ask_language = fit_ask_language(training_request_rows(TRAIN_REQUESTS_FILE), by_id)

    def save(tmp: Path) -> None:
        save_related(tmp, related)
        if ask_language is not None:
            ask_language.save(tmp)
        if reuse:
            for name in ("taskmodel.npz", "taskmodel.json"):
                shutil.copy2(prev_dir / name, tmp / name)
        elif task_model is not None:
            task_model.save(tmp)
        if reuse_inferred:
            shutil.copy2(prev_dir / INFERRED_FILE, tmp / INFERRED_FILE)
        elif infer_with is not None:
            save_inferred(tmp, inferred)
        if intent_reuse:
            for name in ("intent.npz", "intent.json"):
                shutil.copy2(prev_dir / name, tmp / name)
        elif intent is not None:
            intent.save(tmp)

    info = {"format_version": TASK_MODEL_FORMAT, "inputs_sha256": digest, "reused": reuse,
            "present": reuse or task_model is not None, "inferred_untagged": len(inferred),
            "intent_model": intent_reuse or intent is not None, "intent_sha256": intent_digest,
            "related_tasks": sum(len(v) for v in related.values()),
            "language_order": ask_language is not None}
    return save, info


def previous_section(index_dir: Path, section: str) -> dict[str, Any]:
    """One manifest section (``task_model``, ``task_head``) of the index being replaced
    (``{}`` when none)."""
    from advisor.index import read_manifest

    try:
        return dict(read_manifest(index_dir).get(section) or {})
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
