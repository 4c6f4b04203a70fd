"""Model recommender: a beginner's request -> a short, explained list of Hub models.

Steps: :mod:`advisor.understanding` turns the text and explicit UI/API filters into a
:class:`~advisor.tasks.ModelRequest` (task, languages, licence, size, library; facts
about single models come from :mod:`advisor.modelfacts`). The
candidate set (:mod:`advisor.pools`, kept per set of filters) is every known model
that fits the task, licence, size, library and source; models stated to speak only
other languages are dropped, and language is otherwise a score penalty (none for a model
that speaks the asked language, small for a multilingual one, larger when its languages
are not stated: ``advisor.pools.LANGUAGE_PENALTY``). Models are ranked by relevance
(:mod:`advisor.relevance`: a lexical match of the request's words with the model id and
tags; with an index, hybrid retrieval and the cosine and BM25 of every candidate's card,
and the models accepted for similar solved requests, :mod:`advisor.solved_requests`),
popularity (log downloads, likes), model-card quality and recency, with weights fitted
on labelled requests (:mod:`advisor.pools`). Every
recommendation carries its evidence, a ready-to-run snippet, warnings (thin or missing
cards, gated, non-commercial, unknown size) and what people struggled with for that
model family in the study's coded forum threads.

This module does not download anything or look at the live Hub; it works on the
``ModelInfo`` records it is given (an :class:`~advisor.index.AdvisorIndex` or a plain
mapping), so tests can run it on corpus slices without an index.
"""

from __future__ import annotations

import functools
import heapq
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from advisor.ask_language import AskLanguage
from advisor.entities import EntityLinker
from advisor.errors import InvalidInputError
from advisor.formatting import human_count
from advisor.model_warnings import Warn, render
from advisor.modelfacts import (
    FAMILY_RX,
    INFER_RX,
    ModelFeatures,
    card_read,
    collapse_variants,
    fill_last,
    model_families,
)
from advisor.pools import (
    W_LEXICAL,
    CandidatePool,
    Item,
    PoolKey,
    load_related,
    marked_derivative,
    over_budget,
    related_tasks,
    select,
    shows_modality,
    tag_modalities,
)
from advisor.relevance import PoolRelevance, PoolScorer, lexical
from advisor.snippets import plan_snippet
from advisor.solved_requests import load_solved_requests
from advisor.task_head import TaskHead
from advisor.taskmodel import load_inferred
from advisor.tasks import LIBRARY_ALIASES, MULTILINGUAL, ModelRequest, load_modalities
from advisor.types import MODEL_URL, ModelInfo, ModelRecommendation, ThreadInfo
from advisor.understanding import RequestUnderstanding, load_task_model

log = logging.getLogger(__name__)

__all__ = ["Recommender"]

DEFAULT_K = 5
MAX_K = 50  # more rows than a beginner reads
THIN_CARD_QUALITY = 0.4  # below this the card misses most sections
MIN_PRUNE_CANDIDATES = 500  # below this, scoring all candidates is cheaper than bounding
BOUND_MARGIN = 1e-9  # added to each upper bound: float sums in another order differ by ~1e-16
POOL_CACHE_SIZE = 64  # candidate pools kept (one per task, languages and filters asked)
DEFAULT_MAX_MENTIONS = 2  # thread lines per model: enough to warn, short enough to read
# Sections Liang et al. (2022) found least often filled in Hub model cards.
LEAST_FILLED_KEYS = ("limitation", "bias", "evaluation", "environment")

# An untagged model joins the candidates of the task the build's task model inferred from
# its card (builder.taskfit.infer_untagged) when that task is more likely than not; it is
# ranked like a related-task model and says that its task was inferred. (Tune requests:
# hit@5 0.769 -> 0.788 at 0.5; 0.35 and 0.0 gave 0.808, one request more, at more noise.)
INFERRED_TASK_MIN_PROB = 0.5

