"""The engine's lifecycle in the app: load in the background, build a missing index.

:class:`EngineHolder` loads the engine (:class:`advisor.engine.Advisor`) in a
background thread, so building the demo never blocks; when the index is missing and
``cfg.auto_build`` is on it builds a quick index first (``cfg.auto_build_limit`` cards
per source), serves it, then builds the full index and swaps it in. With
``cfg.index_repo`` (``ADVISOR_INDEX_REPO``) it first downloads a prebuilt index from that
Hub dataset (:mod:`advisor.hub_index`); when that fails (unreachable, mismatched,
tampered) the status line says why and the steps above run as before. Until an engine
is ready every handler answers with the build status instead of failing. Parts of the
engine that did not load (``Advisor.load_notes``) stay in the status line.

This module holds no Gradio code: the layout polls :meth:`EngineHolder.status_markdown`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from advisor.app.process import trim_malloc
from advisor.config import Config
from advisor.errors import AdvisorError, IndexNotFoundError

log = logging.getLogger(__name__)

Factory = Callable[[Config], Any]


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
        self.load_notes: list[str] = []  # engine parts that did not load, and why

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
        self.load_notes = list(getattr(engine, "load_notes", None) or [])
        for note in self.load_notes:
            log.error("Engine part missing: %s", note)
        self._engine = engine
        if self.ready_seconds is None:
            self.ready_seconds = time.perf_counter() - self.started_at
        self.state, self.detail = "ready", ""
        trim_malloc()  # loading parsed ~45k JSON records: hand the freed heap back
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
        """The status line: a refused Hub index, missing engine parts, build progress."""
        lines = [f"⚠️ {self.notice}"] if self.notice and not self.fetched else []
        lines += [f"⚠️ {note}" for note in self.load_notes]
        text = self._status_text()
        return "\n\n".join(lines + ([text] if text else []))

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
