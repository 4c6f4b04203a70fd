"""Faults: a missing, truncated or mismatched index; a failing LLM backend; an
unwritable query log; a builder killed mid-run.

The index and log tests run the real engine on a copy of the small real index
(FakeEmbedder); the LLM tests point the "openai" backend at the local chat-completion
server of test_llm (429, 500, a hang past the timeout, a stream cut mid-answer); the
app-level checks call the real Gradio app on a loopback port through gradio_client. The
builder-kill test runs the real CLI (packaged MiniLM) and is marked ``slow``.

Expected everywhere: a clear message that says what to do, an answer whenever one can
be given (offline fallback, the log row kept in memory and written later), and an app
that keeps serving.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from advisor.config import Config
from advisor.engine import Advisor
from advisor.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from advisor.index import AdvisorIndex
from tests.conftest import FakeEmbedder, small_index_config
from tests.test_llm import online_chat_server
from tests.test_robustness import _free_port, launch_app

REPO = Path(__file__).resolve().parents[1]
REBUILD = "python -m builder build"
QUESTION = "CUDA out of memory when fine-tuning bert, what can I do?"


@pytest.fixture
def index_copy(small_index_dir, tmp_path) -> Path:
    dest = tmp_path / "index"
    shutil.copytree(small_index_dir, dest)
    return dest


def _load(index_dir: Path):
    return Advisor(small_index_config(index_dir), embedder=FakeEmbedder()).parts


# --- index faults -----------------------------------------------------------------------------
def test_missing_index_says_how_to_build(tmp_path):
    with pytest.raises(IndexNotFoundError, match=REBUILD):
        _load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFoundError, match=REBUILD):
        _load(tmp_path / "empty")


@pytest.mark.parametrize("damage", ["truncate_vectors", "drop_vectors", "garble_store",
                                    "truncate_manifest", "garble_bm25"])
def test_damaged_index_is_reported_with_a_rebuild_hint(index_copy, damage):
    if damage == "truncate_vectors":
        p = index_copy / "vectors.faiss"
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    elif damage == "drop_vectors":
        (index_copy / "vectors.faiss").unlink()
    elif damage == "garble_store":
        (index_copy / "store.sqlite").write_bytes(b"not a database" * 100)
    elif damage == "truncate_manifest":
        p = index_copy / "manifest.json"
        p.write_text(p.read_text()[:40])
    elif damage == "garble_bm25":
        for f in (index_copy / "bm25").iterdir():
            f.write_bytes(b"\x00garbage")
    with pytest.raises((IndexCorruptError, IndexNotFoundError)) as e:
        _load(index_copy)
    assert "build" in str(e.value) and str(index_copy) in str(e.value)


def test_mismatched_index_is_refused(index_copy):
    class OtherEmbedder(FakeEmbedder):
        def __init__(self):
            super().__init__(dim=32, model_id="other-model-32")

    cfg = small_index_config(index_copy).replace(embed_model="other-model-32")
    with pytest.raises(IndexMismatchError) as e:
        AdvisorIndex.load(cfg, embedder=OtherEmbedder())
    assert "other-model-32" in str(e.value) and "build" in str(e.value)


def test_app_shows_index_error_and_keeps_serving_without_crash_loop(index_copy, tmp_path):
    """A corrupt index: the holder fails once (no retry loop), every request gets the
    same clear message, each is logged as refused, the status line shows the fix."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    (index_copy / "vectors.faiss").write_bytes(b"\x00" * 64)
    calls = []

    def factory(c):
        calls.append(1)
        return Advisor(c, embedder=FakeEmbedder())

    cfg = small_index_config(index_copy).replace(
        log_db=str(tmp_path / "log.sqlite"), auto_build=False, rate_limit_per_min=0)
    from advisor.app.layout import build_demo

    demo = build_demo(cfg, advisor_factory=factory)
    holder = demo.advisor_app.holder
    assert not holder.wait(30) and holder.state == "failed"
    assert "IndexCorruptError" in holder.status_markdown()
    port = _free_port()  # serve the failed app and ask twice
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                        quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        for _ in range(2):
            with pytest.raises(AppError) as e:
                client.predict(QUESTION, api_name="/ask")
            assert REBUILD in str(e.value) and "could not start" in str(e.value)
        assert len(calls) == 1  # loaded once; no crash/retry loop
        rows = demo.advisor_app.qlog.rows()
        assert [r["status"] for r in rows] == ["refused", "refused"]
    finally:
        demo.close()


