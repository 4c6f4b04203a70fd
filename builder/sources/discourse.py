"""Fetch each coded thread's real title and first post from the forum (``--fetch-threads``).

The study coded 455 threads of discuss.huggingface.co but kept only its codes, so offline
a thread is cited by number and code. With ``python -m builder build --fetch-threads``
this module asks the forum's public Discourse JSON API, ``GET {base}/t/{topic_id}.json``
(``base``: ``cfg.discourse_url`` / ``ADVISOR_DISCOURSE_URL``), for every coded thread and
fills :attr:`ThreadInfo.title` and :attr:`ThreadInfo.first_post` (the first post's
``cooked`` HTML reduced to plain text by :func:`html_to_text`, capped at
:data:`MAX_FIRST_POST_CHARS`).

Politeness and robustness:

- **Cache:** one JSON file per topic under ``cfg.cache_dir/discourse/<host>/<id>.json``
  holding the trimmed response (title + first post only). A cached topic is never fetched
  again; delete the folder to refresh. Failures (404, 5xx, bad JSON) are not cached, so
  the next build asks again.
- **Rate limit:** at most ``cfg.discourse_rate`` requests per second (every attempt,
  retries included). An HTTP 429 waits for its ``Retry-After`` (seconds or an HTTP
  date, capped at :data:`MAX_RETRY_AFTER`); 429, 5xx and transport errors are retried
  at most :data:`DEFAULT_MAX_RETRIES` times with exponential backoff.
- **Never fatal:** each topic's failure is a counted skip in the ``discourse``
  :class:`~builder.report.SourceReport` (``http_404``, ``http_500``, ``bad_json``,
  ``unexpected_json``, ``timeout``, ``transport_error``, ``unreachable``), and that
  thread keeps its coded text. If the server cannot be reached at all (no connection
  before any topic succeeded, after the retries), or :data:`MAX_CONSECUTIVE_FAILURES` topics in a row fail, one
  warning is logged and the rest of the build is offline: remaining threads use the
  cache where it has them and are counted as ``offline`` otherwise. ``from_cache`` and
  ``fetched`` in the report's reasons count the successes by origin.

This module does not decide whether to fetch (the pipeline does, from
``cfg.fetch_threads``) and does not build documents (:mod:`builder.documents`).
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from advisor.config import Config
from advisor.types import ThreadInfo
from builder.report import SourceReport

log = logging.getLogger(__name__)

MAX_FIRST_POST_CHARS = 1500  # ~300 words: the question, not the whole wall of logs
MAX_TITLE_CHARS = 300  # Discourse's own max_topic_title_length default is 255
DEFAULT_MAX_RETRIES = 3  # per topic, for 429, 5xx and transport errors
DEFAULT_BACKOFF = 0.5  # seconds; doubled per retry (0.5, 1, 2) when no Retry-After
MAX_BACKOFF = 30.0  # seconds, cap of the exponential backoff
MAX_RETRY_AFTER = 60.0  # seconds; a longer Retry-After is cut to this
MAX_CONSECUTIVE_FAILURES = 5  # topics in a row failing -> the forum is down: go offline
USER_AGENT = "reuse-advisor-builder (coded-thread titles; cached, rate-limited)"

# Elements whose text is not post content: Discourse's image "meta" box (filename and
# "1920×1080 100 KB"), inline SVG icons, scripts and styles.
_SKIP_TAGS = {"script", "style", "svg", "noscript"}
_SKIP_CLASSES = {"meta"}
_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
              "source", "track", "wbr"}
# Inline elements join their text to the neighbours ("<b>Auto</b>Model" -> "AutoModel");
# every other tag is a word boundary.
_INLINE_TAGS = {"a", "abbr", "b", "code", "del", "em", "i", "ins", "kbd", "mark", "s",
                "small", "span", "strong", "sub", "sup", "u"}
_SPACE = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    """Collect text, dropping tags; block boundaries become spaces."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities unescaped in handle_data
        self.parts: list[str] = []
        self._skip_depth = 0  # >0 while inside a skipped element

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            self.parts.append(" ")
            return
        if self._skip_depth:
            self._skip_depth += 1
            return
        classes = set((dict(attrs).get("class") or "").split())
        if tag in _SKIP_TAGS or classes & _SKIP_CLASSES:
            self._skip_depth = 1
            return
        if tag not in _INLINE_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_TAGS:
            return
        if self._skip_depth:
            self._skip_depth -= 1
            return
        if tag not in _INLINE_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if text[len(cut)] != " " and space > limit * 0.8:  # end on a word boundary if near
        cut = cut[:space]
    return cut.rstrip() + "…"


def html_to_text(html: str, limit: int = MAX_FIRST_POST_CHARS) -> str:
    """Discourse ``cooked`` HTML -> one line of plain text of at most ``limit`` chars.

    Tags are stripped (image meta boxes, SVG, scripts and styles with their text),
    entities unescaped, whitespace collapsed; a longer text is cut at a word boundary
    and ends with "…".
    """
    parser = _TextExtractor()
    parser.feed(html or "")
    parser.close()
    return _cap(_SPACE.sub(" ", "".join(parser.parts)).strip(), limit)


