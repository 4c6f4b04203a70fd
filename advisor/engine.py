"""The advisor facade: one object the app, the API and the eval command call.

:class:`Advisor` loads the index, the taxonomy classifier, the guidance, the retriever,
the recommender and the output explainer once (lazily, thread-safe) and answers:

- :meth:`Advisor.advise`: a checked :class:`~advisor.types.Request` (built by the app
  with :func:`advisor.request.make_request`, or here from raw text: cleaned, filters
  checked, follow-ups such as "and a smaller one?" merged with the previous request) ->
  detect intent (model choice, pasted output/error, or a challenge question) -> classify
  -> retrieve -> compose offline, or stream an LLM answer from the same evidence with a
  fallback to the offline answer on any backend failure -> :class:`~advisor.types.Advice`
  (``sections`` and ``citations``; ``answer`` is their one markdown rendering).
- :meth:`Advisor.stream`: the same, yielding growing markdown, then the final Advice.
- :meth:`Advisor.recommend` / :meth:`Advisor.explain_output`: direct delegation.

A question is embedded once: the query vector is cached (:class:`~advisor.memo.MemoEmbedder`) and
reused by the classifier and the retriever. This module does no ranking, classifying or
writing of its own beyond choosing which piece runs; the pieces live in their modules.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advisor.compose import Composed, compose, safe_text, sources_section
from advisor.config import Config
from advisor.errors import AdvisorError, LLMBackendError
from advisor.intent import BORDERLINE, BORDERLINE_TASK_CONFIDENCE
from advisor.memo import MemoEmbedder
from advisor.request import detect_intent, make_request
from advisor.taxonomy import merge_categories, merge_explanation
from advisor.types import (
    Advice,
    CategoryScore,
    Classifier,
    Explainer,
    Explanation,
    Hit,
    IntentDetector,
    KnownIssues,
    ModelRecommendation,
    ModelRecommender,
    Request,
    Retriever,
)
from advisor.understanding import request_line
from advisor.validate import RateLimiter

log = logging.getLogger(__name__)

DEFAULT_MODELS_K = 5  # rows in the recommendation table
DEFAULT_MIN_THREADS = 2  # below this many threads in the hits, search threads alone
DEFAULT_EXTRA_THREADS = 3
# Share of a matched known issue's category in the answer's category: when its signature
# matched, and when it matched by meaning. 0.4 / 0.2 until the eleventh pass, chosen on
# `tune` with a classifier that had been fitted on those same questions; with each
# question held out of the fit (bench/category_cv.py, 5-fold) they lowered top-1 (0.657
# alone -> 0.634) and 0.1 / 0.1 gave 0.679, "sure" answers right 0.955 (22) vs 0.909 (33).
# Twenty-fifth pass, with the TF-IDF n-gram classifier (same CV, 2,675 held-out posts /
# the 134 tune questions): 0 / 0 -> 0.662 / 0.694, 0.05 / 0.05 -> 0.665 / 0.679, 0.1 / 0.1
# -> 0.659 / 0.649, 0.1 / 0 -> 0.659 / 0.679: halved.
KB_SIGNATURE_WEIGHT = 0.05
KB_SEMANTIC_WEIGHT = 0.05
DEFAULT_UNSURE_SCORE = 0.35  # used only when the classifier offers no is_unsure()
# Intra-op threads for query-time torch/faiss work. One short query gains little from a
# second thread, and on a loaded 2-core machine the OpenMP workers spin-wait for each
# other: MiniLM encode of one dev question measured 165 ms CPU / 335 ms wall with 2
# threads vs 13 ms CPU / 26 ms wall with 1 (load average ~8). Builds set their own.
DEFAULT_QUERY_THREADS = 1
# After loading, move the index's ~100k long-lived Python objects (model records, their
# ranking features) out of the cyclic GC's generations: otherwise a request that
# allocates many objects (a model request without a task scores all 44k models) pays
# for full collections that walk them all (measured 891 -> 322 ms CPU on such a request).
DEFAULT_FREEZE_GC = True

@dataclass
class _Parts:
    index: Any  # AdvisorIndex
    embedder: MemoEmbedder
    retriever: Retriever
    classifier: Classifier | None
    guidance: dict
    recommender: ModelRecommender | None
    explainer: Explainer | None
    known_issues: KnownIssues | None = None
    intent_model: IntentDetector | None = None
    notes: list[str] = field(default_factory=list)  # parts not loaded, and why


class Advisor:
    """The facade. ``Advisor(cfg)`` loads lazily; pass ``index`` to reuse a loaded one.

    Args:
        cfg: settings (``Config.from_env()`` when omitted).
        index: an already loaded :class:`~advisor.index.AdvisorIndex`.
        llm: an LLM backend to use instead of ``make_backend(cfg)`` (tests).
        embedder: the query embedder to load the index with (default: ``cfg.embed_model``).
    """

    def __init__(self, cfg: Config | None = None, index: Any = None, *, llm: Any = None,
                 embedder: Any = None):
        self.cfg = cfg or Config.from_env()
        self._index = index
        self._embedder = embedder
        self._parts: _Parts | None = None
        self._lock = threading.Lock()
        self._llm = llm
        self._llm_checked = llm is not None
        self._llm_error: str | None = None
        self.rate_limiter = RateLimiter(self.cfg.rate_limit_per_min)

    # --- loading ----------------------------------------------------------------
    @property
    def parts(self) -> _Parts:
        if self._parts is None:
            with self._lock:
                if self._parts is None:
                    self._parts = self._load()
        return self._parts

    @property
    def index(self):
        return self.parts.index

    def _load(self) -> _Parts:
        """Load the index (errors propagate) and each part. A part whose files are
        missing or refused (``FileNotFoundError`` / :class:`AdvisorError`) is left out:
        the answer degrades, ``notes`` says which part and why (the app's status line
        shows it) and the log has an error. Any other exception is a bug and propagates."""
        from advisor.index import AdvisorIndex
        from advisor.retrieval import HybridRetriever

        t0 = time.perf_counter()
        notes: list[str] = []
        index = self._index
        if index is None:
            from advisor.embedding import embedder_for

            inner = self._embedder or embedder_for(self.cfg)
            emb = MemoEmbedder(inner)
            index = AdvisorIndex.load(self.cfg, embedder=emb)
        else:
            emb = index.embedder if isinstance(index.embedder, MemoEmbedder) else MemoEmbedder(
                index.embedder)
        retriever = HybridRetriever(index, self.cfg)

        def part(name: str, load: Callable[[], Any], without: str) -> Any:
            try:
                return load()
            except (AdvisorError, FileNotFoundError) as e:
                note = f"{name} not loaded ({e}); {without}."
                log.error("%s", note)
                notes.append(note)
                return None

        guidance = part("Guidance", _load_guidance, "answers lack causes and steps") or {}
        classifier = part("Taxonomy classifier", lambda: _load_classifier(index, emb),
                          "categories come from the nearest taxonomy entries")
        recommender = part("Model recommender", lambda: _load_recommender(index, retriever),
                           "no model recommendations")
        explainer = part("Output explainer", lambda: _load_explainer(index, retriever),
                         "pasted outputs are answered as questions")
        known = part("Known-issues knowledge base", lambda: _load_known_issues(index, emb),
                     "answers lack known fixes")
        intent_model = None
        try:
            from advisor.intent import IntentModel

            intent_model = IntentModel.load(index.index_dir)
        except FileNotFoundError:  # an older index: the phrasing rules still work
            log.warning("No intent model in %s: model requests are recognised by phrasing "
                        "only. Rebuild with `python -m builder build` to add it.", index.index_dir)
        _limit_query_threads(DEFAULT_QUERY_THREADS)
        if DEFAULT_FREEZE_GC:
            import gc

            gc.collect()
            gc.freeze()
        log.info("advisor ready in %.2f s", time.perf_counter() - t0)
        return _Parts(index, emb, retriever, classifier, guidance, recommender, explainer,
                      known, intent_model, notes)

    @property
    def load_notes(self) -> list[str]:
        """Why parts of the engine were not loaded (the app's status line shows these)."""
        return list(self.parts.notes)

    def llm(self):
        """The configured LLM backend (or None); a misconfiguration is noted, not fatal."""
        if not self._llm_checked:
            with self._lock:
                if not self._llm_checked:
                    from advisor.llm import make_backend

                    try:
                        self._llm = make_backend(self.cfg)
                    except LLMBackendError as e:
                        self._llm_error = str(e)
                        log.warning("%s", e)
                    self._llm_checked = True
        return self._llm

    # --- pieces -----------------------------------------------------------------
    def detect_intent(self, text: str, qvec: np.ndarray) -> str:
        """``explain`` for a pasted output/error; else ``recommend`` when the learned
        intent model (:mod:`advisor.intent`) says a model choice is asked or implied;
        a borderline one (:data:`advisor.intent.BORDERLINE`) too when the task model reads
        a task in it confidently; else ``challenge``. Without an intent model: the
        phrasing rules of :func:`detect_intent`."""
        first, p = detect_intent(text), self.parts
        if first == "explain" or p.intent_model is None:
            return first
        prob = p.intent_model.proba(text, qvec)
        if prob >= p.intent_model.threshold:
            return "recommend"
        if prob >= BORDERLINE and p.recommender is not None:
            try:
                conf = p.recommender.build_request(text, None, qvec)[0].task_confidence
            except AdvisorError:
                conf = None
            if (conf or 0.0) >= BORDERLINE_TASK_CONFIDENCE:
                return "recommend"
        return "challenge"

    def classify(self, text: str, qvec: np.ndarray | None = None) -> tuple[list[CategoryScore], bool]:
        p = self.parts
        if p.classifier is not None:
            scores = list(p.classifier.predict(text, k=3))
            return scores, bool(p.classifier.is_unsure(scores))
        return self._classify_by_taxonomy(text, qvec)

    def _merge_explanation(self, categories, unsure, explanation) -> tuple[list[CategoryScore], bool]:
        """A detector that recognised the pasted output names its category with a strong
        prior (see :func:`advisor.taxonomy.merge_explanation`)."""
        merged = merge_explanation(categories, explanation)
        if merged == list(categories)[:3]:
            return categories, unsure
        clf = self.parts.classifier
        return merged, bool(clf.is_unsure(merged)) if clf is not None else unsure

    def _merge_known(self, categories, unsure, known) -> tuple[list[CategoryScore], bool]:
        """A matched known issue carries its codebook category: mix it in."""
        merged = steer_by_known(categories, known)
        clf = self.parts.classifier
        return merged, bool(clf.is_unsure(merged)) if clf is not None else unsure

    def _classify_by_taxonomy(self, text, qvec) -> tuple[list[CategoryScore], bool]:
        """Fallback: the categories of the nearest taxonomy documents (dense similarity)."""
        p = self.parts
        hits = p.retriever.search(text, k=12, kinds=["taxonomy"], mode="dense", qvec=qvec)
        by_id = {e.id: e for e in p.index.taxonomy if e.kind == "challenge"}
        out: list[CategoryScore] = []
        for h in hits:
            e = by_id.get(h.doc_id)
            if e is None or any(c.category == e.category for c in out):
                continue
            out.append(CategoryScore(e.category, e.subcategory, max(0.0, min(1.0, h.score))))
            if len(out) == 3:
                break
        unsure = not out or out[0].score < DEFAULT_UNSURE_SCORE or (
            len(out) > 1 and out[0].score - out[1].score < 0.02)
        return out, unsure

    def retrieve(self, text: str, qvec: np.ndarray | None, intent: str) -> list[Hit]:
        p = self.parts
        kinds = None if intent != "challenge" else ["thread", "taxonomy", "model", "model2026"]
        hits = p.retriever.search(text, k=self.cfg.top_k, kinds=kinds, qvec=qvec)
        if sum(h.kind == "thread" for h in hits) < DEFAULT_MIN_THREADS:
            seen = {h.doc_id for h in hits}
            more = p.retriever.search(text, k=DEFAULT_EXTRA_THREADS, kinds=["thread"], qvec=qvec)
            hits += [h for h in more if h.doc_id not in seen]
        return hits

    # --- public API ---------------------------------------------------------------
    def request(self, question: Any, history: Any = None, filters: dict | None = None,
                *, session: str | None = None, kind: str = "ask") -> Request:
        """A checked :class:`Request` (rate-limited only when ``session`` is given)."""
        return make_request(question, self.cfg, kind=kind, history=history, filters=filters,
                            session=session,
                            limiter=self.rate_limiter if session is not None else None)

    def recommend(self, text: str | Request, filters: dict | None = None,
                  k: int = DEFAULT_MODELS_K) -> list[ModelRecommendation]:
        rec = self.parts.recommender
        if rec is None:
            raise AdvisorError("The model recommender is not available in this build.")
        if isinstance(text, Request):
            text, filters = text.text, text.filters
        return rec.recommend(text, filters=filters, k=k)

    def explain_output(self, text: str | Request, model_id: str | None = None) -> Explanation:
        req = text if isinstance(text, Request) else make_request(
            text, self.cfg, kind="explain", model_id=model_id)
        exp = self.parts.explainer
        if exp is None:
            raise AdvisorError("The output explainer is not available in this build.")
        return exp.explain(req.text, model_id=req.model_id)

    def _prepare(self, req: Request) -> tuple[Advice, Composed]:
        """Everything up to the answer text: (advice skeleton, composed)."""
        p = self.parts
        qtext = req.query[: self.cfg.max_question_chars]
        qvec = p.embedder.encode([qtext])[0]  # (dim,) once; reused below via the memo
        intent = self.detect_intent(req.query, qvec)
        categories, unsure = self.classify(qtext, qvec)
        hits = self.retrieve(qtext, qvec, intent)
        notes = list(p.notes) + ([req.follow_up] if req.follow_up else [])
        models: list[ModelRecommendation] = []
        explanation: Explanation | None = None
        understood = None
        known, also = [], []
        if p.known_issues is not None and intent == "recommend":
            # a model request: only a pasted error or a clear match leads (ahead of the
            # models; an error line with several causes too, hedged), no other entries
            known = [m for m in p.known_issues.match(req.text, qvec)
                     if m.strong or m.how == "signature" and m.steers]
        elif p.known_issues is not None:
            known, also = p.known_issues.match_with_alternatives(req.text, qvec)
        steering = [m for m in known if m.steers]
        if steering:
            categories, unsure = self._merge_known(categories, unsure, steering)
        if intent == "recommend" and p.recommender is not None:
            try:
                understood, models = p.recommender.recommend_with_request(
                    req.query, filters=req.filters, k=DEFAULT_MODELS_K, qvec=qvec)
            except AdvisorError as e:
                notes.append(str(e))
        elif intent == "explain" and p.explainer is not None:
            explanation = p.explainer.explain(req.text, model_id=req.model_id)
            categories, unsure = self._merge_explanation(categories, unsure, explanation)
        composed = compose(req.text, categories, unsure, hits, models, p.guidance, p.index,
                           intent=intent, notes=[req.follow_up] if req.follow_up else [],
                           known=known, also=also, request_line=request_line(understood))
        citations = composed.citations
        if explanation is not None and explanation.recognised:
            # a recognised output leads, after a known issue's specific fix if one matched
            composed.sections.insert(1 if known else 0, explanation.answer)
            seen = {c.url for c in citations}
            citations = [c for c in explanation.citations if c.url not in seen] + citations
        advice = Advice(
            question=req.text, answer="", categories=categories[:3],
            confidence=categories[0].score if categories else 0.0, unsure=unsure,
            models=models, citations=citations, hits=hits, intent=intent,
            backend="offline", notes=notes,
            task=understood.task if understood is not None else None,
            task_confidence=understood.task_confidence if understood is not None else None,
            known_issues=[m.issue.id for m in known], also_check=[m.issue.id for m in also],
            explanation=explanation,
        )
        return advice, composed

    def stream(self, question: str | Request, history: Any = None, filters: dict | None = None,
               *, session: str | None = None) -> Iterator[tuple[str, Advice | None]]:
        """Yield ``(markdown so far, None)`` while an LLM backend writes, then
        ``(markdown, Advice)``; the offline composer yields only the latter.

        ``question`` is a :class:`Request` from :func:`advisor.request.make_request`, or
        raw text checked here (with ``history``, ``filters``, ``session``)."""
        t0 = time.perf_counter()
        req = question if isinstance(question, Request) else self.request(
            question, history, filters, session=session)
        advice, composed = self._prepare(req)
        llm = self.llm()
        lead: list[str] = []
        if self._llm_error:  # configured but unusable: say so in the answer too
            advice.notes.append(self._llm_error)
            lead.append(self._llm_error)
        sections = [s for s in composed.sections if s]
        if llm is not None:
            from advisor.llm import AdviceContext, build_messages

            ctx = AdviceContext(
                intent=advice.intent, categories=advice.categories, unsure=advice.unsure,
                causes=composed.causes, steps=composed.steps, models=advice.models,
                citations=advice.citations, hits=advice.hits, draft=composed.markdown,
            )
            text = ""
            try:
                for piece in llm.stream(build_messages(req.text, req.history, ctx)):
                    text += piece
                    yield text, None
                advice.backend = getattr(llm, "name", "llm")
                sections = [text]
            except LLMBackendError as e:
                advice.notes.append(str(e))
                lead.append(str(e))
        # offline, the answer is complete at once: one update (no partial yields), so the
        # chat sends one message instead of one per section (issue 12: per-event cost)
        advice.sections = ([_notes_section(lead)] if lead else []) + sections
        advice.answer = "\n\n".join(
            s for s in [*advice.sections, sources_section(advice.citations)] if s)
        advice.latency_ms = (time.perf_counter() - t0) * 1000
        yield advice.answer, advice

    def advise(self, question: str | Request, history: Any = None, filters: dict | None = None,
               *, session: str | None = None) -> Advice:
        """Answer one question (see the module docstring). Raises InvalidInputError /
        RateLimitError for bad input; never raises for a failing LLM backend."""
        final: Advice | None = None
        for _, adv in self.stream(question, history, filters, session=session):
            final = adv or final
        assert final is not None
        return final


def _load_guidance() -> dict:
    from advisor.guidance import load_guidance

    return load_guidance()


def _load_classifier(index, emb):
    from advisor.classifier import TaxonomyClassifier

    return TaxonomyClassifier.load(index.index_dir, emb)


def _load_recommender(index, retriever):
    from advisor.recommender import Recommender

    rec = Recommender(index, retriever)
    rec.prepare()
    return rec


def _load_explainer(index, retriever):
    from advisor.explainer import OutputExplainer

    return OutputExplainer(index, retriever)


def steer_by_known(categories: Sequence[CategoryScore], known: Sequence[Any],
                   w_signature: float | None = None,
                   w_semantic: float | None = None) -> list[CategoryScore]:
    """The categories with the matched known issues' codebook categories mixed in
    (:data:`KB_SIGNATURE_WEIGHT` when the first matched by its signature, the user's own
    error text; :data:`KB_SEMANTIC_WEIGHT` when by meaning)."""
    if not known:
        return list(categories)
    sig = KB_SIGNATURE_WEIGHT if w_signature is None else w_signature
    sem = KB_SEMANTIC_WEIGHT if w_semantic is None else w_semantic
    extra = [CategoryScore(m.issue.category, m.issue.subcategory, m.score) for m in known]
    return merge_categories(categories, extra, sig if known[0].how == "signature" else sem)


def _load_known_issues(index, emb):
    from advisor.kb_store import load_signature_record, load_solved_posts, load_vector_cache
    from advisor.known_issues import KnownIssueMatcher, load_known_issues

    return KnownIssueMatcher(load_known_issues(), emb,
                             cache=load_vector_cache(index.index_dir, emb.model_id),
                             solved=load_solved_posts(index.index_dir),
                             signature_record=load_signature_record(index.index_dir))


def _limit_query_threads(n: int) -> None:
    """Cap torch's and faiss's intra-op threads at ``n`` (see DEFAULT_QUERY_THREADS).

    Process-wide: called once the index is loaded (an in-process auto-build has finished
    by then). Libraries that are not imported are left alone."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() > n:
        torch.set_num_threads(n)
    faiss = sys.modules.get("faiss")
    if faiss is not None and faiss.omp_get_max_threads() > n:
        faiss.omp_set_num_threads(n)
    log.debug("query-time intra-op threads capped at %d", n)


def _notes_section(notes: Sequence[str]) -> str:
    """Notes shown above the answer (e.g. "the LLM failed; offline answer")."""
    return "\n".join(f"> _{safe_text(n, 400)}_" for n in notes)
