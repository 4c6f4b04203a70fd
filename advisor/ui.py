"""The Gradio app: tabs for beginners and maintainers, named API endpoints, MCP tools.

:func:`build_demo` returns a ``gr.Blocks`` with five tabs (Ask, Find a model, Explain
my output, Insights, Embed & API), a chat-only page at ``/widget`` for embedding, and
three named endpoints served to ``gradio_client`` and, with ``launch(mcp_server=True)``,
as MCP tools: ``/ask``, ``/recommend``, ``/explain_output``. UI event handlers are
private (not in the API docs, not MCP tools).

:class:`EngineHolder` loads the engine (:class:`advisor.engine.Advisor`) in a
background thread, so building the demo never blocks; when the index is missing and
``cfg.auto_build`` is on it builds a quick index first (``cfg.auto_build_limit`` cards
per source), serves it, then builds the full index and swaps it in. With
``cfg.index_repo`` (``ADVISOR_INDEX_REPO``) it first downloads a prebuilt index from that
Hub dataset (:mod:`advisor.hub_index`); when that fails (unreachable, mismatched,
tampered) the status line says why and the steps above run as before. Until an engine
is ready every handler answers with the build status instead of failing.

Every question, search and explanation is logged to :class:`advisor.querylog.QueryLog`
(refused ones too, with the reason); likes/dislikes in the chat update that row.

This module holds no retrieval or answering logic (the engine does) and no
aggregation logic (:mod:`advisor.insights`, :mod:`advisor.trends`).
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from advisor import insights, trends
from advisor.config import Config
from advisor.errors import AdvisorError, IndexNotFoundError, InvalidInputError
from advisor.querylog import QueryLog
from advisor.tasks import TASKS
from advisor.validate import RateLimiter, clean_output_text, clean_question, parse_filters

log = logging.getLogger(__name__)

TITLE = "Reuse Advisor"
DEFAULT_SPACE_URL = "https://<owner>-<space>.hf.space"  # replaced by the visitor's host
DEFAULT_WIDGET_PATH = "widget"
DEFAULT_CHAT_HEIGHT = 520  # px: room for an answer plus its sources on a laptop screen
DEFAULT_WIDGET_HEIGHT = 460  # px: fits a 600 px iframe with the input box
DEFAULT_K = 5  # models in the finder's table
LICENCE_CHOICES = ["any", "oss", "non-commercial", "unknown"]
LIBRARY_CHOICES = [
    "any",
    "transformers",
    "sentence-transformers",
    "diffusers",
    "timm",
    "peft",
    "gguf",
    "onnx",
]
EXAMPLE_QUESTIONS = [
    "Which model should I use for sentiment analysis of German product reviews?",
    "My classifier returns LABEL_0 and LABEL_1. What do they mean?",
    "OSError: Can't load tokenizer for 'my-model'. What am I doing wrong?",
    "CUDA out of memory when fine-tuning BERT on Colab. How do I fix it?",
    "How do I fine-tune a model on my own dataset?",
]
EXAMPLE_OUTPUTS = [
    ["[{'label': 'LABEL_1', 'score': 0.9731}]", "distilbert-base-uncased"],
    ["RuntimeError: CUDA out of memory. Tried to allocate 64.00 MiB", ""],
    [
        "ValueError: Unrecognized configuration class for this kind of AutoModel: "
        "AutoModelForSequenceClassification",
        "",
    ],
]
CSS = """
#advisor-header h1 {margin-bottom: 0.2em}
#category-panel {min-height: 8em}
.widget-page {max-width: 760px; margin: auto}
/* gr.Navbar(visible=False) is ignored by the 6.31 frontend; the widget page must not
   show a navbar, and the main page has nothing to navigate to */
.nav-holder {display: none !important}
"""

Factory = Callable[[Config], Any]


# --- engine lifecycle --------------------------------------------------------------
class _LastLogLine(logging.Handler):
    """Keeps the builder's latest log message, shown as build progress."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.line = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.line = record.getMessage()[:200]
        except Exception:  # noqa: BLE001 - a log line must never break the build
            pass


def _default_factory(cfg: Config) -> Any:
    from advisor.engine import Advisor

    return Advisor(cfg)


def _default_build(cfg: Config, limit: int | None) -> Any:
    from builder.pipeline import build

    return build(cfg, limit=limit)


