"""Model recommender: a beginner's request -> a short, explained list of Hub models.

Steps: :func:`advisor.tasks.parse_request` reads task, languages, licence, size and
library cues from the text; explicit UI/API filters override them (checked by
:func:`advisor.validate.parse_filters` plus the task/language/source checks here). The
candidate set is every known model that fits the task, licence, size, library and
source; language is a hard tier (a model that speaks the asked language first, then
multilingual ones, then models whose languages are not stated; models stated to speak
only other languages are dropped). Within a tier models are ranked by relevance (hybrid
retrieval over model documents when a retriever is given, plus a lexical match of the
request's words with the model id and tags), popularity (log downloads, likes) and
model-card quality. Every recommendation carries its evidence, a ready-to-run snippet,
warnings (thin or missing cards, gated, non-commercial, unknown size) and what people
struggled with for that model family in the study's coded forum threads.

This module does not download anything or look at the live Hub; it works on the
``ModelInfo`` records it is given (an :class:`~advisor.index.AdvisorIndex` or a plain
mapping), so tests can run it on corpus slices without an index.
"""

from __future__ import annotations

import heapq
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from advisor.entities import EntityLinker, wants_smaller
from advisor.errors import InvalidInputError, InvalidModelIdError
from advisor.snippets import plan_snippet
from advisor.taskmodel import TaskModel, blend
from advisor.tasks import (
    LANGUAGE_NAMES,
    LIBRARY_ALIASES,
    MULTILINGUAL,
    TASKS,
    ModelRequest,
    parse_request,
)
from advisor.types import MODEL_URL, ModelInfo, ModelRecommendation, ThreadInfo
from advisor.validate import clean_question, parse_filters

log = logging.getLogger(__name__)

__all__ = ["Recommender", "parse_request", "validate_model_id", "estimate_params",
           "model_families"]

DEFAULT_K = 5
MAX_K = 50  # more rows than a beginner reads
DEFAULT_RETRIEVER_K = 100  # model chunks asked of the retriever: ~3 per card, 30+ models
MAX_RETRIEVER_DOC_IDS = 5000  # above this, search unfiltered and intersect afterwards
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
THIN_CARD_QUALITY = 0.4  # below this the card misses most sections
MIN_PRUNE_CANDIDATES = 500  # below this, scoring all candidates is cheaper than bounding
MIN_MAX_PARAMS = 1_000_000  # a budget below 1M parameters fits no useful model
MULTILINGUAL_MIN_LANGUAGES = 5  # a card listing this many languages counts as multilingual
DEFAULT_MAX_MENTIONS = 2  # thread lines per model: enough to warn, short enough to read
SOURCES = ("2022", "2026", "hub")
# Sections Liang et al. (2022) found least often filled in Hub model cards.
LEAST_FILLED_KEYS = ("limitation", "bias", "evaluation", "environment")

# Task inference (see Recommender.understand): shares of each vote, tuned on the `tune`
# half of eval/real_requests.jsonl.
KNN_K = 40  # nearest model chunks whose tags vote on the task
W_KNN = 0.2
W_MENTION = 0.25  # a named model's task: evidence, but people name what failed them
W_MENTION_RELATIVE = 0.7  # "a smaller X": X's task is the task
W_CUE = 0.4  # the readable task cues of advisor.tasks (tune: 0.67 task accuracy without
# them, 0.85 with; the learned model alone misreads rare phrasings and vice versa)
# Language as a soft preference (score penalties) rather than hard tiers: on the tune
# requests the best-known multilingual models were what people were told to use, and
# hard tiers ranked every little-used single-language model above them.
LANGUAGE_PENALTY = {0: 0.0, 1: 0.05, 2: 0.15}  # speaks it / multilingual / not stated
SMALLER_FACTOR = 0.8  # "smaller than X" means at most 80% of X's parameters
MAX_PER_FAMILY = 2  # at most this many size/format variants of one model in a top list
COLLAPSE_POOL = 3  # rank k * this many candidates so variants can be skipped

# Tasks that can stand in for each other (with RELATED_TASK_PENALTY).
RELATED_TASKS: dict[str, tuple[str, ...]] = {
    "sentence-similarity": ("feature-extraction",),
    "feature-extraction": ("sentence-similarity",),
    "text-generation": ("conversational", "image-text-to-text"),
    "conversational": ("text-generation",),
    "summarization": ("text2text-generation",),
    "translation": ("text2text-generation",),
    "text2text-generation": ("summarization", "translation"),
}

# Models whose record has no (or a generic) pipeline tag, recognised by name. They join
# the candidates with RELATED_TASK_PENALTY and a warning that the task was inferred.
INFERRED_TASKS: tuple[tuple[str, str], ...] = (
    (r"trocr|\bocr\b|-ocr", "image-to-text"),
    (r"image-captioning|captioning", "image-to-text"),
    (r"\bvqa\b|-vqa", "visual-question-answering"),
    (r"\bclip-vit|^openai/clip|\bclip\b", "zero-shot-image-classification"),
    (r"tapas.*(wtq|sqa|wikisql)", "table-question-answering"),
)
_INFER_RX = [(re.compile(rx), task) for rx, task in INFERRED_TASKS]