@dataclass(frozen=True)
class TopicText:
    """What the forum says about one topic: its title and first post (plain text)."""

    title: str
    first_post: str


def parse_topic(data: Any) -> TopicText:
    """Title and first post of a ``/t/{id}.json`` response (or its cached trim).

    Raises ``ValueError`` when the JSON lacks a string ``title`` or a first post with
    ``cooked`` HTML.
    """
    if not isinstance(data, dict) or not isinstance(data.get("title"), str):
        raise ValueError("no string 'title'")
    posts = (data.get("post_stream") or {}).get("posts") if isinstance(
        data.get("post_stream"), dict) else None
    if not isinstance(posts, list) or not posts or not all(isinstance(p, dict) for p in posts):
        raise ValueError("no post_stream.posts")
    first = next((p for p in posts if p.get("post_number") == 1), posts[0])
    if not isinstance(first.get("cooked"), str):
        raise ValueError("first post has no 'cooked' HTML")
    title = _cap(_SPACE.sub(" ", data["title"]).strip(), MAX_TITLE_CHARS)
    return TopicText(title=title, first_post=html_to_text(first["cooked"]))


def _trim(data: dict) -> dict:
    """The part of a response worth caching: id, title and the first post."""
    posts = data["post_stream"]["posts"]
    first = next((p for p in posts if p.get("post_number") == 1), posts[0])
    return {
        "id": data.get("id"),
        "title": data["title"],
        "post_stream": {"posts": [{"post_number": first.get("post_number", 1),
                                   "cooked": first["cooked"]}]},
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date).

    ``None`` when the header is absent or unreadable; never negative, at most
    :data:`MAX_RETRY_AFTER`.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


class RateLimiter:
    """At most ``per_second`` calls of :meth:`wait` per second (even spacing, no bursts)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if not per_second or per_second <= 0:
            raise ValueError(
                f"Discourse rate must be > 0 requests per second, got {per_second!r}; "
                "set ADVISOR_DISCOURSE_RATE to e.g. 2."
            )
        self.interval = 1.0 / per_second
        self._clock, self._sleep = clock, sleep
        self._next = 0.0

    def wait(self) -> None:
        now = self._clock()
        if self._next > now:
            self._sleep(self._next - now)
            # from when the sleep really ended: on a busy machine it overruns, and counting
            # from the planned time would let the next call follow sooner than ``interval``
            now = max(self._next, self._clock())
        self._next = now + self.interval


class _Failure(Exception):
    """One topic could not be fetched; ``reason`` is the report's skip reason."""

    def __init__(self, reason: str, detail: str = "", unreachable: bool = False):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail
        self.unreachable = unreachable  # no connection at all (refused, DNS, connect timeout)
        self.retry_after: float | None = None  # seconds, from a 429's Retry-After