class EngineHolder:
    """Load the engine lazily in a background thread; build a missing index first.

    Args:
        cfg: the app's settings (index_dir, auto_build, auto_build_limit).
        factory: ``cfg -> engine`` (default :class:`advisor.engine.Advisor`); tests
            pass a fake with the same methods.
        builder: ``(cfg, limit) -> anything`` building ``cfg.index_dir``.
    """

    def __init__(
        self,
        cfg: Config,
        factory: Factory | None = None,
        builder: Callable[[Config, int | None], Any] | None = None,
    ):
        self.cfg = cfg
        self._factory = factory or _default_factory
        self._builder = builder or _default_build
        self._engine: Any = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.state = "idle"  # idle | loading | building | ready | failed
        self.detail = ""
        self.error: str | None = None
        self.started_at = 0.0
        self.ready_seconds: float | None = None
        self._progress = _LastLogLine()
        self.notice = ""  # where the index came from, or why the Hub index was not used
        self.fetched = False  # True when the index came from cfg.index_repo

    def start(self) -> EngineHolder:
        """Start loading (once); returns immediately."""
        with self._lock:
            if self._thread is None:
                self.started_at = time.perf_counter()
                self._thread = threading.Thread(target=self._run, name="engine-load", daemon=True)
                self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the first engine is ready or loading failed; True when ready."""
        if self._thread is None:
            self.start()
        deadline = None if timeout is None else time.perf_counter() + timeout
        while self._engine is None and self.state != "failed":
            if deadline is not None and time.perf_counter() > deadline:
                return False
            time.sleep(0.05)
        return self._engine is not None

    def _load(self) -> None:
        self.state, self.detail = "loading", "Loading the index and the embedding model"
        engine = self._factory(self.cfg)
        if hasattr(type(engine), "parts"):  # the real Advisor loads lazily: load now
            engine.parts  # noqa: B018 - raises IndexNotFoundError when there is no index
        self._engine = engine
        if self.ready_seconds is None:
            self.ready_seconds = time.perf_counter() - self.started_at
        self.state, self.detail = "ready", ""
        log.info("Engine ready after %.1f s", self.ready_seconds)

    def _build(self, limit: int | None, label: str) -> None:
        builder_log = logging.getLogger("builder")
        builder_log.addHandler(self._progress)
        if builder_log.level in (logging.NOTSET,) or builder_log.level > logging.INFO:
            builder_log.setLevel(logging.INFO)
        try:
            if self._engine is None:
                self.state = "building"
            self.detail = label
            self._builder(self.cfg, limit)
        finally:
            builder_log.removeHandler(self._progress)

    def _fetch(self) -> None:
        """Download the index from ``cfg.index_repo``; on failure set ``notice`` and let
        :meth:`_run` fall back to the local index or the auto-build."""
        from advisor.hub_index import fetch_index

        where = f"{self.cfg.index_repo}@{self.cfg.index_revision or 'main'}"
        self.state, self.detail = "loading", f"Downloading the index from dataset {where}"
        try:
            self.notice = fetch_index(self.cfg).status_line()
            self.fetched = True
        except AdvisorError as e:
            fallback = "the local index" if (Path(self.cfg.index_dir) / "manifest.json").exists() \
                else "a locally built index" if self.cfg.auto_build else "no index"
            self.notice = f"Could not use the index from dataset {where}: {e} Using {fallback}."
            log.warning("%s", self.notice)
        self.detail = ""

    def _run(self) -> None:
        try:
            if self.cfg.index_repo:
                self._fetch()
            try:
                self._load()
                return
            except IndexNotFoundError as e:
                if not self.cfg.auto_build:
                    raise
                log.warning("%s Building it now (auto_build).", e)
            limit = self.cfg.auto_build_limit
            self._build(limit, f"Building a quick index ({limit or 'all'} cards per source)")
            self._load()
            if limit is not None:  # now the full build, served when done
                self._build(None, "Building the full index in the background")
                self._load()
        except Exception as e:  # noqa: BLE001 - shown in the UI instead of crashing
            self.error = f"{type(e).__name__}: {e}"
            log.exception("Engine failed to start")
            if self._engine is None:
                self.state = "failed"
            else:  # the full build failed; the quick index keeps serving
                self.state, self.detail = "ready", f"Full build failed: {self.error}"

    @property
    def ready(self) -> bool:
        return self._engine is not None

    def get(self) -> Any:
        """The engine, or an error saying why there is none yet.

        Raises:
            IndexNotFoundError: still loading/building (retry later) or failed.
        """
        if self._engine is not None:
            return self._engine
        self.start()
        if self.state == "failed":
            raise IndexNotFoundError(
                f"The advisor could not start: {self.error}. Build the index with "
                f"`python -m builder build --index-dir {self.cfg.index_dir}` and restart."
            )
        elapsed = time.perf_counter() - self.started_at
        raise IndexNotFoundError(
            f"The advisor is starting ({self.detail or self.state}, {elapsed:.0f} s so far). "
            "Please try again in a minute."
        )

    def status_markdown(self) -> str:
        text = self._status_text()
        if self.notice and not self.fetched:  # the Hub index was refused: say so
            return f"⚠️ {self.notice}" + (f"\n\n{text}" if text else "")
        return text

    def _status_text(self) -> str:
        elapsed = time.perf_counter() - self.started_at if self.started_at else 0.0
        if self.state == "ready" and not self.detail:
            return ""
        if self.state == "ready":
            return f"ℹ️ Ready. {self.detail} ({elapsed:.0f} s). _{self._progress.line}_"
        if self.state == "failed":
            return f"❌ The advisor could not start: {self.error}"
        step = f" Last step: _{self._progress.line}_" if self._progress.line else ""
        return f"⏳ {self.detail or 'Starting'}… ({elapsed:.0f} s).{step}"


# --- rendering helpers ---------------------------------------------------------------
def _as_dict(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return dataclasses.asdict(obj)


def citations_markdown(citations: list[Any]) -> str:
    """Numbered markdown links, one per citation, with its kind."""
    lines = []
    for i, c in enumerate(citations, 1):
        title = (c.title or c.id).replace("[", "(").replace("]", ")")
        link = f"[{title}]({c.url})" if c.url else title
        lines.append(f"{i}. {link} · _{c.kind}_")
    return "\n".join(lines) or "_No sources._"


SOURCES_HEADING = "### Sources"
INTENT_LABELS = {
    "challenge": "a question about a problem",
    "recommend": "a request for a model",
    "explain": "an output or error to explain",
}


def split_sources(answer: str, citations: list[Any]) -> tuple[str, str]:
    """(answer without its Sources section, the sources as a numbered link list).

    The composer ends its answers with a ``### Sources`` section; the chat shows it in
    a collapsible message instead. Without one, the list is built from ``citations``."""
    head, sep, tail = answer.partition("\n" + SOURCES_HEADING)
    if not sep and answer.startswith(SOURCES_HEADING):
        head, sep, tail = "", SOURCES_HEADING, answer[len(SOURCES_HEADING) :]
    if sep:
        body = tail.split("\n### ", 1)  # anything after the sources stays in the answer
        rest = "\n### " + body[1] if len(body) > 1 else ""
        return (head.rstrip() + rest).strip(), body[0].strip()
    return answer, citations_markdown(citations) if citations else ""


def with_sources(answer: str, citations: list[Any]) -> str:
    """The answer with a Sources section (added only when it has none)."""
    if SOURCES_HEADING in answer or not citations:
        return answer
    return f"{answer}\n\n{SOURCES_HEADING}\n{citations_markdown(citations)}"


def category_markdown(advice: Any) -> str:
    """The detected challenge category, its confidence and the runners-up."""
    cats = list(advice.categories or [])
    if not cats:
        return "**Detected challenge:** none"
    top = cats[0]
    sub = f" › {top.subcategory}" if top.subcategory else ""
    unsure = " — _unsure, see the alternatives_" if advice.unsure else ""
    intent = INTENT_LABELS.get(getattr(advice, "intent", ""), "")
    lines = [f"**Understood as:** {intent}"] if intent else []
    lines += [
        f"**Detected challenge:** {top.category}{sub}",
        f"**Confidence:** {advice.confidence:.0%}{unsure}",
    ]
    if len(cats) > 1:
        lines.append(
            "Also possible: " + ", ".join(f"{c.category} ({c.score:.0%})" for c in cats[1:3])
        )
    lines.append(
        "<sub>Categories are the SANER 2024 study's challenge taxonomy; the label is "
        "derived by a classifier.</sub>"
    )
    return "\n\n".join(lines)


FIND_WIDTHS = ["22%", "12%", "8%", "6%", "8%", "7%", "7%", "14%", "16%"]
RECOMMEND_COLUMNS = [
    "Model",
    "Task",
    "Downloads",
    "Likes",
    "Licence",
    "Params",
    "Card quality",
    "Missing card sections",
    "Watch out",
]


def _params(n: int | None) -> str:
    if not n:
        return "?"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


DEFAULT_WARNING_CHARS = 70  # one table line; the top pick's warnings are shown in full


def _short_warnings(warnings: list[str]) -> str:
    if not warnings:
        return ""
    first = warnings[0]
    if len(first) > DEFAULT_WARNING_CHARS:
        first = first[: DEFAULT_WARNING_CHARS - 1].rstrip() + "…"
    more = f" (+{len(warnings) - 1} more)" if len(warnings) > 1 else ""
    return f"⚠️ {first}{more}"


def recommendations_frame(recs: list[Any]) -> pd.DataFrame:
    rows = [
        [
            f"[{r.model_id}]({r.url or f'https://huggingface.co/{r.model_id}'})",
            r.pipeline_tag or "",
            r.downloads,
            r.likes,
            r.license or r.license_family or "unknown",
            _params(r.parameters),
            f"{r.card_quality:.0%}",
            ", ".join(r.missing_sections),
            _short_warnings(r.warnings),
        ]
        for r in recs
    ]
    return pd.DataFrame(rows, columns=RECOMMEND_COLUMNS)


def _history_for_engine(history: list[Any]) -> list[dict[str, str]]:
    """Chat messages as ``{"role", "content"}`` text dicts, without source panels."""
    out = []
    for m in history or []:
        m = m if isinstance(m, dict) else dataclasses.asdict(m)
        if (m.get("metadata") or {}).get("title"):
            continue
        content = m.get("content")
        if isinstance(content, list):  # gradio 6 structured content
            content = " ".join(
                c.get("text", "") if isinstance(c, dict) else str(c) for c in content
            )
        if isinstance(content, str) and content.strip():
            out.append({"role": m.get("role", "user"), "content": content})
    return out


# --- the app -------------------------------------------------------------------------
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

    # shared guard: validation, rate limit, refusal logging -----------------------
    def _refuse(self, kind: str, text: Any, e: Exception, session: str | None) -> gr.Error:
        status = "refused" if isinstance(e, (InvalidInputError, AdvisorError)) else "error"
        if isinstance(e, IndexNotFoundError):
            status = "refused"
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

    @staticmethod
    def _session(request: gr.Request | None) -> str | None:
        return getattr(request, "session_hash", None) if request is not None else None

    def _log_advice(self, advice: Any, session: str | None, latency_ms: float) -> int:
        top = advice.categories[0] if advice.categories else None
        return self.qlog.record(
            advice.question,
            kind="ask",
            intent=advice.intent,
            category=top.category if top else None,
            subcategory=top.subcategory if top else None,
            confidence=advice.confidence,
            unsure=advice.unsure,
            models=[m.model_id for m in advice.models],
            citations=len(advice.citations),
            answer_chars=len(advice.answer),
            latency_ms=latency_ms,
            session=session,
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
        session = self._session(request)
        rows = dict(rows or {})
        history = list(history or [])
        started = time.perf_counter()
        try:
            question = clean_question(message, self.cfg)
            self.limiter.check(session or "anonymous")
            engine = self.holder.get()
        except Exception as e:  # noqa: BLE001 - refused: logged and shown
            raise self._refuse("ask", message, e, session) from e
        prior = _history_for_engine(history)
        history.append({"role": "user", "content": question})
        history.append({"role": "assistant", "content": ""})
        panel = "_Thinking…_"
        yield history, "", panel, rows
        advice = None
        try:
            for partial, final in engine.stream(question, history=prior):
                history[-1] = {"role": "assistant", "content": partial}
                if final is not None:
                    advice = final
                yield history, "", panel, rows
        except Exception as e:  # noqa: BLE001
            raise self._refuse("ask", question, e, session) from e
        if advice is None:
            return
        latency = (time.perf_counter() - started) * 1000
        body, sources = split_sources(advice.answer, advice.citations)
        history[-1] = {"role": "assistant", "content": body}
        row_id = self._log_advice(advice, session, latency)
        rows[str(len(history) - 1)] = row_id
        if sources:
            history.append(
                {
                    "role": "assistant",
                    "content": sources,
                    "metadata": {"title": f"📚 Sources ({len(advice.citations)})"},
                }
            )
            rows[str(len(history) - 1)] = row_id
        yield history, "", category_markdown(advice), rows

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

    # API endpoints (also MCP tools) ---------------------------------------------------
    def ask(self, question: str, request: gr.Request | None = None) -> tuple[str, dict]:
        started = time.perf_counter()
        session = self._session(request)
        try:
            q = clean_question(question, self.cfg)
            self.limiter.check(session or "anonymous")
            advice = self.holder.get().advise(q)
        except Exception as e:  # noqa: BLE001
            raise self._refuse("ask", question, e, session) from e
        latency = (time.perf_counter() - started) * 1000
        self._log_advice(advice, session, latency)
        return with_sources(advice.answer, advice.citations), _as_dict(advice)

    def recommend(
        self,
        task: str,
        pipeline_tag: str = "",
        language: str = "",
        license_family: str = "",
        max_parameters: str = "",
        library: str = "",
        k: int = DEFAULT_K,
        request: gr.Request | None = None,
    ) -> list[dict]:
        started = time.perf_counter()
        session = self._session(request)
        raw = {
            "task": pipeline_tag or None,
            "language": language or None,
            "license_family": license_family or None,
            "max_parameters": max_parameters or None,
            "library": library or None,
            "k": k,
        }
        try:
            text = clean_question(task, self.cfg)
            filters = parse_filters(raw).as_dict()
            self.limiter.check(session or "anonymous")
            recs = self.holder.get().recommend(text, filters=filters, k=filters.get("k", DEFAULT_K))
        except Exception as e:  # noqa: BLE001
            raise self._refuse("recommend", task, e, session) from e
        self.qlog.record(
            text,
            kind="recommend",
            intent="recommend",
            models=[r.model_id for r in recs],
            answer_chars=sum(len(r.snippet) for r in recs),
            latency_ms=(time.perf_counter() - started) * 1000,
            session=session,
        )
        return [_as_dict(r) for r in recs]

    def explain_output(
        self, output: str, model_id: str = "", request: gr.Request | None = None
    ) -> tuple[str, dict]:
        started = time.perf_counter()
        session = self._session(request)
        try:
            text = clean_output_text(output, self.cfg)
            self.limiter.check(session or "anonymous")
            expl = self.holder.get().explain_output(text, model_id=(model_id or "").strip() or None)
        except Exception as e:  # noqa: BLE001
            raise self._refuse("explain", output, e, session) from e
        top = expl.categories[0] if expl.categories else None
        self.qlog.record(
            text[: self.cfg.max_question_chars],
            kind="explain",
            intent="explain",
            category=top.category if top else None,
            subcategory=top.subcategory if top else None,
            confidence=top.score if top else None,
            models=[expl.model_id] if expl.model_id else [],
            citations=len(expl.citations),
            answer_chars=len(expl.answer),
            latency_ms=(time.perf_counter() - started) * 1000,
            session=session,
        )
        return with_sources(expl.answer, expl.citations), _as_dict(expl)

    # UI wrappers ------------------------------------------------------------------------
    def find_models(
        self, task, pipeline_tag, language, licence, max_params, library, k, request: gr.Request
    ) -> tuple[pd.DataFrame, str, str, str]:
        """(ranked table, snippet of the top pick, notes, forum threads about the top pick)."""
        recs = self.recommend(
            task,
            pipeline_tag=pipeline_tag or "",
            language=language or "",
            license_family="" if licence in (None, "any") else licence,
            max_parameters=max_params or "",
            library="" if library in (None, "any") else library,
            k=int(k or DEFAULT_K),
            request=request,
        )
        if not recs:
            return (
                pd.DataFrame(columns=RECOMMEND_COLUMNS),
                "",
                "No model matches these filters. Loosen the licence, size or language.",
                "",
            )
        objs = [_rec_proxy(r) for r in recs]
        top = objs[0]
        notes = f"**Top pick:** [{top.model_id}]({top.url}) — copy the snippet below to try it."
        if top.warnings:
            notes += "\n\n" + "\n".join(f"- ⚠️ {w}" for w in top.warnings)
        forum = "\n".join(f"- {m}" for m in top.thread_mentions[:5]) or "_No forum threads._"
        return recommendations_frame(objs), top.snippet, notes, forum

    def explain_ui(self, output, model_id, request: gr.Request) -> str:
        return self.explain_output(output, model_id or "", request=request)[0]

    def insights_view(self):
        df = self.qlog.dataframe()
        counts = insights.status_counts(df)
        summary = (
            f"**{len(df)}** logged queries: {counts['answered']} answered, "
            f"{counts['refused']} refused, {counts['error']} errors; "
            f"👍 {counts['likes']} · 👎 {counts['dislikes']}."
        )
        if self.qlog.pending or self.qlog.last_error:
            summary += f"\n\n⚠️ {self.qlog.last_error or ''} ({self.qlog.pending} pending)"
        per_day = insights.category_counts(df, freq="D")
        return (
            summary,
            per_day,
            insights.recurring_questions(df).astype({"last_asked": str}),
            insights.disliked_answers(df).astype({"ts": str}),
            insights.coverage_gaps(df),
            gr.DownloadButton(value=self.export_log()),
        )

    def export_log(self) -> str:
        """Write the log to a fresh temp CSV (what the download button serves)."""
        out = Path(tempfile.mkdtemp(prefix="advisor-log-")) / "reuse_advisor_querylog.csv"
        return str(self.qlog.export_csv(out))


def _rec_proxy(d: dict) -> Any:
    from advisor.types import ModelRecommendation

    fields = {f.name for f in dataclasses.fields(ModelRecommendation)}
    return ModelRecommendation(**{k: v for k, v in d.items() if k in fields})


def _api_functions(app: AdvisorApp) -> list[Callable]:
    """Plain functions with the names, hints and docstrings that the API docs and the
    MCP tool list show (gradio reads ``__name__``, type hints and ``Args:``)."""

    def ask(question: str, request: gr.Request = None) -> tuple[str, dict]:  # type: ignore[assignment]
        """Answer a beginner's question about reusing a pre-trained Hugging Face model.

        Names the challenge category of the SANER 2024 taxonomy, the usual causes, the
        steps to try, recommended models when relevant, and cites the forum threads,
        model cards and taxonomy entries used.

        Args:
            question: the question in plain words, e.g. "Which model should I use for German sentiment analysis?" or "My classifier returns LABEL_1, what does it mean?"

        Returns:
            The answer as markdown (with a Sources list) and the structured advice (categories, confidence, models, citations).
        """
        return app.ask(question, request=request)

    def recommend(
        task: str,
        pipeline_tag: str = "",
        language: str = "",
        license_family: str = "",
        max_parameters: str = "",
        library: str = "",
        k: int = DEFAULT_K,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> list[dict]:
        """Recommend Hugging Face Hub models for a task, ranked by fit, popularity and card quality.

        Args:
            task: what the model should do, in plain words, e.g. "small model for Spanish named entity recognition on CPU".
            pipeline_tag: optional Hub task tag, e.g. "text-classification"; empty to infer it from the text.
            language: optional language code, e.g. "de".
            license_family: optional licence filter: "oss", "non-commercial", "unknown", or empty for any.
            max_parameters: optional size limit such as "350M" or "7B"; empty for none.
            library: optional library, e.g. "transformers" or "sentence-transformers".
            k: how many models to return (1-50).

        Returns:
            A list of models, best first, each with downloads, likes, licence, card quality, missing card sections and a ready-to-run snippet.
        """
        return app.recommend(
            task, pipeline_tag, language, license_family, max_parameters, library, k, request
        )

    def explain_output(
        output: str, model_id: str = "", request: gr.Request = None
    ) -> tuple[str, dict]:  # type: ignore[assignment]
        """Explain a model output or error message a beginner pasted.

        Recognises label ids (LABEL_0/LABEL_1), logits, scores, garbled generations and
        common errors (out of memory, shape mismatch, missing tokenizer) and says what
        they mean and what to do, with citations.

        Args:
            output: the pasted output or traceback, e.g. "[{'label': 'LABEL_1', 'score': 0.97}]".
            model_id: optional Hub model id that produced it, e.g. "distilbert-base-uncased-finetuned-sst-2-english", to read its label map.

        Returns:
            The explanation as markdown and the structured explanation (detected kinds, label map, citations).
        """
        return app.explain_output(output, model_id, request=request)

    return [ask, recommend, explain_output]


# --- layout ---------------------------------------------------------------------------
def _example_text(data: gr.SelectData) -> str:
    """The clicked example question (chatbot examples are ``{"text": ...}``)."""
    value = data.value
    return value.get("text", "") if isinstance(value, dict) else str(value)


def _chat_panel(app: AdvisorApp, compact: bool) -> None:
    """The chat: a chatbot with thumbs, an input, examples; streams via app.respond."""
    rows = gr.State({})
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(
                label="Reuse Advisor",
                height=DEFAULT_WIDGET_HEIGHT if compact else DEFAULT_CHAT_HEIGHT,
                feedback_options=("Like", "Dislike"),
                buttons=["copy"],
                placeholder=(
                    "**Ask about reusing a pre-trained model.** Which model to pick, what an "
                    "output means, why loading or fine-tuning fails."
                ),
                examples=[{"text": q} for q in EXAMPLE_QUESTIONS[: 3 if compact else 5]],
                elem_id="widget-chat" if compact else "ask-chat",
                layout="bubble",
            )
            with gr.Row():
                box = gr.Textbox(
                    placeholder="Type your question and press Enter",
                    show_label=False,
                    scale=5,
                    autofocus=not compact,
                    elem_id="widget-input" if compact else "ask-input",
                )
                send = gr.Button("Send", variant="primary", scale=1, min_width=80)
            feedback_note = gr.Markdown("", elem_id="feedback-note")
        with gr.Column(scale=1, min_width=220, visible=not compact):
            panel = gr.Markdown(
                "_The detected challenge category appears here._", elem_id="category-panel"
            )
    outputs = [chatbot, box, panel, rows]
    common = {"api_visibility": "private", "show_progress": "minimal"}
    box.submit(app.respond, [box, chatbot, rows], outputs, **common)
    send.click(app.respond, [box, chatbot, rows], outputs, **common)
    chatbot.example_select(_example_text, None, box, api_visibility="private", queue=False).then(
        app.respond, [box, chatbot, rows], outputs, **common
    )
    chatbot.like(app.on_like, rows, feedback_note, api_visibility="private")


def _embed_snippets(base: str) -> str:
    widget = f"{base.rstrip('/')}/{DEFAULT_WIDGET_PATH}"
    return f"""