# Model families and how forum posts spell them (regex on lower-case text). Longest /
# most specific first; a model id can belong to several ("xlm-roberta" and "roberta").
FAMILY_PATTERNS: dict[str, str] = {
    "distilbert": r"distil-?bert",
    "xlm-roberta": r"xlm-?r(oberta)?\b",
    "roberta": r"\broberta\b",
    "deberta": r"\bdeberta",
    "albert": r"\balbert\b",
    "camembert": r"\bcamembert\b",
    "electra": r"\belectra\b",
    "longformer": r"\blongformer\b",
    "bigbird": r"\bbig-?bird\b",
    "layoutlm": r"\blayoutlm",
    "bert": r"\bbert\b",
    "distilgpt2": r"distil-?gpt-?2",
    "gpt2": r"\bgpt-?2\b",
    "gpt-neo": r"\bgpt-?neo",
    "gpt-j": r"\bgpt-?j\b",
    "dialogpt": r"\bdialo-?gpt",
    "bloom": r"\bbloom",
    "llama": r"\bllama",
    "mistral": r"\bmistral\b",
    "qwen": r"\bqwen",
    "gemma": r"\bgemma",
    "flan-t5": r"\bflan-?t5\b",
    "mt5": r"\bmt5\b",
    "t5": r"\bt5\b",
    "mbart": r"\bmbart",
    "bart": r"\bbart\b",
    "pegasus": r"\bpegasus\b",
    "marian": r"\bmarian|opus-mt",
    "wav2vec2": r"\bwav2vec-?2?",
    "whisper": r"\bwhisper\b",
    "hubert": r"\bhubert\b",
    "vit": r"\bvit\b",
    "detr": r"\bdetr\b",
    "clip": r"\bclip\b",
    "blip": r"\bblip",
    "tapas": r"\btapas\b",
    "xlnet": r"\bxlnet\b",
    "sentence-transformers": r"sentence[- ]transformers?|\bsbert\b",
    "stable-diffusion": r"stable[- ]diffusion",
}
_FAMILY_RX = {name: re.compile(rx) for name, rx in FAMILY_PATTERNS.items()}

# Parameter estimates from name parts, when the record has no count (2022 snapshot).
_EXPLICIT_SIZE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)([bm])(?![a-z0-9])")
SIZE_WORDS: tuple[tuple[str, int], ...] = (
    ("xxl", 11_000_000_000),  # t5-xxl 11B, mt5-xxl 13B
    ("xl", 1_500_000_000),  # gpt2-xl 1.5B, t5-3b is spelled "3b"
    ("large", 500_000_000),  # bert-large 340M .. t5-large 770M
    ("medium", 350_000_000),  # gpt2-medium
    ("base", 150_000_000),  # bert-base 110M, roberta-base 125M, t5-base 220M
    ("small", 60_000_000),  # t5-small 60M
    ("mini", 33_000_000),
    ("tiny", 15_000_000),
)
PREFIX_SIZES: tuple[tuple[str, int], ...] = (
    ("distil", 80_000_000),  # distilbert 66M, distilgpt2 82M, distilroberta 82M
    ("minilm", 33_000_000),
    ("tinybert", 15_000_000),
    ("mobilebert", 25_000_000),
)
QUANTISED_UNDERCOUNT = 3  # name size > 3x the record's count: trust the name
KNOWN_SIZES: dict[str, int] = {"gpt2": 124_000_000, "distilgpt2": 82_000_000}

_PAIR = re.compile(r"[a-z]{2,3}-[a-z]{2,3}")  # "en-fr": a translation direction
_ID_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_ID_PART = 96  # the Hub's limit for a repo name


def validate_model_id(s: Any) -> str:
    """Return a clean Hub model id or raise :class:`InvalidModelIdError`.

    Accepts ``owner/name``, legacy single names (``bert-base-uncased``) and model page
    URLs (``https://huggingface.co/owner/name``, the id is extracted). Rejects paths,
    other URLs, control characters, empty parts and parts longer than 96 characters.
    """
    expected = ("Expected a Hub model id such as 'distilbert-base-uncased' or "
                "'cardiffnlp/twitter-roberta-base-sentiment' (owner/name, letters, digits, "
                "'-', '_', '.').")
    if not isinstance(s, str):
        raise InvalidModelIdError(f"Model id must be text, got {type(s).__name__}. {expected}")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in s):
        raise InvalidModelIdError(f"Model id contains control characters. {expected}")
    s = s.strip()
    if not s:
        raise InvalidModelIdError(f"Model id is empty. {expected}")
    if "://" in s or s.lower().startswith(("huggingface.co/", "hf.co/")):
        url = urlparse(s if "://" in s else "https://" + s)
        if url.scheme not in ("http", "https") or url.hostname not in (
            "huggingface.co", "www.huggingface.co", "hf.co"
        ):
            raise InvalidModelIdError(
                f"Only huggingface.co model URLs are accepted, got {s[:100]!r}. {expected}"
            )
        parts = [p for p in url.path.split("/") if p]
        if parts and parts[0] in ("models",):
            parts = parts[1:]
        # /owner/name/tree/main, /owner/name/blob/... -> owner/name
        for marker in ("tree", "blob", "resolve", "discussions", "commits"):
            if marker in parts[1:]:
                parts = parts[: parts.index(marker, 1)]
        if parts and parts[0] in ("datasets", "spaces"):
            raise InvalidModelIdError(f"That URL points to a {parts[0][:-1]}, not a model. "
                                      f"{expected}")
        s = "/".join(parts[:2])
        if not s:
            raise InvalidModelIdError(f"The URL has no model id in it. {expected}")
    if s.lower().startswith(("huggingface.co/", "www.huggingface.co/", "hf.co/")):
        # "huggingface.co/huggingface.co/x": the host again after the URL was unwrapped
        raise InvalidModelIdError(f"{s[:100]!r} is not a valid model id. {expected}")
    parts = s.split("/")
    if len(parts) > 2:
        raise InvalidModelIdError(f"{s[:100]!r} has {len(parts) - 1} slashes. {expected}")
    for part in parts:
        if part in ("", ".", "..") or not _ID_PART.match(part) or ".." in part:
            raise InvalidModelIdError(f"{s[:100]!r} is not a valid model id. {expected}")
        if len(part) > MAX_ID_PART:
            raise InvalidModelIdError(
                f"Model id part is {len(part)} characters long; the Hub allows {MAX_ID_PART}. "
                f"{expected}"
            )
        if part.endswith((".git", ".ipynb")) or part.endswith("."):
            raise InvalidModelIdError(f"{s[:100]!r} is not a valid model id. {expected}")
    return s


