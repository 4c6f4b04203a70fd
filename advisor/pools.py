"""Candidate pools of the model recommender: which models fit a request's filters, and
the part of their scores that does not depend on the request's words.

A :class:`PoolKey` is what decides the candidates (task, languages, licence, library,
size, source, models to exclude); many requests share one (every "German sentiment"
request has the same candidates). :func:`select` filters the models of the task (and
its :data:`RELATED_TASKS`) by the key; :meth:`CandidatePool.of` adds, as arrays, each
candidate's score at relevance 0 (popularity, card quality, penalties) and the document
ids a retriever filters by; the recommender's score is that base plus ``W_RELEVANCE``
times the request's relevance, so the score's terms are weighed here and nowhere else.

This module does not score relevance, rank, or cache (the recommender does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from advisor.modelfacts import ModelFeatures, tier_of
from advisor.tasks import BASE_MODEL_TASKS, MULTILINGUAL, ModelRequest
from advisor.types import ModelInfo

# Score weights: relevance and popularity dominate, card quality breaks near-ties (the
# study's point is that thin cards hurt beginners, so it must count, but a perfect card
# on an unused model should not beat the model everybody uses).
W_RELEVANCE = 0.50  # tuned on the `tune` requests: 0.4/0.4/0.2 -> hit@5 0.62, this 0.63
W_POPULARITY = 0.40
W_CARD = 0.10
W_LIKES_IN_POPULARITY = 0.2  # downloads say "works for many", likes are sparse
NEUTRAL_CARD_QUALITY = 0.5  # 2026 records carry no card text: neither reward nor punish
RELATED_TASK_PENALTY = 0.10  # e.g. feature-extraction for a sentence-similarity request
UNKNOWN_SIZE_PENALTY = 0.05  # size limit asked but the size is not known
# Language as a soft preference (score penalties) rather than hard tiers: on the tune
# requests the best-known multilingual models were what people were told to use, and
# hard tiers ranked every little-used single-language model above them.
LANGUAGE_PENALTY = {0: 0.0, 1: 0.05, 2: 0.15}  # speaks it / multilingual / not stated
MAX_RETRIEVER_DOC_IDS = 5000  # above this, search unfiltered and intersect afterwards

# Tasks that can stand in for each other (with RELATED_TASK_PENALTY).
RELATED_TASKS: dict[str, tuple[str, ...]] = {
    "sentence-similarity": ("feature-extraction",),
    "feature-extraction": ("sentence-similarity",),
    "text-generation": ("conversational", "image-text-to-text"),
    "conversational": ("text-generation",),
    "summarization": ("text2text-generation",),
    "translation": ("text2text-generation",),
    "text2text-generation": ("summarization", "translation"),
    # OCR and captioning: the 2026 Hub's OCR and caption models are vision-language
    # models tagged image-text-to-text (PaddleOCR-VL, DeepSeek-OCR, Florence-2 ports)
    "image-to-text": ("image-text-to-text",),
}

Item = tuple[ModelInfo, int, bool, ModelFeatures]  # model, language tier, related task, features


@dataclass(frozen=True)
class PoolKey:
    """What decides a request's candidates (hashable: the recommender caches by it)."""

    task: str | None
    languages: tuple[str, ...]
    license_family: str | None
    library: str | None
    max_params: int | None
    source: str | None
    exclude: tuple[str, ...]
    base_checkpoints: bool = False  # pre-trained checkpoints join (BASE_MODEL_TASKS)

    @classmethod
    def of(cls, req: ModelRequest, source: str | None) -> PoolKey:
        return cls(req.task, tuple(req.languages), req.license_family, req.library,
                   req.max_params, source, tuple(sorted(req.exclude)),
                   req.fine_tune and req.task in BASE_MODEL_TASKS)


def select(pools: Iterable[tuple[ModelInfo, bool]], key: PoolKey,
           feat: Callable[[ModelInfo], ModelFeatures],
           library_ok: Callable[[ModelInfo, str, ModelFeatures], bool]) -> list[Item]:
    """The ``(model, related)`` pairs that fit ``key``, with their language tier (models
    stated to speak only other languages are dropped) and features."""
    wanted = [w.lower() for w in key.languages if w]
    concrete = [w for w in wanted if w != MULTILINGUAL]
    concrete_set = frozenset(concrete)
    require_all = key.task == "translation"
    excluded = set(key.exclude)
    items: list[Item] = []
    for m, related in pools:
        if key.source and m.source != key.source:
            continue
        if m.id in excluded:
            continue
        if key.license_family and (m.license_family or "unknown") != key.license_family:
            continue
        f = feat(m)
        if key.library and not library_ok(m, key.library, f):
            continue
        if key.max_params and f.params and f.params > key.max_params:
            continue
        tier = tier_of(f, concrete, concrete_set, require_all) if wanted else 0
        if tier < 0:
            continue
        items.append((m, tier, related, f))
    return items


@dataclass(frozen=True)
class CandidatePool:
    """The candidates of one :class:`PoolKey` and what their scores need that does not
    depend on the request's words: popularity maxima and each one's score at relevance 0."""

    items: tuple[Item, ...]
    base: np.ndarray  # (n,) score with relevance 0: popularity, card, penalties (read-only)
    max_dl: float  # max log downloads over the candidates (> 0)
    max_lk: float
    position: dict[str, int]  # model id -> item number
    doc_ids: tuple[str, ...] | None  # their model documents (retrieval filter), None if too many

    @classmethod
    def of(cls, items: list[Item], max_params: int | None) -> CandidatePool:
        """The pool with each candidate's score at relevance 0; the recommender adds
        ``W_RELEVANCE * relevance`` to it (the one place the score's terms are weighed)."""
        n = len(items)
        log_dl = np.fromiter((f.log_downloads for _, _, _, f in items), float, n)
        log_lk = np.fromiter((f.log_likes for _, _, _, f in items), float, n)
        max_dl = (float(log_dl.max()) if n else 0.0) or 1.0
        max_lk = (float(log_lk.max()) if n else 0.0) or 1.0
        card = np.fromiter(
            (m.card_quality if (m.card_chars or m.source == "2022") else NEUTRAL_CARD_QUALITY
             for m, _, _, _ in items), float, n)
        penalty = np.fromiter(
            (LANGUAGE_PENALTY.get(tier, 0.0) + (RELATED_TASK_PENALTY if related else 0.0)
             + (UNKNOWN_SIZE_PENALTY if max_params and f.params is None else 0.0)
             for _, tier, related, f in items), float, n)
        pop = ((1 - W_LIKES_IN_POPULARITY) * log_dl / max_dl
               + W_LIKES_IN_POPULARITY * log_lk / max_lk)
        base = W_POPULARITY * pop + W_CARD * card - penalty
        base.flags.writeable = False
        doc_ids = None
        if n <= MAX_RETRIEVER_DOC_IDS:
            doc_ids = tuple(f"{kind}:{m.id}" for m, _, _, _ in items
                            for kind in ("model", "model2026"))
        return cls(tuple(items), base, max_dl, max_lk,
                   {m.id: i for i, (m, _, _, _) in enumerate(items)}, doc_ids)