# A runner-up task with >= RUNNER_UP_RATIO of the first's probability fills the last
# RUNNER_UP_SLOTS picks (a wrong task costs the whole list). Held-out task readings of 375
# labelled requests (bench/runner_up.py): hit@5 0.547 -> 0.568 at 0.3 with 2 of 5 slots
# (165 hedged); 0.6 gave 0.557, 1 slot 0.563; hit@1 unchanged by construction.
RUNNER_UP_RATIO = 0.3
RUNNER_UP_SLOTS = 2
COLLAPSE_POOL = 3  # rank k * this many candidates so variants can be skipped


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
    feat: ModelFeatures | None = None
    base: float = 0.0  # the score at relevance 0 (CandidatePool.base: popularity, card, penalties)
    other_library: bool = False  # not of the library/tool the request names
    pos: int = 0  # its position in the pool (CandidatePool.items)
    solved_like: str = ""  # thread of the closest solved request that accepted it

    @classmethod
    def of(cls, item: Item, base: float, pos: int = 0) -> _Scored:
        """An unscored candidate from a pool item (model, tier, related task, features,
        other library), its pool's score at relevance 0 and its position in the pool."""
        m, tier, related, f, other = item
        return cls(m, tier, 0.0, f.params, f.params_estimated, related, feat=f,
                   base=float(base), other_library=other, pos=pos)