def estimate_params(model: ModelInfo | str) -> tuple[int | None, bool]:
    """``(parameters, estimated)``: the record's count, else a guess from the name.

    The guess reads explicit sizes ("gpt-j-6B", "pythia-160m"), family prefixes
    ("distil", "MiniLM") and size words ("base", "large", "xl"). ``(None, False)`` when
    the name says nothing.
    """
    model_id = model.id if isinstance(model, ModelInfo) else model
    name = model_id.lower().split("/")[-1]
    explicit = [
        float(n) * (10**9 if unit == "b" else 10**6) for n, unit in _EXPLICIT_SIZE.findall(name)
    ]
    if isinstance(model, ModelInfo) and model.parameters:
        # Quantised uploads (GGUF, NVFP4) report packed tensor sizes: "27B" in the name
        # of a record counting 0.46B is the truth about the memory/compute it needs.
        if explicit and max(explicit) > QUANTISED_UNDERCOUNT * model.parameters:
            return int(max(explicit)), True
        return int(model.parameters), False
    if explicit:
        return int(max(explicit)), True
    if name in KNOWN_SIZES:
        return KNOWN_SIZES[name], True
    tokens = re.split(r"[-_.]", name)
    for prefix, size in PREFIX_SIZES:
        if any(t.startswith(prefix) for t in tokens):
            return size, True
    for word, size in SIZE_WORDS:
        if word in tokens:
            return size, True
    return None, False


def model_families(model_id: str) -> list[str]:
    """Families a model id belongs to, most specific first (``["xlm-roberta", "roberta"]``)."""
    low = model_id.lower()
    return [name for name, rx in _FAMILY_RX.items() if rx.search(low)]


def _human_params(n: int | None) -> str:
    if not n:
        return "unknown"
    return f"{n / 1e9:.1f}B" if n >= 10**9 else f"{n / 1e6:.0f}M"


def _is_multilingual(m: ModelInfo) -> bool:
    langs = {x.lower() for x in m.languages}
    name = m.id.lower()
    return (
        MULTILINGUAL in langs
        or "multilingual" in (t.lower() for t in m.tags)
        or len(langs) >= MULTILINGUAL_MIN_LANGUAGES
        or any(x in name for x in ("multilingual", "xlm-r", "xlsr", "mbert", "labse", "m2m",
                                   "nllb", "mt5", "mbart", "-multi"))
    )


_ID_SPLIT = re.compile(r"[-_./]")


@dataclass(frozen=True)
class _Features:
    """Per-model facts the ranking reads on every request, derived once per model (the
    model-choice path scores 2-10k candidates a request; recomputing these from the
    ``ModelInfo`` was most of its CPU time)."""

    params: int | None
    params_estimated: bool
    low_id: str
    id_tokens: frozenset[str]  # lower-case id split on - _ . /
    langs: frozenset[str]
    tags: frozenset[str]
    multilingual: bool
    have_library: frozenset[str]  # tags, formats and library, lower-case
    log_downloads: float
    log_likes: float

    @classmethod
    def of(cls, m: ModelInfo) -> _Features:
        params, estimated = estimate_params(m)
        low = m.id.lower()
        return cls(
            params=params, params_estimated=estimated, low_id=low,
            id_tokens=frozenset(_ID_SPLIT.split(low)),
            langs=frozenset(x.lower() for x in m.languages),
            tags=frozenset(t.lower() for t in m.tags),
            multilingual=_is_multilingual(m),
            have_library=frozenset(x.lower() for x in (*m.tags, *m.formats, m.library or "")),
            log_downloads=math.log1p(max(m.downloads, 0)),
            log_likes=math.log1p(max(m.likes, 0)),
        )


def _tier(f: _Features, concrete: list[str], concrete_set: frozenset[str],
          require_all: bool) -> int:
    """:func:`language_tier` on precomputed features; -1 for None (drop). ``concrete`` is
    the non-empty-request's asked languages without ``multilingual``."""
    # Translation needs every language; otherwise the first one named is the ask
    # ("German legal texts ... bert-base-uncased is English" wants German).
    if concrete:
        if require_all:
            if all(c in f.langs or c in f.id_tokens for c in concrete_set):
                return 0
        elif concrete[0] in f.langs or concrete[0] in f.id_tokens:
            return 0
    if f.multilingual:
        return 0 if not concrete else 1
    if not f.langs:
        return 0 if concrete == ["en"] else 2
    return -1


