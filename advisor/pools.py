"""Candidate pools of the model recommender: which models fit a request's filters, and
the part of their scores that does not depend on the request's words.

A :class:`PoolKey` is what decides the candidates (task, languages, licence, library,
size, source, models to exclude); many requests share one (every "German sentiment"
request has the same candidates). :func:`select` filters the models of the task (and
its :data:`RELATED_TASKS`) by the key; :meth:`CandidatePool.of` adds, as arrays, each
candidate's score at relevance 0 (popularity, card quality, penalties) and the document
ids a retriever filters by; the recommender's score is that base plus the request's relevance
(:mod:`advisor.relevance`), weighed with this module's weights: the score's terms are
weighed here and nowhere else.

It also learns and stores which tasks' models can stand in for a task
(:func:`learn_related_tasks`). This module does not score relevance, rank, or cache (the
recommender does).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advisor.context import model_context
from advisor.modelfacts import ModelFeatures, tier_of
from advisor.taskmodel import read_index_json
from advisor.tasks import BASE_MODEL_TASKS, MULTILINGUAL, ModelRequest
from advisor.types import ModelInfo

# Score weights. Relevance (advisor.relevance: lexical, retrieval rank, cosine and BM25
# over every candidate's card), popularity (log downloads and likes over the pool's best)
# and card quality; hand-set until the twelfth pass, then fitted on the 375 labelled
# requests that are not `test`, told the task (bench/rank_fit.py: listwise, signs fixed,
# the first seven scaled to sum to 1). 5-fold held out, told the task: hit@5 / hit@1 / MRR
# 0.739 / 0.448 / 0.561 (hand weights, retrieval rank only) -> 0.771 / 0.451 / 0.577;
# end to end on held-out task readings (bench/runner_up.py) 0.659 -> 0.688 hit@5.
# Refitted in the fifteenth pass with the fine-tune graph terms below (listwise, C=10, on
# the same 375 requests): 5-fold held out, told the task, 0.768 -> 0.797 hit@5.
# Refitted in the sixteenth pass with the size-budget terms, on 552 requests (177 more):
# 5-fold held out, told the task, 0.759 (the fifteenth pass's terms, sizes as filters)
# -> 0.795 hit@5. The hybrid retrieval rank and card quality then weighed 0: the cosine
# and BM25 of each candidate's card carry the relevance.
# Refitted in the thirty-fourth pass, pairwise (bench/rank_fit.py: every (good, other)
# pair of a request, no intercept) on 2,490 requests (52 `tune`, 2,438 training), with the
# rules and rarely exercised terms pinned (bench.rank_fit.pinned_rules): 5-fold held out,
# told the task, hit@5 0.843 (the listwise weights before) -> 0.853; end to end on 101
# fresh requests (tr41, read before they were learned) 0.792 both, told the task 0.871 ->
# 0.881; `tune` 0.904 both (hit@1 0.538 -> 0.519). The retrieval rank stays at 0.
# Card quality weighs little in the fit (what people were told to use often has a thin
# card); the answer still warns about thin and missing cards.
W_LEXICAL = 0.167
W_RETRIEVAL = 0.0
W_COSINE = 0.224
W_BM25 = 0.193
W_DOWNLOADS = 0.351
W_LIKES = 0.021
W_CARD = 0.015
CURRENT_RECORD_BONUS = 0.055  # a 2026 / live-Hub record: what people use today
# The Hub's fine-tune graph (fifteenth pass): a model that many others name as their
# ``base_model`` is a release people build on (log count over the pool's best), and a
# fine-tune, quantisation or merge of another author's model is rarely what people are
# told to use, unless the request names a library or format that it provides (a GGUF
# quantisation for a local runner is exactly what was asked). Fitted with the weights
# above (bench/rank_fit.py).
W_DERIVATIVES = 0.133
# Models accepted for similar solved requests (twenty-second pass, advisor.solved_requests):
# the summed cosine of the nearest labelled training requests of the task that were
# pointed to the model. Chosen by cross-validation over the labelled requests, each read
# with its fold out of the store, told the task (bench/rank_fit.py): hit@5 0.760 ->
# 0.848 at 0.2 (0.836 at 0.1; 0.844 when each collection batch is held out whole); the
# `tune` requests, never in the store, 0.923 at 0 and at 0.2. 0.317 in the thirty-fourth
# pass's refit.
W_ACCEPTED = 0.317
DERIVATIVE_PENALTY = 0.05  # pinned in the thirty-fourth pass's refit, which put it at 0
NEUTRAL_CARD_QUALITY = 0.5  # 2026 records carry no card text: neither reward nor punish
# Penalties and bonuses, fitted with the weights above unless marked as a rule.
# Related task (e.g. feature-extraction for a sentence-similarity request): 0.10 until the
# tenth pass, 0.02 then, the twelfth pass's fit 0.03, the fifteenth's 0.04, the sixteenth's
# 0.07, the thirty-fourth's 0.041.
RELATED_TASK_PENALTY = 0.041
# Rule, not fitted: a size limit asked but the model's size is not known.
UNKNOWN_SIZE_PENALTY = 0.05
# Rule, not fitted (the fit puts it at 0): a library or tool named in the text ("I use
# Flair", "in Ollama") is a preference, not a filter, but issue 9 asks that another
# library's model rank below an equally good one. As a filter it removed every good model
# of 15 of 375 labelled requests (people name what they use now and are told what else works).
OTHER_LIBRARY_PENALTY = 0.15
# Inputs longer than most models read ("4K-token documents", "longer than 512"): models
# whose family reads that much rise, those known to stop short fall (advisor.context).
# Hand-set; pinned in the thirty-fourth pass's refit (62 of 2,490 labelled requests state a
# length, and on those these values rank better than the refit's).
LONG_INPUT_BONUS = 0.16
SHORT_INPUT_PENALTY = 0.14
# A size budget read from words ("small", "my laptop", a phone, "8 GB of VRAM") is a
# preference, not a filter (sixteenth pass): as a filter it removed every good model of
# 17 of 375 labelled requests ("laptop" for an RTX 4090, "fast" for a 12B VLM). A model over
# the budget loses OVER_BUDGET_PENALTY plus W_OVER_BUDGET per doubling (fitted); a limit
# asked for (a filter, "under 1B parameters", "smaller than X") still drops larger models.
OVER_BUDGET_PENALTY = 0.038
W_OVER_BUDGET = 0.031
# Language as a soft preference (score penalties) rather than hard tiers: the best-known
# multilingual models are often what people are told to use, and hard tiers ranked every
# little-used single-language model above them.
LANGUAGE_PENALTY = {0: 0.0, 1: 0.134, 2: 0.206}  # speaks it / multilingual / not stated
MAX_RETRIEVER_DOC_IDS = 5000  # above this, search unfiltered and intersect afterwards

# Tasks that can stand in for each other (with RELATED_TASK_PENALTY): the Hub's own
# conventions; the build adds the pairs learned from labelled requests
# (:func:`learn_related_tasks`, ``related_tasks.json`` in the index).
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

# model, language tier, related task, features, of another library than the one named
Item = tuple[ModelInfo, int, bool, ModelFeatures, bool]

RELATED_FILE = "related_tasks.json"
RELATED_FORMAT_VERSION = 1
# A tag joins a task's related tasks when at least this many good models of the labelled
# requests for that task carry it, and at least this share of them (5-fold CV over 375
# labelled requests, the map learned without each fold: hit@5 0.704 -> 0.717; 3 / 0.10
# reached more good models but ranked worse, 0.696).
MIN_RELATED_COUNT = 5
MIN_RELATED_SHARE = 0.15


def learn_related_tasks(requests: Iterable[tuple[str, Iterable[str]]],
                        models: Mapping[str, ModelInfo]) -> dict[str, tuple[str, ...]]:
    """Which other pipeline tags the good models of real requests carry, per asked task:
    ``{task: (tag, ...)}`` most frequent first. ``requests`` are ``(task, good model
    ids)`` pairs; ids missing from ``models`` or without a tag are skipped. Cross-encoder
    rerankers are tagged text-classification, OCR models image-text-to-text, base
    checkpoints for a fine-tune fill-mask: the labels say so, not a list kept by hand."""
    counts: dict[str, Counter[str]] = {}
    for task, good in requests:
        for mid in good:
            m = models.get(mid)
            if m is not None and isinstance(m.pipeline_tag, str):
                counts.setdefault(task, Counter())[m.pipeline_tag] += 1
    out: dict[str, tuple[str, ...]] = {}
    for task, c in sorted(counts.items()):
        n = sum(c.values())
        tags = tuple(t for t, k in c.most_common()
                     if t != task and k >= MIN_RELATED_COUNT and k / n >= MIN_RELATED_SHARE)
        if tags:
            out[task] = tags
    return out


def save_related(directory: Path, related: Mapping[str, Sequence[str]]) -> None:
    data = {"format_version": RELATED_FORMAT_VERSION,
            "tasks": {t: list(v) for t, v in sorted(related.items())}}
    (Path(directory) / RELATED_FILE).write_text(json.dumps(data, indent=1), encoding="utf-8")


def load_related(directory: Path | None) -> dict[str, tuple[str, ...]]:
    """The learned related tasks of an index (``{}`` when absent or unreadable: the
    Hub conventions of :data:`RELATED_TASKS` still apply)."""
    data = read_index_json(directory, RELATED_FILE, RELATED_FORMAT_VERSION)
    return {str(t): tuple(str(x) for x in v) for t, v in (data.get("tasks") or {}).items()}


def related_tasks(task: str, learned: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The Hub conventions of :data:`RELATED_TASKS`, then the learned pairs."""
    return tuple(dict.fromkeys((*RELATED_TASKS.get(task, ()), *learned.get(task, ()))))


