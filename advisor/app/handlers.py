"""The handlers behind the UI and the API: one request in, one rendered answer out.

Each handler reads top-down: build the :class:`~advisor.types.Request` once
(:func:`advisor.request.make_request`: clean, limit, filters, the session's rate limit,
history, follow-up), get the engine from the :class:`~advisor.app.lifecycle.EngineHolder`,
answer, log the row, render at the edge (:mod:`advisor.app.render`). A refused or failed
request is logged with its reason and shown as ``gr.Error`` with the advisor's own
message.

Every question, search and explanation is logged to
:class:`advisor.maintainers.querylog.QueryLog`; likes/dislikes in the chat update that
row. No retrieval, answering or aggregation logic here.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from advisor.app import render
from advisor.app.lifecycle import EngineHolder
from advisor.config import Config
from advisor.errors import AdvisorError
from advisor.maintainers import insights
from advisor.maintainers.querylog import QueryLog
from advisor.request import make_request
from advisor.types import Advice, CategoryScore, Explanation, ModelRecommendation, Request
from advisor.validate import RateLimiter

log = logging.getLogger(__name__)

DEFAULT_K = 5  # models in the finder's table


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None


def bound_chat(history: list[Any], rows: dict[str, int],
               limit: int) -> tuple[list[Any], dict[str, int]]:
    """The last ``limit`` chat messages, and the like-button map re-indexed to them.

    The kept part starts at a user message, so a question is never cut from its
    answer: at the first question inside the window, or, when the window holds none
    (a limit shorter than one turn), at the last question. ``limit`` <= 0 keeps all."""
    if limit <= 0 or len(history) <= limit:
        return history, rows
    users = [i for i, m in enumerate(history) if _is_user(m)]
    if not users:
        return history, rows
    start = len(history) - limit
    drop = next((i for i in users if i >= start), users[-1])
    kept = history[drop:]
    return kept, {str(int(k) - drop): v for k, v in rows.items() if int(k) >= drop}


def _is_user(message: Any) -> bool:
    role = message.get("role") if isinstance(message, dict) else getattr(message, "role", None)
    return role == "user"


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class AdvisorApp:
    """The handlers behind the UI and the API; owns the engine holder, log and limiter."""

    def __init__(
        self,
        cfg: Config,
        holder: EngineHolder | None = None,
        querylog: QueryLog | None = None,
    ):
        self.cfg = cfg
        self.holder = holder or EngineHolder(cfg)
        self.qlog = querylog or QueryLog(cfg)
        self.limiter = RateLimiter(cfg.rate_limit_per_min)

    # the boundary: one checked request, or a logged refusal ---------------------------
    def _request(self, kind: str, text: Any, session: str | None, **kw: Any) -> tuple[Request, Any]:
        """(checked request, engine); raises ``gr.Error`` after logging a refusal."""
        try:
            req = make_request(text, self.cfg, kind=kind, session=session,
                               limiter=self.limiter, **kw)
            return req, self.holder.get()
        except Exception as e:  # noqa: BLE001 - refused: logged and shown
            raise self._refuse(kind, text, e, session) from e

    def _refuse(self, kind: str, text: Any, e: Exception, session: str | None) -> gr.Error:
        status = "refused" if isinstance(e, AdvisorError) else "error"
        self.qlog.record(
            str(text or "")[: self.cfg.max_question_chars],
            kind=kind,
            status=status,
            reason=f"{type(e).__name__}: {e}"[:500],
            session=session,
        )
        if isinstance(e, AdvisorError):
            return gr.Error(str(e))
        log.exception("Unexpected error in %s", kind)
        return gr.Error(f"Something went wrong ({type(e).__name__}). Please try again.")

    def _log(self, kind: str, text: str, started: float, session: str | None, *,
             intent: str | None = None, categories: list[CategoryScore] = (),
             confidence: float | None = None, models: list[str] = (), **row: Any) -> int:
        """One answered row: kind and intent, the top category, models, latency, session."""
        top = categories[0] if categories else None
        if confidence is None and top is not None:
            confidence = top.score
        return self.qlog.record(
            text, kind=kind, intent=intent or kind, confidence=confidence,
            category=top.category if top else None,
            subcategory=top.subcategory if top else None,
            models=list(models), latency_ms=_ms_since(started), session=session, **row,
        )

    def _log_advice(self, advice: Advice, session: str | None, started: float) -> int:
        return self._log(
            "ask", advice.question, started, session, categories=advice.categories,
            models=[m.model_id for m in advice.models], intent=advice.intent,
            confidence=advice.confidence, unsure=advice.unsure,
            citations=len(advice.citations), answer_chars=len(advice.answer),
        )

    # chat ---------------------------------------------------------------------------
    def respond(
        self,
        message: str,
        history: list[Any],
        rows: dict[str, int] | None,
        request: gr.Request | None = None,
    ) -> Iterator[tuple[list[dict], str, str, dict[str, int]]]:
        """Stream an answer into the chat: (history, textbox, category panel, rows).

        ``rows`` maps a chat message index to its log row, for the like buttons."""
        started = time.perf_counter()
        session = _session(request)
        rows = dict(rows or {})
        history = list(history or [])
        req, engine = self._request("ask", message, session, history=history)
        history.append({"role": "user", "content": req.text})
        history.append({"role": "assistant", "content": ""})
        panel = "_Thinking…_"
        if engine.llm() is not None:  # a model writes: show the question at once
            yield history, "", panel, rows
        advice = None
        try:
            for partial, final in engine.stream(req):
                history[-1] = {"role": "assistant", "content": partial}
                advice = final or advice
                if final is None:
                    yield history, "", panel, rows
        except Exception as e:  # noqa: BLE001
            raise self._refuse("ask", req.text, e, session) from e
        if advice is None:
            return
        history[-1] = {"role": "assistant", "content": render.answer_body(advice)}
        row_id = self._log_advice(advice, session, started)
        rows[str(len(history) - 1)] = row_id
        sources = render.sources_message(advice.citations)
        if sources is not None:
            history.append(sources)
            rows[str(len(history) - 1)] = row_id
        history, rows = bound_chat(history, rows, self.cfg.chat_messages)
        yield history, "", render.category_markdown(advice), rows

    def on_like(self, rows: dict[str, int] | None, data: gr.LikeData) -> str:
        """Record a like/dislike for the answer the clicked message belongs to."""
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        row_id = (rows or {}).get(str(index))
        if row_id is None:
            return "Feedback applies to answers only."
        liked = data.liked
        if isinstance(liked, str):
            if liked.lower() not in ("like", "dislike"):
                return ""
            liked = liked.lower() == "like"
        self.qlog.feedback(row_id, liked=bool(liked))
        return "Thanks for the feedback!" if liked else "Thanks — we will look at this answer."

    # API endpoints (also MCP tools; signatures and docs in advisor.app.api) -------------
    def ask(self, question: str, request: gr.Request | None = None) -> tuple[str, dict]:
        started = time.perf_counter()
        session = _session(request)
        req, engine = self._request("ask", question, session)
        try:
            advice = engine.advise(req)
        except Exception as e:  # noqa: BLE001
            raise self._refuse("ask", req.text, e, session) from e
        self._log_advice(advice, session, started)
        return advice.answer, advice.to_dict()

    def recommend(self, task: Any, filters: dict[str, Any],
                  request: gr.Request | None = None) -> list[ModelRecommendation]:
        """Ranked models for a task text and loosely typed filters (checked here)."""
        started = time.perf_counter()
        session = _session(request)
        req, engine = self._request("recommend", task, session, filters=filters)
        try:
            recs = engine.recommend(req.text, filters=req.filters,
                                    k=req.filters.get("k", DEFAULT_K))
        except Exception as e:  # noqa: BLE001
            raise self._refuse("recommend", req.text, e, session) from e
        self._log("recommend", req.text, started, session, models=[r.model_id for r in recs],
                  answer_chars=sum(len(r.snippet) for r in recs))
        return recs

    def _explain(self, output: Any, model_id: str, request: gr.Request | None) -> Explanation:
        started = time.perf_counter()
        session = _session(request)
        req, engine = self._request("explain", output, session, model_id=model_id)
        try:
            expl = engine.explain_output(req)
        except Exception as e:  # noqa: BLE001
            raise self._refuse("explain", req.text, e, session) from e
        self._log("explain", req.text[: self.cfg.max_question_chars], started, session,
                  categories=expl.categories, models=[expl.model_id] if expl.model_id else [],
                  citations=len(expl.citations), answer_chars=len(expl.answer))
        return expl

    def explain_output(
        self, output: str, model_id: str = "", request: gr.Request | None = None
    ) -> tuple[str, dict]:
        expl = self._explain(output, model_id, request)
        return render.explanation_markdown(expl), dataclasses.asdict(expl)

    # UI wrappers ------------------------------------------------------------------------
    def find_models(
        self, task, pipeline_tag, language, licence, max_params, library, k, request: gr.Request
    ) -> tuple[pd.DataFrame, str, str, str]:
        """(ranked table, snippet of the top pick, notes, forum threads about the top pick)."""
        filters = {
            "task": pipeline_tag or None,
            "language": language or None,
            "license_family": licence,  # "any" means none (validate.parse_filters)
            "max_parameters": max_params or None,
            "library": library,
            "k": int(k or DEFAULT_K),
        }
        return render.find_results(self.recommend(task, filters, request))

    def explain_ui(self, output, model_id, request: gr.Request) -> str:
        return render.explanation_markdown(self._explain(output, model_id or "", request))

    def insights_view(self):
        df = self.qlog.dataframe()
        summary = render.insights_summary(
            len(df), insights.status_counts(df), self.qlog.pending, self.qlog.last_error)
        return (
            summary,
            insights.category_counts(df, freq="D"),
            insights.recurring_questions(df).astype({"last_asked": str}),
            insights.disliked_answers(df).astype({"ts": str}),
            insights.coverage_gaps(df),
            gr.DownloadButton(value=self.export_log()),
        )

    def export_log(self) -> str:
        """Write the log to a fresh temp CSV (what the download button serves)."""
        out = Path(tempfile.mkdtemp(prefix="advisor-log-")) / "reuse_advisor_querylog.csv"
        return str(self.qlog.export_csv(out))