def test_app_builds_a_missing_index_then_answers(corpus_dir, tmp_path):
    """The rebuild path: no index + auto_build -> quick build, served, then the 'full'
    build swapped in (here both small, FakeEmbedder)."""
    from advisor.app.lifecycle import EngineHolder
    from builder.pipeline import build

    cfg = small_index_config(tmp_path / "index", corpus_dir).replace(
        auto_build=True, auto_build_limit=20)
    limits = []

    def builder(c, limit):
        limits.append(limit)
        return build(c, limit=limit or 40, embedder=FakeEmbedder())

    holder = EngineHolder(cfg, factory=lambda c: Advisor(c, embedder=FakeEmbedder()),
                          builder=builder).start()
    assert holder.wait(120), holder.error
    assert holder.get().advise(QUESTION).citations
    holder._thread.join(120)
    assert limits == [20, None] and holder.state == "ready" and holder.error is None


# --- LLM backend faults ---------------------------------------------------------------------
@pytest.fixture
def server(monkeypatch):
    s = online_chat_server(monkeypatch)
    yield s
    s.close()


def test_llm_failures_fall_back_to_offline_answer_via_the_app(small_index, server, tmp_path):
    from gradio_client import Client

    cfg = small_index_config(small_index.index_dir).replace(
        log_db=str(tmp_path / "log.sqlite"), rate_limit_per_min=0, auto_build=False,
        llm_backend="openai", llm_base_url=server.url + "/v1", llm_model="m",
        llm_timeout=2.0)  # the server's "hang" sleeps 3 s
    demo, url = launch_app(cfg, lambda c: Advisor(c, index=small_index))
    try:
        client = Client(url, verbose=False)
        answer, advice = client.predict(QUESTION, api_name="/ask")
        assert advice["backend"] == "openai" and "Start with the pipeline." in answer
        for mode, says in [("429", "429"), ("500", "500"), ("hang", "timed out"),
                           ("cut", "closed before")]:
            server.mode = mode
            answer, advice = client.predict(QUESTION, api_name="/ask")
            assert advice["backend"] == "offline", mode
            assert "offline answer" in answer and says in answer, (mode, answer[:300])
            assert advice["citations"] and "### Sources" in answer
            assert any(says in n for n in advice["notes"])
        server.mode = "ok"
        answer, advice = client.predict(QUESTION, api_name="/ask")  # recovers
        assert advice["backend"] == "openai"
        rows = demo.advisor_app.qlog.rows()
        assert [r["status"] for r in rows] == ["answered"] * 6
    finally:
        demo.close()