def _unscored(pool: CandidatePool) -> list[_Scored]:
    """Every candidate of ``pool``, unscored (relevance still to add)."""
    return [_Scored.of(item, b, i)
            for i, (item, b) in enumerate(zip(pool.items, pool.base, strict=True))]


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
        self._features: dict[str, tuple[ModelInfo, ModelFeatures]] = {}
        self._derivatives: Counter[str] | None = None  # base model id -> models naming it
        self._pool_cache = functools.lru_cache(maxsize=POOL_CACHE_SIZE)(self._make_pool)
        self.index = None if isinstance(index_or_models, Mapping) else index_or_models
        # the task head and the language order only beside the index's own task model
        # (benches pass fold models, fitted without their fold)
        task_head = ask_language = None
        if task_model is None and self.index is not None:
            index_dir = getattr(self.index, "index_dir", None)
            task_model = load_task_model(index_dir)
            task_head = TaskHead.load(index_dir) if task_model is not None else None
            ask_language = AskLanguage.load(index_dir)
        self.reader = RequestUnderstanding(models, self.index, task_model, self._tasks_known,
                                           task_head, ask_language)
        scorer_index = getattr(retriever, "index", None)
        manifest = getattr(scorer_index, "manifest", None) or {}
        solved = load_solved_requests(getattr(scorer_index, "index_dir", None),
                                      manifest.get("embed_model", ""))
        self.scorer = PoolScorer(retriever, scorer_index, solved)
        self._related = load_related(getattr(self.index, "index_dir", None))
        self._modalities = load_modalities()

    @functools.cached_property
    def _tag_modalities(self) -> dict[str, str]:
        """Which modality each tag shows, learned from this index's models."""
        return tag_modalities(self.models.values(), self._modalities)

    def prepare(self) -> None:
        """Derive every model's ranking features now (about a second for the full index)
        instead of on the first request that meets each model."""
        for m in self.models.values():
            self._feat(m)
        self._tasks_known()
        self.linker  # noqa: B018 - build the id tables now, not on the first request

    def _feat(self, m: ModelInfo) -> ModelFeatures:
        """The model's cached :class:`ModelFeatures` (recomputed if the record was replaced)."""
        hit = self._features.get(m.id)
        if hit is not None and hit[0] is m:
            return hit[1]
        if self._derivatives is None:
            self._derivatives = Counter(x.base_model for x in self.models.values() if x.base_model)
        f = ModelFeatures.of(m, self._derivatives.get(m.id, 0))
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
                    for rx, task in INFER_RX:
                        if task != tag and rx.search(low):
                            inferred.setdefault(task, []).append(m)
                            break
            learned = load_inferred(getattr(self.index, "index_dir", None))
            named = {t: {m.id for m in ms} for t, ms in inferred.items()}
            for m in by.get(None, []):
                task, prob = learned.get(m.id, (None, 0.0))
                if task and prob >= INFERRED_TASK_MIN_PROB and m.id not in named.get(task, ()):
                    inferred.setdefault(task, []).append(m)
            self._by_task = by
            self._inferred = inferred
        return self._by_task

    @property
    def task_model(self):
        return self.reader.task_model

    @property
    def linker(self) -> EntityLinker:
        return self.reader.linker

    def understand(self, req: ModelRequest, qvec=None) -> ModelRequest:
        """See :meth:`advisor.understanding.RequestUnderstanding.understand`."""
        return self.reader.understand(req, qvec)

    def build_request(self, text: str, filters: dict | None = None,
                      qvec=None) -> tuple[ModelRequest, str | None]:
        """See :meth:`advisor.understanding.RequestUnderstanding.build_request`."""
        return self.reader.build_request(text, filters, qvec)

    # --- candidates ----------------------------------------------------------------
    @staticmethod
    def _library_ok(m: ModelInfo, library: str, feat: ModelFeatures | None = None) -> bool:
        wanted = LIBRARY_ALIASES.get(library, (library,))
        have = (feat or ModelFeatures.of(m)).have_library
        return not have.isdisjoint(wanted)

    def candidates(self, req: ModelRequest, source: str | None = None) -> list[_Scored]:
        """Models that fit task, source, licence, library, size and language."""
        return _unscored(self._pool(req, source))

    def _pool(self, req: ModelRequest, source: str | None) -> CandidatePool:
        """The candidates of this request's filters, with the part of their scores that
        does not depend on its words; the last :data:`POOL_CACHE_SIZE` are kept (requests
        for one task and language share them)."""
        return self._pool_cache(PoolKey.of(req, source))

    def _make_pool(self, key: PoolKey) -> CandidatePool:
        by_task = self._tasks_known()
        if key.task:
            pools = [(m, False) for m in by_task.get(key.task, [])]
            want = self._modalities.get(key.task)
            for rel in related_tasks(key.task, self._related):
                ms = by_task.get(rel, [])
                if want and self._modalities.get(rel, want) != want:
                    # a related task of another modality (CLIP's 2022 tag makes
                    # feature-extraction stand in for image tasks): only its models
                    # whose tags show the request's modality
                    ms = [m for m in ms if shows_modality(m, want, self._tag_modalities)]
                pools += [(m, True) for m in ms]
            pools += [(m, True) for m in self._inferred.get(key.task, [])]
            if key.base_checkpoints:
                pools += [(m, True) for m in by_task.get("fill-mask", [])]
        else:
            pools = [(m, False) for m in self.models.values()]
        return CandidatePool.of(select(pools, key, self._feat, self._library_ok),
                                key.max_params, key.min_tokens, key.library)

    def _score_one(self, req: ModelRequest, c: _Scored, rel: PoolRelevance) -> None:
        """Score ``c`` given the pool's relevance parts (:class:`PoolRelevance`)."""
        c.relevance = rel.score(c.pos, lexical(req, c.model, c.feat))
        c.score = c.relevance + c.base  # the one score formula: advisor.pools's weights
        c.solved_like = rel.threads.get(c.pos, "")

    def _top(self, req: ModelRequest, pool: CandidatePool, k: int) -> list[_Scored]:
        """The first ``k`` candidates in ranking order (score, downloads, id), exactly as
        scoring and sorting all of them would give, but scoring only those that can still
        make the top ``k``: candidates are visited by an upper bound of their score
        (lexical relevance taken as 1; the pool's precomputed part plus the relevance
        bound, in one array operation) and the visit stops once the bound falls below the
        k-th best score found. A request without a task has all ~44k models as
        candidates; most are never scored."""
        rel = self.scorer(req, pool)
        want = k * COLLAPSE_POOL  # room to skip near-duplicates (see family_key)
        items = pool.items
        if len(items) <= MIN_PRUNE_CANDIDATES:
            cands = _unscored(pool)
            for c in cands:
                self._score_one(req, c, rel)
            return collapse_variants(sorted(cands, key=_rank_key)[:want], k)
        # lexical relevance taken as 1, the other parts exact; + a margin against float
        # rounding (the same sum as _score_one's, kept as a guard)
        bounds = pool.base + W_LEXICAL + rel.without_lexical + BOUND_MARGIN
        best: list[float] = []  # min-heap of the `want` best scores so far
        scored: list[_Scored] = []
        for i in np.argsort(-bounds, kind="stable").tolist():
            if len(best) == want and bounds[i] < best[0]:
                break  # neither this one nor any later one can enter
            c = _Scored.of(items[i], pool.base[i], i)
            self._score_one(req, c, rel)
            scored.append(c)
            if len(best) < want:
                heapq.heappush(best, c.score)
            elif c.score > best[0]:
                heapq.heapreplace(best, c.score)
        return collapse_variants(sorted(scored, key=_rank_key)[:want], k)

    # --- evidence ----------------------------------------------------------------------
    def _threads_for(self, family: str) -> list[tuple[ThreadInfo, str]]:
        if family not in self._family_threads:
            rx = FAMILY_RX[family]
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
        """The warnings that apply to ``c`` for ``req``, worded and ordered by
        :mod:`advisor.model_warnings` (``prompts/model_warnings.yaml``)."""
        m = c.model
        w: list[Warn] = []
        if m.source == "2022" and m.card_chars == 0:
            w.append(Warn("no_card"))
        elif m.source == "2022" and m.card_quality < THIN_CARD_QUALITY:
            w.append(Warn("thin_card", {"quality": f"{m.card_quality:.2f}", "missing":
                                        ", ".join(m.missing_sections) or "most sections"}))
        elif not card_read(m):
            w.append(Warn("card_not_in_snapshot"))
        least = [s for s in m.missing_sections
                 if any(key in s.lower() for key in LEAST_FILLED_KEYS)]
        if least and m.card_chars:
            w.append(Warn("card_gaps", {"sections": ", ".join(least)}))
        if m.gated:
            w.append(Warn("gated"))
        if m.license_family == "non-commercial":
            w.append(Warn("non_commercial", {"license": m.license or "see card"}))
        elif (m.license_family or "unknown") == "unknown":
            w.append(Warn("licence_unknown"))
        concrete = ", ".join(x for x in req.languages if x != MULTILINGUAL)
        if concrete and c.tier == 1:
            w.append(Warn("multilingual", {"languages": concrete}))
        elif concrete and c.tier == 2:
            w.append(Warn("languages_unstated", {"languages": concrete}))
        if c.other_library and req.library:
            w.append(Warn("other_library", {"library": req.library}))
        if c.feat is not None and marked_derivative(c.feat, req.library, c.other_library):
            w.append(Warn("derivative", {"base": str(m.base_model)}))
        if c.related_task:
            w.append(Warn("related_task", {"tag": m.pipeline_tag or "without a task",
                                           "task": str(req.task)}))
        params = human_count(c.params, "unknown")
        if req.max_params and c.params is None:
            w.append(Warn("params_unknown"))
        elif over_budget(c.params, req.max_params) > 0:
            w.append(Warn("over_budget", {"params": params,
                                          "budget": human_count(req.max_params, "unknown")}))
        elif req.cpu_only and c.params and c.params > 1_000_000_000:
            w.append(Warn("slow_on_cpu", {"params": params}))
        return render(w)

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
            solved_like=c.solved_like,
            card_read=card_read(m),
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
        pool = self._pool(req, source)
        top = self._top(req, pool, k)
        log.debug("recommend %r: task=%s langs=%s -> %d candidates", req.text[:60], req.task,
                  req.languages, len(pool.items))
        alt = self.runner_up(req)
        if alt is None or k <= RUNNER_UP_SLOTS:
            return req, [self._to_recommendation(req, c) for c in top]
        alt_req = replace(req, task=alt, cues=list(req.cues))  # its best take the last slots
        second = self._top(alt_req, self._pool(alt_req, source), k)
        from_alt = {id(c) for c in second}
        picks = fill_last(top, second, k, RUNNER_UP_SLOTS, key=lambda c: c.model.id)
        recs = [self._to_recommendation(alt_req if id(c) in from_alt else req, c) for c in picks]
        for r, c in zip(recs, picks, strict=True):
            if id(c) in from_alt:
                r.warnings.insert(0, f"For {alt}, the second reading of your request (first: {req.task}).")
        return req, recs

    @staticmethod
    def runner_up(req: ModelRequest) -> str | None:
        """The second task whose best models join the list (see :data:`RUNNER_UP_RATIO`),
        or ``None``: no close runner-up (a task given as a filter has none)."""
        if not req.task_alternatives or not req.task_confidence:
            return None
        task, prob = req.task_alternatives[0]
        return task if task != req.task and prob >= RUNNER_UP_RATIO * req.task_confidence \
            else None

    def explain_request(self, text: str, filters: dict | None = None) -> ModelRequest:
        """The parsed request (with filters applied), for the UI's "understood as" line."""
        return self.build_request(text, filters)[0]