class DiscourseFetcher:
    """Cached, rate-limited ``/t/{id}.json`` client for one Discourse forum.

    Args:
        base_url: the forum, e.g. ``https://discuss.huggingface.co``.
        cache_dir: the project cache dir; topics go to ``<it>/discourse/<host>/``.
        rate: requests per second (every attempt counts).
        timeout: seconds per request.
        max_retries: retries per topic after a 429, 5xx or transport error.
        backoff: first backoff in seconds (doubled per retry) when no ``Retry-After``.
        transport: an ``httpx`` transport (tests may pass a mock one).
    """

    def __init__(self, base_url: str, cache_dir: Path, *, rate: float, timeout: float,
                 max_retries: int = DEFAULT_MAX_RETRIES, backoff: float = DEFAULT_BACKOFF,
                 transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        host = urlparse(self.base_url).netloc or "forum"
        self.cache_dir = Path(cache_dir) / "discourse" / re.sub(r"[^A-Za-z0-9._-]", "_", host)
        self.limiter = RateLimiter(rate)
        self.max_retries, self.backoff = max(0, int(max_retries)), backoff
        self.requests = 0  # HTTP attempts made, for the summary and the tests
        self.rate_limited = 0  # 429 responses waited on
        self._client = httpx.Client(
            timeout=timeout, follow_redirects=True, transport=transport,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> DiscourseFetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- cache -------------------------------------------------------------------
    def cache_path(self, topic_id: int) -> Path:
        return self.cache_dir / f"{int(topic_id)}.json"

    def cached(self, topic_id: int) -> TopicText | None:
        """The cached topic, or ``None`` (absent or unreadable: then it is fetched)."""
        path = self.cache_path(topic_id)
        if not path.is_file():
            return None
        try:
            return parse_topic(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            log.debug("Ignoring unreadable cache file %s (%s)", path, e)
            return None

    def _store(self, topic_id: int, data: dict) -> None:
        path = self.cache_path(topic_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(_trim(data), ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)
        except OSError as e:  # a read-only cache only costs a re-fetch next time
            log.warning("Could not cache topic %s in %s (%s)", topic_id, path, e)

    # --- network -----------------------------------------------------------------
    def _wait_before_retry(self, attempt: int, retry_after: float | None) -> None:
        delay = retry_after if retry_after is not None else min(
            MAX_BACKOFF, self.backoff * (2 ** attempt))
        if delay > 0:
            time.sleep(delay)

    def fetch(self, topic_id: int) -> TopicText:
        """GET one topic (with retries) and cache it; raises :class:`_Failure`."""
        url = f"{self.base_url}/t/{int(topic_id)}.json"
        last: _Failure | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._wait_before_retry(attempt - 1, last.retry_after if last else None)
            self.limiter.wait()
            self.requests += 1
            try:
                resp = self._client.get(url)
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                last = _Failure("unreachable", f"{type(e).__name__}: {e}", unreachable=True)
                continue
            except httpx.TimeoutException as e:
                last = _Failure("timeout", f"{type(e).__name__} on {url}")
                continue
            except httpx.TransportError as e:
                last = _Failure("transport_error", f"{type(e).__name__}: {e}")
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = _Failure(f"http_{resp.status_code}", url)
                if resp.status_code == 429:
                    self.rate_limited += 1
                    last.retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
                continue
            if resp.status_code != 200:
                raise _Failure(f"http_{resp.status_code}", url)
            try:
                data = resp.json()
            except ValueError as e:
                raise _Failure("bad_json", f"{url}: {e}") from e
            try:
                text = parse_topic(data)
            except ValueError as e:
                raise _Failure("unexpected_json", f"{url}: {e}") from e
            self._store(topic_id, data)
            return text
        assert last is not None
        raise last


def fetch_thread_texts(
    threads: Iterable[ThreadInfo],
    cfg: Config,
    report: SourceReport,
    *,
    fetcher: DiscourseFetcher | None = None,
) -> list[ThreadInfo]:
    """Copies of ``threads`` with ``title`` and ``first_post`` filled where the forum
    (or the cache) had them; the others are returned unchanged. Never raises for a
    topic or an unreachable forum (see the module docstring).

    Args:
        threads: the coded threads (:func:`builder.sources.threads.read_threads`).
        cfg: ``discourse_url``, ``discourse_rate``, ``discourse_timeout``,
            ``cache_dir``, ``disable_progress``.
        report: the ``discourse`` report; ``read`` = threads, ``kept`` = threads filled.
        fetcher: used instead of one made from ``cfg`` (tests pass tuned retries).
    """
    from builder.embed import progress

    threads = list(threads)
    own = fetcher is None
    fetcher = fetcher or DiscourseFetcher(
        cfg.discourse_url, cfg.cache_dir, rate=cfg.discourse_rate, timeout=cfg.discourse_timeout)
    online, succeeded, failures_in_a_row = True, False, 0
    out: list[ThreadInfo] = []
    bar = progress(threads, desc="Forum threads", unit="thread", disable=cfg.disable_progress)
    try:
        for t in bar:
            report.read += 1
            report.line = None
            text = fetcher.cached(t.topic_id)
            if text is not None:
                report.reasons["from_cache"] += 1
            elif not online:
                report.skipped += 1  # counted, not warned: one warning said we went offline
                report.reasons["offline"] += 1
            else:
                try:
                    text = fetcher.fetch(t.topic_id)
                    report.reasons["fetched"] += 1
                    succeeded, failures_in_a_row = True, 0
                except _Failure as f:
                    if f.reason.startswith("http_4") and f.reason != "http_429":
                        failures_in_a_row = 0  # the forum answered: this topic is gone
                    else:
                        failures_in_a_row += 1
                    if (f.unreachable and not succeeded) or failures_in_a_row >= MAX_CONSECUTIVE_FAILURES:
                        online = False
                        log.warning(
                            "Could not reach the forum at %s (%s); the rest of the build is "
                            "offline: threads not in the cache (%s) keep their coded text. "
                            "Check the network or ADVISOR_DISCOURSE_URL, then build again "
                            "with --fetch-threads.",
                            fetcher.base_url, f, fetcher.cache_dir,
                        )
                        report.skipped += 1
                        report.reasons["offline"] += 1
                    else:
                        report.skip(f.reason, f"topic {t.topic_id}: {f.detail}")
            if text is None:
                out.append(t)
                continue
            report.kept += 1
            out.append(dataclasses.replace(t, title=text.title, first_post=text.first_post))
    finally:
        bar.close()
        if own:
            fetcher.close()
    if fetcher.rate_limited:
        report.reasons["rate_limited_429"] += fetcher.rate_limited
    log.info("%s (%s requests to %s)", report.summary(), f"{fetcher.requests:,}", fetcher.base_url)
    return out