# A tag is evidence of a modality when at least this share of the models carrying it (and
# at least TAG_MODALITY_MIN_MODELS of them) have a task of that modality
TAG_MODALITY_SHARE = 0.8
TAG_MODALITY_MIN_MODELS = 20


def tag_modalities(models: Iterable[ModelInfo], modalities: Mapping[str, str]) -> dict[str, str]:
    """``{tag: modality}`` learned from the models' tags and pipeline tags: a tag
    (``vision``, ``timm``, ``wav2vec2``, ``bert``) belongs to the modality
    (``prompts/modalities.yaml``) of the tasks of most models that carry it. Pipeline
    tags themselves and ``key:value`` tags (languages, licences, datasets) are left out."""
    counts: dict[str, Counter[str]] = {}
    for m in models:
        mod = modalities.get(m.pipeline_tag) if isinstance(m.pipeline_tag, str) else None
        if not mod:
            continue
        for t in set(m.tags or ()):
            if t not in modalities and ":" not in t:
                counts.setdefault(t, Counter())[mod] += 1
    out = {}
    for t, c in counts.items():
        mod, k = c.most_common(1)[0]
        n = c.total()
        if n >= TAG_MODALITY_MIN_MODELS and k >= TAG_MODALITY_SHARE * n:
            out[t] = mod
    return out