### Embed the advisor in your page

**Web component** (loads the full app; see Gradio's embedding guide):
```html
<script type="module" src="https://gradio.s3-us-west-2.amazonaws.com/{gr.__version__}/gradio.js"></script>
<gradio-app src="{base}" initial_height="640px"></gradio-app>
```

**Compact chat widget** (chat only) in an iframe:
```html
<iframe src="{widget}" width="100%" height="600" style="border:0" title="Reuse Advisor"></iframe>
```
Open [{widget}]({widget}) to see it.

### Call it from Python (`pip install gradio_client`)
```python
from gradio_client import Client

client = Client("{base}")
answer, advice = client.predict("Which model for German sentiment analysis?", api_name="/ask")
print(advice["categories"][0]["category"], [c["url"] for c in advice["citations"]])

models = client.predict("small model for Spanish NER on CPU", "", "es", "oss", "500M", "", 5,
                        api_name="/recommend")
print(models[0]["model_id"], models[0]["snippet"])

text, explanation = client.predict("[{{'label': 'LABEL_1', 'score': 0.97}}]", "",
                                   api_name="/explain_output")
```

### Use it as MCP tools
The same three functions are MCP tools at `{base.rstrip("/")}/gradio_api/mcp/` (streamable HTTP):
```json
{{"mcpServers": {{"reuse-advisor": {{"url": "{base.rstrip("/")}/gradio_api/mcp/"}}}}}}
```
"""


def _base_url(request: gr.Request | None) -> str:
    if request is None:
        return DEFAULT_SPACE_URL
    headers = getattr(request, "headers", {}) or {}
    host = headers.get("x-forwarded-host") or headers.get("host")
    if not host:
        return DEFAULT_SPACE_URL
    proto = headers.get("x-forwarded-proto") or (
        "http" if host.startswith(("127.", "localhost")) else "https"
    )
    return f"{proto}://{host}"


def _trend_plots(cfg: Config) -> None:
    """The study's trend tables as plots, read from the corpus now."""
    if not trends.corpus_available(cfg.corpus_dir):
        gr.Markdown(
            f"ℹ️ The study's trend tables are not available: no corpus at "
            f"`{cfg.corpus_dir}`. Set `ADVISOR_CORPUS_DIR` to the corpus snapshot to see them."
        )
        return
    try:
        counts = trends.category_counts(cfg.corpus_dir)
        mentions = trends.forum_model_mentions(cfg.corpus_dir)
        types = trends.hub_model_types(cfg.corpus_dir)
        ratio = trends.card_ratio(cfg.corpus_dir)
    except Exception as e:  # noqa: BLE001 - the rest of the tab still works
        gr.Markdown(f"⚠️ Could not read the study's trend tables: {e}")
        return
    with gr.Row():
        gr.BarPlot(
            counts[counts["kind"] == "challenge"],
            x="category",
            y="codes",
            title="Challenge codes per category (codebook Overview)",
            x_label_angle=-45,
            height=360,
            sort="-y",
        )
        gr.LinePlot(
            ratio,
            x="month",
            y="card_ratio",
            title="Share of new Hub models with a card",
            height=360,
        )
    with gr.Row():
        gr.LinePlot(
            mentions,
            x="month",
            y="topics",
            color="model",
            title="Forum topics mentioning a model family (top 8)",
            height=360,
        )
        gr.LinePlot(
            types,
            x="month",
            y="models",
            color="model_type",
            title="Hub models created per month by type (top 8)",
            height=360,
        )


def build_demo(
    cfg: Config,
    advisor_factory: Factory | None = None,
    querylog: QueryLog | None = None,
    builder: Callable[[Config, int | None], Any] | None = None,
    start: bool = True,
) -> gr.Blocks:
    """Build the app; with ``start`` the engine starts loading in the background.

    The returned Blocks carries ``demo.advisor_app`` (the :class:`AdvisorApp`)."""
    holder = EngineHolder(cfg, factory=advisor_factory, builder=builder)
    app = AdvisorApp(cfg, holder=holder, querylog=querylog)
    api_fns = _api_functions(app)

    with gr.Blocks(title=TITLE, fill_width=False) as demo:
        gr.Navbar(visible=False)
        gr.Markdown(
            f"# 🧭 {TITLE}\nGrounded help for reusing pre-trained models from the Hugging "
            "Face Hub, built on the SANER 2024 study of 455 forum threads, its challenge "
            "taxonomy and thousands of model cards. Answers cite their sources.",
            elem_id="advisor-header",
        )
        status = gr.Markdown(holder.status_markdown(), elem_id="build-status")
        timer = gr.Timer(2.0)
        timer.tick(
            lambda: (
                holder.status_markdown(),
                gr.Timer(active=not holder.ready or bool(holder.detail)),
            ),
            None,
            [status, timer],
            api_visibility="private",
            queue=False,
        )
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                _chat_panel(app, compact=False)
            with gr.Tab("Find a model", id="find"):
                with gr.Row():
                    with gr.Column(scale=2):
                        task_text = gr.Textbox(
                            label="What should the model do?",
                            placeholder="e.g. classify customer e-mails in German by topic, runs on CPU",
                            lines=2,
                            elem_id="find-task",
                        )
                    with gr.Column(scale=1):
                        tag = gr.Dropdown(
                            choices=[("infer from my text", "")]
                            + [(t.title, t.tag) for t in TASKS.values()],
                            value="",
                            label="Task",
                        )
                with gr.Row():
                    lang = gr.Textbox(label="Language code", placeholder="e.g. de", max_lines=1)
                    lic = gr.Dropdown(LICENCE_CHOICES, value="any", label="Licence family")
                    size = gr.Textbox(
                        label="Max parameters", placeholder="e.g. 350M or 7B", max_lines=1
                    )
                    lib = gr.Dropdown(LIBRARY_CHOICES, value="any", label="Library")
                    k = gr.Slider(1, 20, value=DEFAULT_K, step=1, label="How many")
                find_btn = gr.Button("Find models", variant="primary")
                find_notes = gr.Markdown()
                with gr.Accordion("What people struggled with (forum threads)", open=False):
                    forum_md = gr.Markdown()
                table = gr.Dataframe(
                    headers=RECOMMEND_COLUMNS,
                    datatype=[
                        "markdown",
                        "str",
                        "number",
                        "number",
                        "str",
                        "str",
                        "str",
                        "str",
                        "str",
                    ],
                    interactive=False,
                    wrap=True,
                    column_widths=FIND_WIDTHS,
                    label="Ranked models",
                    elem_id="find-table",
                )
                snippet = gr.Code(label="Try the top pick", language="python", interactive=False)
                gr.Examples(
                    [
                        ["sentiment of German product reviews"],
                        ["small named entity recognition model for Spanish, commercial use"],
                        ["sentence embeddings for semantic search on CPU"],
                    ],
                    [task_text],
                )
                find_inputs = [task_text, tag, lang, lic, size, lib, k]
                for trigger in (find_btn.click, task_text.submit):
                    trigger(
                        app.find_models,
                        find_inputs,
                        [table, snippet, find_notes, forum_md],
                        api_visibility="private",
                    )
            with gr.Tab("Explain my output", id="explain"):
                with gr.Row():
                    out_text = gr.Textbox(
                        label="Paste the output or error",
                        lines=8,
                        placeholder="[{'label': 'LABEL_1', 'score': 0.97}]  or a traceback",
                        elem_id="explain-text",
                        scale=3,
                    )
                    with gr.Column(scale=1):
                        model_id = gr.Textbox(
                            label="Model id (optional)", placeholder="owner/name", max_lines=1
                        )
                        explain_btn = gr.Button("Explain", variant="primary")
                explanation = gr.Markdown(elem_id="explain-answer")
                gr.Examples(EXAMPLE_OUTPUTS, [out_text, model_id])
                explain_btn.click(
                    app.explain_ui, [out_text, model_id], explanation, api_visibility="private"
                )
            with gr.Tab("Insights", id="insights") as insights_tab:
                gr.Markdown(
                    "For maintainers: what people ask, what the advisor answers badly, and "
                    "what to add. Built from the query log (no identities, salted session "
                    "hashes only)."
                )
                with gr.Row():
                    refresh = gr.Button("Refresh", variant="primary", elem_id="insights-refresh")
                    export = gr.DownloadButton("Download the log (CSV)", elem_id="insights-export")
                summary = gr.Markdown(elem_id="insights-summary")
                per_cat = gr.BarPlot(
                    x="period",
                    y="questions",
                    color="category",
                    title="Questions per challenge category per day",
                    height=320,
                )
                gr.Markdown("#### Recurring questions")
                recurring = gr.Dataframe(
                    wrap=True,
                    interactive=False,
                    elem_id="insights-recurring",
                    column_widths=["30%", "7%", "17%", "8%", "14%", "24%"],
                )
                gr.Markdown("#### Coverage gaps (low confidence, unsure or disliked) and fixes")
                gaps = gr.Dataframe(
                    wrap=True,
                    interactive=False,
                    elem_id="insights-gaps",
                    column_widths=["16%", "9%", "8%", "10%", "27%", "30%"],
                )
                gr.Markdown("#### Disliked answers")
                disliked = gr.Dataframe(
                    wrap=True,
                    interactive=False,
                    elem_id="insights-disliked",
                    column_widths=["15%", "35%", "18%", "10%", "14%", "8%"],
                )
                gr.Markdown("### The study's trends (SANER 2024 replication tables)")
                _trend_plots(cfg)
                views = [summary, per_cat, recurring, disliked, gaps, export]
                refresh.click(app.insights_view, None, views, api_visibility="private")
            insights_tab.select(app.insights_view, None, views, api_visibility="private")
            with gr.Tab("Embed & API", id="embed") as embed_tab:
                embed_md = gr.Markdown(_embed_snippets(DEFAULT_SPACE_URL), elem_id="embed-snippets")

        def _fill_snippets(request: gr.Request) -> str:
            return _embed_snippets(_base_url(request))

        embed_tab.select(_fill_snippets, None, embed_md, api_visibility="private", queue=False)
        demo.load(_fill_snippets, None, embed_md, api_visibility="private", queue=False)
        demo.load(holder.status_markdown, None, status, api_visibility="private", queue=False)

        for fn in api_fns:
            gr.api(fn, api_name=fn.__name__, concurrency_id="engine")

    with demo.route("Widget", f"/{DEFAULT_WIDGET_PATH}", show_in_navbar=False):
        gr.Navbar(visible=False)
        with gr.Column(elem_classes=["widget-page"]):
            _chat_panel(app, compact=True)

    demo.advisor_app = app  # type: ignore[attr-defined]
    if start:
        holder.start()
    return demo


def launch_kwargs(cfg: Config) -> dict[str, Any]:
    """Arguments for ``demo.launch`` besides host/port (kept here with the layout)."""
    return {
        "mcp_server": True,
        "css": CSS,
        "theme": gr.themes.Soft(),
        "footer_links": ["api", "gradio"],
    }