def language_tier(m: ModelInfo, wanted: list[str], require_all: bool = False) -> int | None:
    """0 speaks an asked language, 1 multilingual, 2 languages not stated, None: others.

    For English, models that state no language count as tier 0: most untagged Hub
    models of the 2022 snapshot are English. ``require_all`` (translation) needs every
    asked language for tier 0: an English-French request must not get zh-en first.
    """
    wanted = [w.lower() for w in wanted if w]
    if not wanted:
        return 0
    concrete = [w for w in wanted if w != MULTILINGUAL]
    tier = _tier(_Features.of(m), concrete, frozenset(concrete), require_all)
    return None if tier < 0 else tier


@dataclass(frozen=True)
class _ScoreContext:
    dense: dict[str, float]  # model id -> retrieval relevance 0..1
    max_dl: float  # max log downloads over the candidates (> 0)
    max_lk: float


def _rank_key(c: _Scored) -> tuple:
    """Final ranking order: score (language counted in it), downloads, id."""
    return (-c.score, -c.model.downloads, c.model.id)


@dataclass
class _Scored:
    model: ModelInfo
    tier: int  # language tier (0 speaks it, 1 multilingual, 2 unstated); see LANGUAGE_PENALTY
    score: float
    params: int | None
    params_estimated: bool
    related_task: bool
    relevance: float = 0.0
    notes: list[str] = field(default_factory=list)
    feat: _Features | None = None


def _normalise_language(value: str) -> str:
    v = value.strip().lower()
    if v in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[v]
    if v in (MULTILINGUAL, "multi"):
        return MULTILINGUAL
    if re.fullmatch(r"[a-z]{2,3}", v):
        return v
    raise InvalidInputError(
        f"Unknown language {value!r}. Use an ISO code such as 'en', 'es', 'de' or a name "
        "such as 'Spanish', or 'multilingual'."
    )


_VARIANT_TOKENS = re.compile(
    r"^(?:v?\d+(?:\.\d+)*[bmk]?|x{0,2}s|xl|xxl|tiny|mini|small|base|medium|large|huge|"
    r"uncased|cased|q\d\w*|f16|fp16|bf16|int[48]|gguf|onnx|awq|gptq|mlx|\d+bit)$")


def family_key(model: ModelInfo) -> str:
    """Models that are size/format/version variants of one another share a key: the
    owner plus the name without size, version and quantisation tokens
    ("openai/whisper-large-v3" and "openai/whisper-small" -> "openai/whisper")."""
    owner, _, name = model.id.lower().rpartition("/")
    tokens = [t for t in _ID_SPLIT.split(name) if t and not _VARIANT_TOKENS.match(t)]
    return f"{owner}/{'-'.join(tokens) or name}"


def collapse_variants(ranked: list, k: int, per_family: int = MAX_PER_FAMILY) -> list:
    """The first ``k`` of ``ranked`` keeping at most ``per_family`` models of one family
    (five sizes of one checkpoint crowd out the alternatives a user should see); the
    skipped ones fill up only when too few families are left."""
    out, skipped, seen = [], [], {}
    for c in ranked:
        key = family_key(c.model)
        if seen.get(key, 0) < per_family:
            seen[key] = seen.get(key, 0) + 1
            out.append(c)
        else:
            skipped.append(c)
        if len(out) == k:
            return out
    return (out + skipped)[:k]


def _load_task_model(index_dir) -> TaskModel | None:
    """The index's task model, or None (an index built before it existed: the readable
    cues of :mod:`advisor.tasks` decide alone, with a warning)."""
    if index_dir is None:
        return None
    try:
        return TaskModel.load(index_dir)
    except FileNotFoundError:
        log.warning("No task model in %s: task inference uses the task cues only. "
                    "Rebuild with `python -m builder build` to add it.", index_dir)
    return None