def shows_modality(m: ModelInfo, modality: str, evidence: Mapping[str, str]) -> bool:
    """Whether one of the model's tags is evidence of ``modality`` (:func:`tag_modalities`):
    a CLIP or ViT checkpoint tagged ``feature-extraction`` shows ``vision``, a sentence
    embedder does not."""
    return any(evidence.get(t) == modality for t in m.tags or ())


def card_score(m: ModelInfo) -> float:
    """The card-quality term of a model's score (:data:`NEUTRAL_CARD_QUALITY` for a 2026
    record whose card text is not in the snapshot)."""
    return m.card_quality if (m.card_chars or m.source == "2022") else NEUTRAL_CARD_QUALITY


def marked_derivative(f: ModelFeatures, library: str | None, other_library: bool) -> bool:
    """Whether :data:`DERIVATIVE_PENALTY` applies: another author's fine-tune,
    quantisation or merge, unless the request names a library or format it provides."""
    return f.derivative and not (library and not other_library)


def budget_penalty(doublings: float) -> float:
    """The score a model loses for being ``doublings`` over the size budget."""
    return OVER_BUDGET_PENALTY + W_OVER_BUDGET * doublings if doublings > 0 else 0.0


def over_budget(params: int | None, budget: int | None) -> float:
    """How far a model is over the request's size budget, in doublings (0 when within it,
    or when either size is unknown)."""
    if not budget or not params or params <= budget:
        return 0.0
    return math.log2(params / budget)


def input_fit(m: ModelInfo, min_tokens: int) -> float:
    """Score term for a request that needs ``min_tokens`` read at once: a bonus for a model
    whose family reads that much, a penalty for one known to stop short, 0 when unknown."""
    ctx = model_context(m)
    if ctx is None:
        return 0.0
    return LONG_INPUT_BONUS if ctx >= min_tokens else -SHORT_INPUT_PENALTY


@dataclass(frozen=True)
class PoolKey:
    """What decides a request's candidates (hashable: the recommender caches by it)."""

    task: str | None
    languages: tuple[str, ...]
    license_family: str | None
    library: str | None
    max_params: int | None  # the size budget: larger models rank lower
    source: str | None
    exclude: tuple[str, ...]
    base_checkpoints: bool = False  # pre-trained checkpoints join (BASE_MODEL_TASKS)
    library_strict: bool = False  # an explicit filter: other libraries' models are dropped
    min_tokens: int | None = None  # inputs this long must fit (advisor.context)
    size_limit: int | None = None  # a limit asked for: larger models are dropped

    @classmethod
    def of(cls, req: ModelRequest, source: str | None) -> PoolKey:
        return cls(req.task, tuple(req.languages), req.license_family, req.library,
                   req.max_params, source, tuple(sorted(req.exclude)),
                   req.fine_tune and req.task in BASE_MODEL_TASKS, req.library_strict,
                   req.min_tokens, req.size_limit)


