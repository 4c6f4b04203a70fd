"""--fetch-threads against a local HTTP server that answers like Discourse (no network).

The server (``_Forum``) serves ``/t/{id}.json`` from ``_Forum.topics``; ``_Forum.plan``
gives a topic a list of canned answers (status, headers, body) used in order before the
normal one, so 429/500/404/bad JSON are scripted per topic. Every request is recorded
with its arrival time, so tests count requests and measure spacing.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from advisor.config import Config
from advisor.types import ThreadInfo
from builder.report import SourceReport
from builder.sources import discourse
from builder.sources.discourse import (
    DiscourseFetcher,
    RateLimiter,
    fetch_thread_texts,
    html_to_text,
    parse_topic,
    retry_after_seconds,
)

COOKED = (
    '<p>I load <code>bert-base-uncased</code> with <strong>AutoModel</strong> &amp; get:</p>\n'
    '<pre><code class="lang-python">KeyError: \'logits\'\n</code></pre>\n'
    '<div class="lightbox-wrapper"><a class="lightbox" href="/x.png"><img src="/x.png" alt="x">'
    '<div class="meta"><svg class="fa"><use href="#far-image"></use></svg>'
    '<span class="filename">screenshot.png</span><span class="informations">1920×1080 99 KB'
    "</span></div></a></div>\n<p>What  am I&nbsp;missing?<br>Thanks!</p>"
)


def topic_json(topic_id: int, title: str | None = None, cooked: str | None = None) -> dict:
    """A trimmed-down but real-shaped Discourse ``/t/{id}.json`` response."""
    return {
        "id": topic_id,
        "title": title if title is not None else f"How do I fine-tune model {topic_id}?",
        "fancy_title": "ignored",
        "posts_count": 2,
        "post_stream": {
            "posts": [
                {"id": 10 * topic_id, "post_number": 1, "username": "asker",
                 "cooked": cooked if cooked is not None else f"<p>Question body of {topic_id}.</p>"},
                {"id": 10 * topic_id + 1, "post_number": 2, "username": "helper",
                 "cooked": "<p>An answer that is not the first post.</p>"},
            ],
            "stream": [10 * topic_id, 10 * topic_id + 1],
        },
    }


class _Forum(BaseHTTPRequestHandler):
    topics: dict[int, dict] = {}
    plan: dict[int, list[tuple[int, dict, bytes]]] = {}
    seen: list[tuple[float, str]] = []
    delay: dict[int, float] = {}
    answer_any = False  # serve a generated topic for any id (the build test)

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, code: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        _Forum.seen.append((time.monotonic(), self.path))
        path = self.path.split("?")[0]
        if not (path.startswith("/t/") and path.endswith(".json")):
            return self._send(404, b'{"errors": ["not found"]}')
        try:
            topic_id = int(path[3:-5])
        except ValueError:
            return self._send(404, b'{"errors": ["not found"]}')
        if _Forum.delay.get(topic_id):
            time.sleep(_Forum.delay[topic_id])
        queued = _Forum.plan.get(topic_id)
        if queued:
            code, headers, body = queued.pop(0)
            return self._send(code, body, headers)
        if topic_id in _Forum.topics:
            return self._send(200, json.dumps(_Forum.topics[topic_id]).encode())
        if _Forum.answer_any:
            return self._send(200, json.dumps(topic_json(topic_id)).encode())
        return self._send(404, b'{"errors": ["The requested URL or resource could not be found."]}')

    def requests_for(topic_id: int) -> int:  # noqa: N805 - a helper called on the class
        return sum(1 for _, p in _Forum.seen if p == f"/t/{topic_id}.json")


@pytest.fixture
def forum():
    """Base URL of a fresh local Discourse-like server."""
    _Forum.topics, _Forum.plan, _Forum.seen, _Forum.delay = {}, {}, [], {}
    _Forum.answer_any = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forum)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _threads(*ids: int) -> list[ThreadInfo]:
    return [ThreadInfo(topic_id=i, forum_category="Beginners", codes=[f"code of {i}"],
                       url=f"https://discuss.huggingface.co/t/{i}") for i in ids]


def _cfg(base: str, tmp_path, **kw) -> Config:
    values = dict(discourse_url=base, cache_dir=tmp_path / "cache", discourse_rate=1000.0,
                  discourse_timeout=2.0, disable_progress=True)
    values.update(kw)
    return Config(**values)


def _fetcher(cfg: Config, **kw) -> DiscourseFetcher:
    kw.setdefault("backoff", 0.01)
    kw.setdefault("max_retries", 2)
    return DiscourseFetcher(cfg.discourse_url, cfg.cache_dir, rate=cfg.discourse_rate,
                            timeout=cfg.discourse_timeout, **kw)


# --- parsing -----------------------------------------------------------------------
def test_html_to_text_strips_tags_unescapes_and_drops_image_meta():
    text = html_to_text(COOKED)
    assert text == ("I load bert-base-uncased with AutoModel & get: KeyError: 'logits' "
                    "What am I missing? Thanks!")
    assert html_to_text("<p><b>Auto</b>Model</p><p>next</p>") == "AutoModel next"
    assert "<" not in text and "&amp;" not in text
    assert "screenshot.png" not in text and "99 KB" not in text  # the lightbox meta box


def test_html_to_text_caps_at_a_word_boundary():
    long = "<p>" + " ".join(["word"] * 1000) + "</p>"
    text = html_to_text(long, limit=100)
    assert len(text) <= 100 and text.endswith("…") and text[:-1].split() == ["word"] * 20
    assert html_to_text("") == "" and html_to_text("<p>short</p>") == "short"


def test_parse_topic_takes_title_and_first_post_only():
    t = parse_topic(topic_json(7, title="  Why   is my\nloss NaN? ", cooked=COOKED))
    assert t.title == "Why is my loss NaN?"
    assert t.first_post.startswith("I load bert-base-uncased") and "not the first post" not in t.first_post
    for bad in ({}, {"title": 3}, {"title": "x"}, {"title": "x", "post_stream": {"posts": []}},
                {"title": "x", "post_stream": {"posts": [{"post_number": 1}]}}, []):
        with pytest.raises(ValueError):
            parse_topic(bad)


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("0") == 0.0
    assert retry_after_seconds("-5") == 0.0
    assert retry_after_seconds("100000") == discourse.MAX_RETRY_AFTER
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    now = 1_700_000_000.0
    assert retry_after_seconds("Tue, 14 Nov 2023 22:13:30 GMT", now=now) == pytest.approx(10.0)


def test_rate_limiter_spaces_calls_evenly():
    clock = [100.0]
    slept: list[float] = []

    def sleep(s):
        slept.append(s)
        clock[0] += s

    lim = RateLimiter(4.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        lim.wait()
    assert slept == pytest.approx([0.25] * 4)
    with pytest.raises(ValueError, match="ADVISOR_DISCOURSE_RATE"):
        RateLimiter(0)


def test_rate_limiter_counts_from_when_an_overrunning_sleep_ended():
    """On a busy machine sleep() overruns; the next call still waits a full interval."""
    clock = [100.0]
    returned: list[float] = []
    overruns = iter([0.05, 0.0, 0.0])  # the first sleep ends 50 ms late, the others on time

    def sleep(s):
        clock[0] += s + next(overruns)

    lim = RateLimiter(5.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(4):
        lim.wait()
        returned.append(clock[0])
    assert min(b - a for a, b in zip(returned, returned[1:], strict=False)) >= 0.2


# --- against the local forum ----------------------------------------------------------
def test_titles_and_first_posts_are_filled(forum, tmp_path):
    _Forum.topics = {639: topic_json(639, title="Model outputs garbage", cooked=COOKED),
                     700: topic_json(700)}
    cfg, report = _cfg(forum, tmp_path), SourceReport("discourse")
    out = fetch_thread_texts(_threads(639, 700), cfg, report)
    assert [t.title for t in out] == ["Model outputs garbage", "How do I fine-tune model 700?"]
    assert out[0].first_post.startswith("I load bert-base-uncased with AutoModel & get:")
    assert out[1].first_post == "Question body of 700."
    assert out[0].codes == ["code of 639"]  # the rest of the record is untouched
    assert (report.read, report.kept, report.skipped) == (2, 2, 0)
    assert report.reasons["fetched"] == 2
    assert (tmp_path / "cache" / "discourse").is_dir()


def test_cached_topic_is_not_fetched_again(forum, tmp_path):
    _Forum.topics = {639: topic_json(639), 700: topic_json(700)}
    cfg = _cfg(forum, tmp_path)
    fetch_thread_texts(_threads(639, 700), cfg, SourceReport("discourse"))
    assert len(_Forum.seen) == 2
    _Forum.topics[639] = topic_json(639, title="Changed on the forum")  # the cache wins
    report = SourceReport("discourse")
    out = fetch_thread_texts(_threads(639, 700, 701), cfg, report)
    assert [p for _, p in _Forum.seen[2:]] == ["/t/701.json"]  # only the uncached topic
    assert out[0].title == "How do I fine-tune model 639?"
    assert report.reasons["from_cache"] == 2 and report.reasons["http_404"] == 1


@pytest.mark.parametrize(("status", "body", "reason", "attempts"), [
    (404, b'{"errors": ["not found"]}', "http_404", 1),  # a definite answer: no retry
    (403, b'{"errors": ["private"]}', "http_403", 1),
    (500, b"oops", "http_500", 3),  # 1 + max_retries
    (200, b"<html>not json</html>", "bad_json", 1),
    (200, b'{"title": "no posts"}', "unexpected_json", 1),
])
def test_failed_topics_are_counted_and_skipped(forum, tmp_path, status, body, reason, attempts):
    _Forum.topics = {1: topic_json(1), 3: topic_json(3)}
    _Forum.plan = {2: [(status, {}, body)] * 5}
    cfg, report = _cfg(forum, tmp_path), SourceReport("discourse")
    with _fetcher(cfg) as f:
        out = fetch_thread_texts(_threads(1, 2, 3), cfg, report, fetcher=f)
    assert [t.title != "" for t in out] == [True, False, True]  # the build goes on
    assert out[1] == _threads(2)[0]  # the failed thread is unchanged (coded text only)
    assert report.reasons[reason] == 1 and report.skipped == 1 and report.kept == 2
    assert _Forum.requests_for(2) == attempts
    assert not (cfg.cache_dir / "discourse").exists() or not list(
        (cfg.cache_dir / "discourse").rglob("2.json"))  # failures are not cached


def test_429_waits_for_retry_after_then_succeeds(forum, tmp_path):
    _Forum.topics = {5: topic_json(5)}
    _Forum.plan = {5: [(429, {"Retry-After": "1"}, b'{"errors": ["slow down"]}')]}
    cfg, report = _cfg(forum, tmp_path), SourceReport("discourse")
    # backoff 20 s: finishing in ~1 s shows the Retry-After header was used, not backoff
    with _fetcher(cfg, backoff=20.0) as f:
        t0 = time.monotonic()
        out = fetch_thread_texts(_threads(5), cfg, report, fetcher=f)
        elapsed = time.monotonic() - t0
    assert out[0].title == "How do I fine-tune model 5?"
    assert _Forum.requests_for(5) == 2
    first, second = (t for t, p in _Forum.seen if p == "/t/5.json")
    assert second - first >= 0.95 and elapsed < 5
    assert report.reasons["rate_limited_429"] == 1 and report.skipped == 0


def test_429_retries_are_bounded(forum, tmp_path):
    _Forum.plan = {5: [(429, {"Retry-After": "0"}, b"{}")] * 10}
    cfg, report = _cfg(forum, tmp_path), SourceReport("discourse")
    with _fetcher(cfg, max_retries=2) as f:
        out = fetch_thread_texts(_threads(5), cfg, report, fetcher=f)
    assert out[0].title == "" and _Forum.requests_for(5) == 3
    assert report.reasons["http_429"] == 1 and report.reasons["rate_limited_429"] == 3


def test_rate_limit_is_respected(forum, tmp_path):
    ids = (11, 12, 13, 14)
    _Forum.answer_any = True

    def run(rate: float, sub: str) -> float:
        cfg = _cfg(forum, tmp_path / sub, discourse_rate=rate)
        t0 = time.monotonic()
        fetch_thread_texts(_threads(*ids), cfg, SourceReport("discourse"))
        return time.monotonic() - t0

    fast, slow = run(1000.0, "fast"), run(5.0, "slow")
    assert slow >= 0.6 * 0.95  # 4 requests at 5/s: 3 gaps of 0.2 s
    assert fast < slow
    # the server's receive times carry the test machine's scheduling jitter (a request
    # received late shortens the next gap by as much; 0.171 s seen on a loaded 2-core
    # box): each gap is well above what no limiter gives (~ms), the exact spacing is the
    # fake-clock test's job
    stamps = [t for t, _ in _Forum.seen[-4:]]
    assert min(b - a for a, b in zip(stamps, stamps[1:], strict=False)) >= 0.15


def test_read_timeout_is_counted(forum, tmp_path):
    _Forum.topics = {1: topic_json(1), 2: topic_json(2), 3: topic_json(3)}
    _Forum.delay = {2: 1.0}
    cfg, report = _cfg(forum, tmp_path, discourse_timeout=0.2), SourceReport("discourse")
    with _fetcher(cfg, max_retries=0) as f:
        out = fetch_thread_texts(_threads(1, 2, 3), cfg, report, fetcher=f)
    assert [t.title != "" for t in out] == [True, False, True]
    assert report.reasons["timeout"] == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_down_warns_once_and_goes_offline(tmp_path, caplog):
    cfg = _cfg(f"http://127.0.0.1:{_closed_port()}", tmp_path)
    with _fetcher(cfg) as f:
        # one topic was cached by an earlier build: offline, it still gets its title
        f._store(2, topic_json(2, title="From an earlier build"))
        report = SourceReport("discourse")
        with caplog.at_level(logging.WARNING):
            out = fetch_thread_texts(_threads(1, 2, 3, 4), cfg, report, fetcher=f)
        assert f.requests == 3  # the first topic's attempts; then no more tries
    assert [t.title for t in out] == ["", "From an earlier build", "", ""]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "Could not reach the forum" in warnings[0].getMessage()
    assert "ADVISOR_DISCOURSE_URL" in warnings[0].getMessage()
    assert report.reasons["offline"] == 3 and report.reasons["from_cache"] == 1
    assert (report.read, report.kept, report.skipped) == (4, 1, 3)


def test_a_forum_failing_every_topic_stops_being_asked(forum, tmp_path, caplog):
    _Forum.topics = {1: topic_json(1)}
    _Forum.plan = {i: [(503, {}, b"down")] * 10 for i in range(2, 20)}
    cfg, report = _cfg(forum, tmp_path), SourceReport("discourse")
    with _fetcher(cfg, max_retries=0) as f, caplog.at_level(logging.WARNING):
        fetch_thread_texts(_threads(*range(1, 20)), cfg, report, fetcher=f)
    assert len(_Forum.seen) == 1 + discourse.MAX_CONSECUTIVE_FAILURES
    assert report.reasons["offline"] == 19 - 1 - (discourse.MAX_CONSECUTIVE_FAILURES - 1)
    assert sum("Could not reach the forum" in r.getMessage() for r in caplog.records) == 1


# --- config, CLI, store round trip ----------------------------------------------------
def test_flag_and_env_turn_fetching_on(monkeypatch):
    from builder.__main__ import _parser

    assert Config.from_env().fetch_threads is False
    assert _parser().parse_args(["build"]).fetch_threads is None
    assert _parser().parse_args(["build", "--fetch-threads"]).fetch_threads is True
    assert Config.from_env(fetch_threads=True).fetch_threads is True
    monkeypatch.setenv("ADVISOR_FETCH_THREADS", "1")
    monkeypatch.setenv("ADVISOR_DISCOURSE_URL", "http://forum.invalid")
    monkeypatch.setenv("ADVISOR_DISCOURSE_RATE", "0.5")
    cfg = Config.from_env()
    assert (cfg.fetch_threads, cfg.discourse_url, cfg.discourse_rate) == (
        True, "http://forum.invalid", 0.5)


def test_thread_documents_use_title_and_first_post():
    from builder.documents import thread_documents

    offline, online = _threads(9)[0], _threads(9)[0]
    online.title, online.first_post = "Tokenizer warning on load", "I see a warning when loading."
    d_off, d_on = thread_documents([offline, online])
    assert d_off.title == "Forum thread 9 (Beginners)" and "Title:" not in d_off.text
    assert "First post:" not in d_off.text
    assert d_on.title == "Tokenizer warning on load"
    assert "Title: Tokenizer warning on load" in d_on.text
    assert d_on.text.endswith("First post: I see a warning when loading.")
    assert "code of 9" in d_on.text


def test_build_with_fetch_threads_stores_titles(forum, corpus_dir, tmp_path, monkeypatch,
                                                fake_embedder):
    """A small corpus slice (12 threads, 3 models per source) built with the flag set.

    The taxonomy classifier is not fitted (its sklearn fit is most of a small build and
    has nothing to do with fetching); threads keep only the study's labels.
    """
    import builder.sources.threads as threads_mod
    from advisor.index import AdvisorIndex
    from builder import pipeline

    real = threads_mod.read_threads
    monkeypatch.setattr(threads_mod, "read_threads", lambda *a, **kw: real(*a, **kw)[:12])
    monkeypatch.setattr(pipeline, "label_threads", lambda *a, **kw: pipeline.Labelling())
    _Forum.answer_any = True
    first = real(corpus_dir, SourceReport("threads"))[0].topic_id
    _Forum.plan = {first: [(404, {}, b"{}")]}  # one thread stays offline
    cfg = _cfg(forum, tmp_path, corpus_dir=corpus_dir, index_dir=tmp_path / "index",
               embed_model=fake_embedder.model_id, fetch_threads=True)
    result = pipeline.build(cfg, limit=3, embedder=fake_embedder)
    assert result.manifest["sources"]["discourse"]["kept"] == 11
    assert result.manifest["sources"]["discourse"]["reasons"]["http_404"] == 1

    index = AdvisorIndex.load(cfg, embedder=fake_embedder)
    assert len(index.threads) == 12
    titled = [t for t in index.threads.values() if t.title]
    assert len(titled) == 11 and index.threads[first].title == ""
    t = titled[0]
    assert t.title == f"How do I fine-tune model {t.topic_id}?"
    assert t.first_post == f"Question body of {t.topic_id}."
    doc_titles = {h.title for h in index.hits([(r, 1.0) for r in index.rows_for(kind="thread")])}
    assert t.title in doc_titles


def test_without_the_flag_nothing_is_fetched(corpus_dir, tmp_path):
    from builder.pipeline import read_sources

    cfg = _cfg("http://127.0.0.1:9", tmp_path, corpus_dir=corpus_dir)  # would refuse
    assert cfg.fetch_threads is False
    data = read_sources(cfg, limit=1)
    assert "discourse" not in data.reports and len(data.threads) > 400
    assert all(t.title == "" and t.first_post == "" for t in data.threads)
    assert not (tmp_path / "cache" / "discourse").exists()  # (parsed cards are cached there)


def test_old_thread_json_without_the_new_fields_loads():
    from advisor.index import _from_dict

    t = _from_dict(ThreadInfo, {"topic_id": 1, "forum_category": "x", "codes": ["c"], "url": "u"})
    assert (t.title, t.first_post) == ("", "")