class Recommender:
    """Ranks known models for a request. See the module docstring for the method.

    Args:
        index_or_models: an ``AdvisorIndex`` (its ``models`` and ``threads`` are used)
            or a mapping ``{model id: ModelInfo}``.
        retriever: optional object with ``search(query, k, kinds=None, doc_ids=None)``
            returning ``Hit``s (the hybrid retriever); adds semantic relevance.
        threads: optional coded threads (mapping or iterable of ``ThreadInfo``); taken
            from the index when it has them.
    """

    def __init__(self, index_or_models: Any, retriever: Any = None,
                 threads: Mapping[int, ThreadInfo] | Iterable[ThreadInfo] | None = None,
                 task_model: Any = None):
        if isinstance(index_or_models, Mapping):
            models = index_or_models
        else:
            models = getattr(index_or_models, "models", None)
            if models is None:
                raise TypeError("Recommender needs an AdvisorIndex or a {id: ModelInfo} mapping")
            if threads is None:
                threads = getattr(index_or_models, "threads", None)
        self.models: Mapping[str, ModelInfo] = models
        self.retriever = retriever
        if isinstance(threads, Mapping):
            threads = threads.values()
        self.threads: list[ThreadInfo] = list(threads or [])
        self._by_task: dict[str | None, list[ModelInfo]] | None = None
        self._inferred: dict[str, list[ModelInfo]] = {}
        self._family_threads: dict[str, list[tuple[ThreadInfo, str]]] = {}
        self._features: dict[str, tuple[ModelInfo, _Features]] = {}
        self.task_model = task_model
        if task_model is None and not isinstance(index_or_models, Mapping):
            self.task_model = _load_task_model(getattr(index_or_models, "index_dir", None))
        self.index = None if isinstance(index_or_models, Mapping) else index_or_models
        self._linker: EntityLinker | None = None
        self._model_rows = None

    def prepare(self) -> None:
        """Derive every model's ranking features now (about a second for the full index)
        instead of on the first request that meets each model."""
        for m in self.models.values():
            self._feat(m)
        self._tasks_known()
        self.linker  # noqa: B018 - build the id tables now, not on the first request

    def _feat(self, m: ModelInfo) -> _Features:
        """The model's cached :class:`_Features` (recomputed if the record was replaced)."""
        hit = self._features.get(m.id)
        if hit is not None and hit[0] is m:
            return hit[1]
        f = _Features.of(m)
        self._features[m.id] = (m, f)
        return f

    # --- request -----------------------------------------------------------------
    def _tasks_known(self) -> dict[str | None, list[ModelInfo]]:
        if self._by_task is None:
            by: dict[str | None, list[ModelInfo]] = {}
            inferred: dict[str, list[ModelInfo]] = {}
            for m in self.models.values():
                tag = m.pipeline_tag if isinstance(m.pipeline_tag, str) else None
                by.setdefault(tag, []).append(m)
                if tag in (None, "feature-extraction"):
                    low = m.id.lower()
                    for rx, task in _INFER_RX:
                        if task != tag and rx.search(low):
                            inferred.setdefault(task, []).append(m)
                            break
            self._by_task = by
            self._inferred = inferred
        return self._by_task

    @property
    def linker(self) -> EntityLinker:
        if self._linker is None:
            self._linker = EntityLinker(self.models)
        return self._linker

    def _knn_votes(self, qvec) -> dict[str, float]:
        """Pipeline tags of the model chunks nearest to the question, weighted by
        similarity (see :data:`KNN_K`)."""
        idx = self.index
        if qvec is None or idx is None or not hasattr(idx, "dense_search"):
            return {}
        if self._model_rows is None:
            self._model_rows = idx.rows_for(kind=["model", "model2026"])
        votes: dict[str, float] = {}
        seen: set[str] = set()
        for row, score in idx.dense_search(qvec, KNN_K, rows=self._model_rows):
            mid = str(idx.doc_ids[row]).split(":", 1)[-1]
            m = self.models.get(mid)
            if m is None or mid in seen or not m.pipeline_tag:
                continue
            seen.add(mid)
            votes[m.pipeline_tag] = votes.get(m.pipeline_tag, 0.0) + max(0.0, float(score))
        return votes

    def understand(self, req: ModelRequest, qvec=None) -> ModelRequest:
        """Infer the task (learned from model cards, the nearest cards' tags and the models
        the text names) and relative constraints ("a smaller X"); fills ``req`` in place.

        The regex cue of :func:`advisor.tasks.parse_request` counts as one more vote
        (:data:`W_CUE`); the learned model decides when they disagree strongly."""
        text = req.text
        mentions = self.linker.find(text)
        req.mentioned = [mm.model.id for mm in mentions]
        req.exclude = list(req.mentioned)
        if qvec is None and self.task_model is not None and self.index is not None:
            try:
                qvec = self.index.embed_query(text)
            except Exception:  # noqa: BLE001 - text-only inference still works
                log.exception("query embedding failed; task inference from text only")
        cue_task = req.task
        if self.task_model is not None:
            guesses = self.task_model.predict(text, qvec, k=8)
            guesses = blend(guesses, self._knn_votes(qvec), W_KNN, "nearest model cards")
            tags = {mm.model.pipeline_tag: 1.0 for mm in mentions if mm.model.pipeline_tag}
            guesses = blend(guesses, tags, W_MENTION if not wants_smaller(text) else
                            W_MENTION_RELATIVE, "the model you named")
            if cue_task:
                guesses = blend(guesses, {cue_task: 1.0}, W_CUE, "task words")
            if guesses:
                req.task = guesses[0].task
                req.task_confidence = round(guesses[0].prob, 3)
                req.task_alternatives = [(g.task, round(g.prob, 3)) for g in guesses[1:3]]
                if cue_task and cue_task != req.task:  # the cue was outvoted: drop its line
                    req.cues = [c for c in req.cues if not c.endswith(f"-> {cue_task}")]
                req.cues.insert(0, f"task {req.task} ({req.task_confidence:.0%}; "
                                f"{guesses[0].evidence or 'learned'})")
        if mentions and wants_smaller(text):
            ref = mentions[0].model
            size, _ = estimate_params(ref)
            if size:
                limit = int(size * SMALLER_FACTOR)
                req.max_params = min(req.max_params or limit, limit)
                req.cues.append(f"smaller than {ref.id} (~{_human_params(size)}): "
                                f"max {_human_params(limit)}")
            if not req.languages and ref.languages:
                req.languages = [x for x in ref.languages[:1]]
        return req

    def build_request(self, text: str, filters: dict | None = None,
                      qvec=None) -> tuple[ModelRequest, str | None]:
        """Parse ``text`` and apply explicit ``filters`` over it; returns (request, source).

        Raises:
            InvalidInputError: unknown task, language or source, out-of-range size, or
                neither text nor a task filter.
        """
        if filters is not None and not isinstance(filters, dict):
            parse_filters(filters)  # raises InvalidInputError: not a mapping
        if text is not None and not isinstance(text, str):
            clean_question(text)  # raises InvalidInputError: not text
        filters = dict(filters or {})
        if "max_params" in filters:  # the UI's name; validate.parse_filters' name below
            filters.setdefault("max_parameters", filters.pop("max_params"))
        checked = parse_filters(filters)
        text = clean_question(text) if (text or "").strip() else ""
        req = parse_request(text)
        if text:
            self.understand(req, qvec)
        if checked.task:
            task = checked.task.strip().lower()
            if task not in TASKS and task not in self._tasks_known():
                raise InvalidInputError(
                    f"Unknown task {checked.task!r}. Use a Hub pipeline tag such as "
                    f"{', '.join(sorted(TASKS)[:8])}, ..."
                )
            req.task = task
            req.cues.append(f"filter task={task}")
        if not text and not req.task:
            raise InvalidInputError(
                "Describe what the model should do (e.g. 'sentiment of English tweets') "
                "or choose a task."
            )
        if checked.language:
            req.languages = [_normalise_language(checked.language)]
            req.cues.append(f"filter language={req.languages[0]}")
        if checked.license_family:
            req.license_family = checked.license_family
            req.cues.append(f"filter license_family={checked.license_family}")
        if checked.max_parameters is not None:
            if checked.max_parameters < MIN_MAX_PARAMS:
                raise InvalidInputError(
                    f"max_params must be at least {MIN_MAX_PARAMS:,} (1M), e.g. 350M or 7B; "
                    f"got {checked.max_parameters:,}."
                )
            req.max_params = checked.max_parameters
            req.cues.append(f"filter max_params={checked.max_parameters:,}")
        if checked.library:
            req.library = checked.library.lower()
            req.cues.append(f"filter library={req.library}")
        source = checked.extra.get("source")
        if source in (None, "", "any", "all"):
            source = None
        elif str(source) not in SOURCES:
            raise InvalidInputError(f"Unknown source {source!r}; use one of {', '.join(SOURCES)} or any.")
        return req, (str(source) if source else None)

    # --- candidates ----------------------------------------------------------------
    @staticmethod
    def _library_ok(m: ModelInfo, library: str, feat: _Features | None = None) -> bool:
        wanted = LIBRARY_ALIASES.get(library, (library,))
        have = (feat or _Features.of(m)).have_library
        return not have.isdisjoint(wanted)

    def candidates(self, req: ModelRequest, source: str | None = None) -> list[_Scored]:
        """Models that fit task, source, licence, library, size and language."""
        by_task = self._tasks_known()
        if req.task:
            pools = [(m, False) for m in by_task.get(req.task, [])]
            for rel in RELATED_TASKS.get(req.task, ()):
                pools += [(m, True) for m in by_task.get(rel, [])]
            pools += [(m, True) for m in self._inferred.get(req.task, [])]
        else:
            pools = [(m, False) for m in self.models.values()]
        wanted = [w.lower() for w in req.languages if w]
        concrete = [w for w in wanted if w != MULTILINGUAL]
        concrete_set = frozenset(concrete)
        require_all = req.task == "translation"
        feat = self._feat
        out: list[_Scored] = []
        excluded = set(req.exclude)
        for m, related in pools:
            if source and m.source != source:
                continue
            if m.id in excluded:
                continue
            if req.license_family and (m.license_family or "unknown") != req.license_family:
                continue
            f = feat(m)
            if req.library and not self._library_ok(m, req.library, f):
                continue
            if req.max_params and f.params and f.params > req.max_params:
                continue
            tier = _tier(f, concrete, concrete_set, require_all) if wanted else 0
            if tier < 0:
                continue
            out.append(_Scored(m, tier, 0.0, f.params, f.params_estimated, related, feat=f))
        return out

    # --- relevance -----------------------------------------------------------------
    @staticmethod
    def _lexical(req: ModelRequest, m: ModelInfo, feat: _Features | None = None) -> float:
        """Request words/keywords found in the model id (full weight) or tags (half), 0..1.

        Tags count half because authors stuff them ("chat", "small", "sota"); the id is
        what the community sees and downloads by. A translation pair ("en-fr") counts
        double: it is the whole point of the request.
        """
        f = feat or _Features.of(m)
        mid, id_tokens, tags = f.low_id, f.id_tokens, f.tags
        hits = 0.0
        for kw in req.keywords:
            weight = 2.0 if _PAIR.fullmatch(kw) else 1.0
            if (len(kw) >= 3 and kw in mid) or kw in id_tokens:
                hits += weight
            elif kw in tags:
                hits += weight / 2
        for kw in req.domain:  # the user's domain ("finbert" for finance) counts double
            if (len(kw) >= 3 and kw in mid) or kw in id_tokens:
                hits += 2.0
            elif kw in tags:
                hits += 1.0
        for w in req.query_text.split():
            if w in id_tokens or (len(w) >= 5 and w in mid):
                hits += 0.5
            elif w in tags:
                hits += 0.25
        return min(1.0, hits / 2.0)

    def _dense(self, req: ModelRequest, cands: list[_Scored]) -> dict[str, float]:
        """Model id -> retrieval relevance in 0..1 (1 = best-ranked model document)."""
        if self.retriever is None or not cands:
            return {}
        query = req.text or req.query_text or (req.task or "")
        doc_ids = None
        if len(cands) <= MAX_RETRIEVER_DOC_IDS:
            doc_ids = [f"{kind}:{c.model.id}" for c in cands for kind in ("model", "model2026")]
        try:
            hits = self.retriever.search(query, k=DEFAULT_RETRIEVER_K,
                                         kinds=["model", "model2026"], doc_ids=doc_ids)
        except Exception:  # retrieval is a bonus here; ranking still works without it
            log.exception("model retrieval failed; ranking without it")
            return {}
        ranked: list[str] = []
        for h in hits:
            mid = h.doc_id.split(":", 1)[1] if ":" in h.doc_id else h.doc_id
            if mid not in ranked:
                ranked.append(mid)
        n = max(len(ranked), 1)
        return {mid: 1.0 - i / n for i, mid in enumerate(ranked)}

    def _score(self, req: ModelRequest, cands: list[_Scored]) -> None:
        """Score every candidate (``c.relevance``, ``c.score``)."""
        ctx = self._score_context(req, cands)
        for c in cands:
            self._score_one(req, c, ctx)

    def _score_context(self, req: ModelRequest, cands: list[_Scored]) -> _ScoreContext:
        """What one candidate's score needs from the whole set: dense relevance and the
        popularity maxima."""
        for c in cands:
            if c.feat is None:
                c.feat = self._feat(c.model)
        return _ScoreContext(
            dense=self._dense(req, cands),
            max_dl=max((c.feat.log_downloads for c in cands), default=0.0) or 1.0,
            max_lk=max((c.feat.log_likes for c in cands), default=0.0) or 1.0,
        )

    @staticmethod
    def _combine(req: ModelRequest, c: _Scored, rel: float, ctx: _ScoreContext) -> float:
        """The weighted score of ``c`` with relevance ``rel`` (monotone in ``rel``)."""
        m, f = c.model, c.feat
        pop = ((1 - W_LIKES_IN_POPULARITY) * f.log_downloads / ctx.max_dl
               + W_LIKES_IN_POPULARITY * f.log_likes / ctx.max_lk)
        card = m.card_quality if (m.card_chars or m.source == "2022") else NEUTRAL_CARD_QUALITY
        score = W_RELEVANCE * rel + W_POPULARITY * pop + W_CARD * card
        score -= LANGUAGE_PENALTY.get(c.tier, 0.0)
        if c.related_task:
            score -= RELATED_TASK_PENALTY
        if req.max_params and c.params is None:
            score -= UNKNOWN_SIZE_PENALTY
        return score

    def _score_one(self, req: ModelRequest, c: _Scored, ctx: _ScoreContext) -> None:
        lex = self._lexical(req, c.model, c.feat)
        dense = ctx.dense
        rel = 0.5 * lex + 0.5 * dense.get(c.model.id, 0.0) if dense else lex
        c.relevance = rel
        c.score = self._combine(req, c, rel, ctx)

    def _top(self, req: ModelRequest, cands: list[_Scored], k: int) -> list[_Scored]:
        """The first ``k`` candidates in ranking order (score, downloads, id), exactly as
        scoring and sorting all of them would give, but scoring only those that can still
        make the top ``k``: candidates are visited by an upper bound of their score
        (lexical relevance taken as 1) and the visit stops once the bound falls below the
        k-th best score found. A request without a task has all ~44k models as
        candidates; most are never scored."""
        ctx = self._score_context(req, cands)
        want = k * COLLAPSE_POOL  # room to skip near-duplicates (see family_key)
        if len(cands) <= MIN_PRUNE_CANDIDATES:
            for c in cands:
                self._score_one(req, c, ctx)
            return collapse_variants(sorted(cands, key=_rank_key)[:want], k)
        dense = ctx.dense
        bounds = [self._combine(req, c, (0.5 + 0.5 * dense.get(c.model.id, 0.0)) if dense
                                else 1.0, ctx) for c in cands]
        best: list[float] = []  # min-heap of the `want` best scores so far
        scored: list[_Scored] = []
        for i in sorted(range(len(cands)), key=lambda i: -bounds[i]):
            if len(best) == want and bounds[i] < best[0]:
                break  # neither this one nor any later one can enter
            c = cands[i]
            self._score_one(req, c, ctx)
            scored.append(c)
            if len(best) < want:
                heapq.heappush(best, c.score)
            elif c.score > best[0]:
                heapq.heapreplace(best, c.score)
        return collapse_variants(sorted(scored, key=_rank_key)[:want], k)

    # --- evidence ----------------------------------------------------------------------
    def _threads_for(self, family: str) -> list[tuple[ThreadInfo, str]]:
        if family not in self._family_threads:
            rx = _FAMILY_RX[family]
            found = []
            for t in self.threads:
                for code in t.codes:
                    if rx.search(code.lower()):
                        found.append((t, code))
                        break
            self._family_threads[family] = found
        return self._family_threads[family]

    def thread_mentions(self, model_id: str, limit: int = DEFAULT_MAX_MENTIONS) -> list[str]:
        """'People struggled with <family>: <code> (<url>)' lines from coded threads."""
        lines: list[str] = []
        seen: set[int] = set()
        for fam in model_families(model_id):
            for t, code in self._threads_for(fam):
                if t.topic_id in seen:
                    continue
                seen.add(t.topic_id)
                code = " ".join(code.split())
                short = code if len(code) <= 160 else code[:157].rstrip() + "..."
                where = f" [{t.category}]" if t.category else ""
                lines.append(f"People struggled with {fam}{where}: {short} ({t.url})")
                if len(lines) >= limit:
                    return lines
        return lines

    def _warnings(self, req: ModelRequest, c: _Scored) -> list[str]:
        m = c.model
        w: list[str] = []
        if m.source == "2022" and m.card_chars == 0:
            w.append("No model card: nothing documents its training data, intended use or "
                     "limitations. Test it on your own examples before relying on it.")
        elif m.source == "2022" and m.card_quality < THIN_CARD_QUALITY:
            w.append(f"Thin model card (quality {m.card_quality:.2f}); missing: "
                     f"{', '.join(m.missing_sections) or 'most sections'}.")
        elif m.source != "2022" and not m.card_chars:
            w.append("Card text not in this snapshot: read the model page before use.")
        least = [s for s in m.missing_sections
                 if any(key in s.lower() for key in LEAST_FILLED_KEYS)]
        if least and m.card_chars:
            w.append(f"The card does not cover {', '.join(least)}, the sections model cards "
                     "most often leave empty (Liang et al., 2022): evaluate it on your data.")
        if m.gated:
            w.append("Gated: accept the conditions on the model page and log in "
                     "(`hf auth login` or HF_TOKEN) before downloading.")
        if m.license_family == "non-commercial":
            w.append(f"Non-commercial licence ({m.license or 'see card'}): not for commercial use.")
        elif (m.license_family or "unknown") == "unknown":
            w.append("Licence not stated: check the model page before commercial use.")
        concrete = [x for x in req.languages if x != MULTILINGUAL]
        if concrete and c.tier == 1:
            w.append(f"Multilingual model, not specific to {', '.join(concrete)}: check its "
                     "quality on your language.")
        elif concrete and c.tier == 2:
            w.append(f"The card does not state its languages: check that it handles "
                     f"{', '.join(concrete)}.")
        if c.related_task:
            w.append(f"Tagged {m.pipeline_tag or 'without a task'}, not {req.task} (task "
                     "inferred from its name or a related tag): check the card.")
        if req.max_params and c.params is None:
            w.append("Parameter count unknown: could not check your size limit.")
        elif req.cpu_only and c.params and c.params > 1_000_000_000:
            w.append(f"~{_human_params(c.params)} parameters: slow on CPU; a quantised "
                     "(GGUF/ONNX) version helps.")
        return w

    def _to_recommendation(self, req: ModelRequest, c: _Scored) -> ModelRecommendation:
        m = c.model
        lang = next((x for x in req.languages if x != MULTILINGUAL), None)
        snip = plan_snippet(m, req.task, lang)  # code "" + the reason when no snippet fits
        return ModelRecommendation(
            model_id=m.id,
            score=round(c.score, 4),
            pipeline_tag=m.pipeline_tag,
            library=m.library,
            downloads=m.downloads,
            likes=m.likes,
            license=m.license,
            license_family=m.license_family,
            parameters=m.parameters if m.parameters else None,
            card_quality=m.card_quality,
            missing_sections=list(m.missing_sections),
            source=m.source,
            snippet=snip.code,
            warnings=self._warnings(req, c) + ([snip.note] if not snip.code and snip.note else []),
            thread_mentions=self.thread_mentions(m.id),
            url=MODEL_URL.format(id=m.id),
        )

    # --- entry point -------------------------------------------------------------------
    def recommend(self, text: str, filters: dict | None = None,
                  k: int = DEFAULT_K, qvec=None) -> list[ModelRecommendation]:
        """Top ``k`` models for ``text`` (free text) under ``filters``.

        ``filters`` keys: task, language, license_family (oss | non-commercial |
        unknown), max_params (or max_parameters; 350M, 7B or a number), library
        (pytorch, tensorflow, onnx, gguf, transformers, ...), source (2022 | 2026 | hub).
        Explicit filters override what the text says. An empty list means nothing fits.

        Raises:
            InvalidInputError: bad filters or an empty request.
        """
        return self.recommend_with_request(text, filters, k, qvec)[1]

    def recommend_with_request(self, text: str, filters: dict | None = None,
                               k: int = DEFAULT_K, qvec=None
                               ) -> tuple[ModelRequest, list[ModelRecommendation]]:
        """Like :meth:`recommend`, also returning the request as understood."""
        if not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidInputError(f"k must be between 1 and {MAX_K}; got {k!r}.")
        req, source = self.build_request(text, filters, qvec)
        cands = self.candidates(req, source)
        top = self._top(req, cands, k)
        log.info("recommend %r: task=%s langs=%s -> %d candidates", req.text[:60], req.task,
                 req.languages, len(cands))
        return req, [self._to_recommendation(req, c) for c in top]

    def explain_request(self, text: str, filters: dict | None = None) -> ModelRequest:
        """The parsed request (with filters applied), for the UI's "understood as" line."""
        return self.build_request(text, filters)[0]