# --- query log faults -------------------------------------------------------------------------
def test_locked_log_db_answer_given_row_kept_and_written_later(small_index, tmp_path):
    from gradio_client import Client

    log_db = tmp_path / "log.sqlite"
    cfg = small_index_config(small_index.index_dir).replace(
        log_db=str(log_db), rate_limit_per_min=0, auto_build=False)
    demo, url = launch_app(cfg, lambda c: Advisor(c, index=small_index))
    app = demo.advisor_app
    try:
        client = Client(url, verbose=False)
        client.predict(QUESTION, api_name="/ask")
        other = sqlite3.connect(str(log_db), isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        try:
            answer, advice = client.predict("How do I fine-tune a model on my data?",
                                            api_name="/ask")
            assert advice["citations"] and answer  # the answer is still given
            assert app.qlog.pending == 1
            assert "locked" in app.qlog.last_error and "pending" in app.qlog.last_error
            summary = app.insights_view()[0]
            assert "pending" in summary  # the failure is reported to maintainers
            assert len(app.qlog.rows()) == 2  # the row is visible, from memory
        finally:
            other.execute("ROLLBACK")
            other.close()
        client.predict("Which model for german sentiment?", api_name="/ask")
        assert app.qlog.pending == 0 and app.qlog.last_error is None
    finally:
        demo.close()
    on_disk = sqlite3.connect(str(log_db)).execute(
        "SELECT status, question FROM queries ORDER BY id").fetchall()
    assert len(on_disk) == 3 and all(s == "answered" for s, _ in on_disk)
    assert on_disk[1][1] == "How do I fine-tune a model on my data?"


class _DiskFull:
    """A sqlite3 connection whose writes fail as on a full disk."""

    def __init__(self, conn):
        self._conn = conn
        self.full = True

    def execute(self, sql, *args):
        if self.full and sql.lstrip().upper().startswith(("INSERT", "UPDATE")):
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_disk_full_answer_given_feedback_kept_rows_written_later(small_index, tmp_path,
                                                                  caplog):
    from types import SimpleNamespace

    from advisor.app.handlers import AdvisorApp
    from advisor.app.lifecycle import EngineHolder

    cfg = small_index_config(small_index.index_dir).replace(
        log_db=str(tmp_path / "log.sqlite"), rate_limit_per_min=0, auto_build=False)
    holder = EngineHolder(cfg, factory=lambda c: Advisor(c, index=small_index)).start()
    assert holder.wait(30)
    app = AdvisorApp(cfg, holder=holder)
    disk = _DiskFull(app.qlog._conn)
    app.qlog._conn = disk
    req = SimpleNamespace(session_hash="s1")
    steps = list(app.respond(QUESTION, [], {}, req))
    history, _, _, rows = steps[-1]
    assert history[1]["content"]  # answered
    assert "disk is full" in app.qlog.last_error and app.qlog.pending == 1
    assert "disk is full" in caplog.text
    assert "Thanks" in app.on_like(rows, SimpleNamespace(index=1, liked=False, value=None))
    answer, _ = app.ask("How do I fine-tune a model on my data?", request=req)
    assert answer and app.qlog.pending == 2
    assert [r["feedback"] for r in app.qlog.rows()] == ["dislike", None]
    disk.full = False  # space freed
    app.ask("Which model for german sentiment?", request=req)
    assert app.qlog.pending == 0
    stored = app.qlog._conn.execute("SELECT id, feedback FROM queries ORDER BY id").fetchall()
    assert [tuple(r) for r in stored] == [(1, "dislike"), (2, None), (3, None)]


def test_log_memory_bound_while_db_unwritable(tmp_path, monkeypatch):
    import advisor.maintainers.querylog as ql

    monkeypatch.setattr(ql, "DEFAULT_MAX_PENDING", 5)
    qlog = ql.QueryLog(Config(log_db=str(tmp_path / "log.sqlite")))
    qlog._conn = _DiskFull(qlog._conn)
    for i in range(12):
        qlog.record(f"q{i}")
    assert qlog.pending == 5  # bounded; the oldest are dropped (and logged as errors)
    qlog._conn.full = False
    assert qlog.flush() == 0
    assert [r["question"] for r in qlog.rows()] == [f"q{i}" for i in range(7, 12)]


# --- builder killed mid-run ---------------------------------------------------------------
# The real builder in a child process (FakeEmbedder, so it takes seconds, not minutes;
# the CLI differs only in loading MiniLM), SIGKILLed while it writes the new index.
_BUILD = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from builder.pipeline import build
from tests.conftest import FakeEmbedder, small_index_config
build(small_index_config(Path({index!r}), Path({corpus!r})), limit={limit},
      embedder=FakeEmbedder())
"""


def _build_child(index_dir: Path, corpus_dir: Path, limit: int) -> subprocess.Popen:
    code = _BUILD.format(repo=str(REPO), index=str(index_dir), corpus=str(corpus_dir),
                         limit=limit)
    env = {**os.environ, "ADVISOR_DISABLE_PROGRESS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_builder_killed_mid_write_keeps_old_index_and_next_run_completes(
        small_index_dir, corpus_dir, tmp_path):
    index_dir = tmp_path / "index"  # the old index: a copy of the session's small one,
    shutil.copytree(small_index_dir, index_dir)  # with its parsed-records cache
    shutil.copytree(small_index_dir.parent / "cache", tmp_path / "cache")
    before = (index_dir / "manifest.json").read_text()
    old_models = len(AdvisorIndex.load(small_index_config(index_dir), FakeEmbedder()).models)

    proc = _build_child(index_dir, corpus_dir, 30)  # a smaller index replaces it
    killed_mid_write = False
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if list(tmp_path.glob(".index.tmp-*")):  # writing the new index: kill now
            os.kill(proc.pid, signal.SIGKILL)
            killed_mid_write = True
            break
        time.sleep(0.002)
    proc.wait(30)
    assert killed_mid_write, "the build finished before its temp dir was seen"
    assert proc.returncode == -signal.SIGKILL

    assert (index_dir / "manifest.json").read_text() == before  # the old index is untouched
    cfg = small_index_config(index_dir)
    old = AdvisorIndex.load(cfg, embedder=FakeEmbedder())
    assert len(old.models) == old_models
    assert Advisor(cfg, index=old).advise(QUESTION).citations

    again = _build_child(index_dir, corpus_dir, 30)
    assert again.wait(300) == 0, again.stderr.read()[-2000:]
    assert not list(tmp_path.glob(".index.tmp-*")) and not list(tmp_path.glob(".index.old-*"))
    assert (index_dir / "manifest.json").read_text() != before
    assert 0 < len(AdvisorIndex.load(cfg, embedder=FakeEmbedder()).models) < old_models