def select(pools: Iterable[tuple[ModelInfo, bool]], key: PoolKey,
           feat: Callable[[ModelInfo], ModelFeatures],
           library_ok: Callable[[ModelInfo, str, ModelFeatures], bool]) -> list[Item]:
    """The ``(model, related)`` pairs that fit ``key``, with their language tier (models
    stated to speak only other languages are dropped), features and whether they are of
    another library than the one the request names (dropped when it was an explicit
    filter, ranked lower with :data:`OTHER_LIBRARY_PENALTY` when the text named it).
    Models over a size limit asked for are dropped; over a budget read from words they
    stay and rank lower (:func:`over_budget`)."""
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
        other_library = bool(key.library) and not library_ok(m, key.library, f)
        if other_library and key.library_strict:
            continue
        if key.size_limit and f.params and f.params > key.size_limit:
            continue
        tier = tier_of(f, concrete, concrete_set, require_all) if wanted else 0
        if tier < 0:
            continue
        items.append((m, tier, related, f, other_library))
    return items


@dataclass(frozen=True)
class CandidatePool:
    """The candidates of one :class:`PoolKey` and what their scores need that does not
    depend on the request's words: popularity maxima and each one's score at relevance 0."""

    items: tuple[Item, ...]
    base: np.ndarray  # (n,) score with relevance 0: popularity, card, penalties (read-only)
    max_dl: float  # max log downloads over the candidates (> 0)
    max_lk: float
    max_der: float  # max log(1 + derivatives) over the candidates (> 0)
    position: dict[str, int]  # model id -> item number
    doc_ids: tuple[str, ...] | None  # their model documents (retrieval filter), None if too many

    @classmethod
    def of(cls, items: list[Item], max_params: int | None,
           min_tokens: int | None = None, library: str | None = None) -> CandidatePool:
        """The pool with each candidate's score at relevance 0; the recommender adds
        the weighted relevance to it (the one place the score's terms are weighed).
        ``min_tokens``: the input length the request needs (:func:`input_fit`);
        ``library``: the library or format the request names (a derivative that provides
        it is not marked down, :data:`DERIVATIVE_PENALTY`)."""
        n = len(items)
        log_dl = np.fromiter((f.log_downloads for _, _, _, f, _ in items), float, n)
        log_lk = np.fromiter((f.log_likes for _, _, _, f, _ in items), float, n)
        max_dl = (float(log_dl.max()) if n else 0.0) or 1.0
        max_lk = (float(log_lk.max()) if n else 0.0) or 1.0
        log_der = np.fromiter((f.log_derivatives for _, _, _, f, _ in items), float, n)
        max_der = (float(log_der.max()) if n else 0.0) or 1.0
        derivative = np.fromiter((marked_derivative(f, library, other)
                                  for _, _, _, f, other in items), float, n)
        card = np.fromiter((card_score(m) for m, _, _, _, _ in items), float, n)
        penalty = np.fromiter(
            (LANGUAGE_PENALTY.get(tier, 0.0) + (RELATED_TASK_PENALTY if related else 0.0)
             + (UNKNOWN_SIZE_PENALTY if max_params and f.params is None else 0.0)
             + (OTHER_LIBRARY_PENALTY if other else 0.0)
             + budget_penalty(over_budget(f.params, max_params))
             for _, tier, related, f, other in items), float, n)
        current = np.fromiter((m.source != "2022" for m, *_ in items), float, n)
        base = (W_DOWNLOADS * log_dl / max_dl + W_LIKES * log_lk / max_lk + W_CARD * card
                + CURRENT_RECORD_BONUS * current + W_DERIVATIVES * log_der / max_der
                - DERIVATIVE_PENALTY * derivative - penalty)
        if min_tokens:
            base = base + np.fromiter((input_fit(m, min_tokens) for m, *_ in items), float, n)
        base.flags.writeable = False
        doc_ids = None
        if n <= MAX_RETRIEVER_DOC_IDS:
            doc_ids = tuple(f"{kind}:{m.id}" for m, _, _, _, _ in items
                            for kind in ("model", "model2026"))
        return cls(tuple(items), base, max_dl, max_lk, max_der,
                   {m.id: i for i, (m, _, _, _, _) in enumerate(items)}, doc_ids)
