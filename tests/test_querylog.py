"""QueryLog: rows, feedback once per answer, CSV export, refused rows, locked-DB
fallback, sqlite:/// URLs and the Hub sync round trip (with a stand-in scheduler)."""

from __future__ import annotations

import csv
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from advisor.config import Config
from advisor.errors import InvalidInputError
from advisor.maintainers.hubsync import HubSync
from advisor.maintainers.querylog import QueryLog, db_path, session_hash


@pytest.fixture
def cfg(tmp_path) -> Config:
    return Config(log_db=str(tmp_path / "log.sqlite"), log_salt="pepper")


def test_record_and_rows(cfg):
    qlog = QueryLog(cfg)
    rid = qlog.record(
        "Which model for German sentiment?",
        intent="recommend",
        category="Model Usage and Understanding",
        confidence=0.61,
        models=["oliverguhr/german-sentiment-bert"],
        citations=3,
        answer_chars=812,
        latency_ms=42.25,
        session="abc123",
    )
    rows = qlog.rows()
    assert len(rows) == 1 and rows[0]["id"] == rid
    r = rows[0]
    assert r["models"] == ["oliverguhr/german-sentiment-bert"]
    assert r["status"] == "answered" and r["feedback"] is None
    assert r["confidence"] == pytest.approx(0.61)
    assert r["session"] == session_hash("abc123", "pepper")
    assert "abc123" not in r["session"]


def test_session_hash_is_salted():
    assert session_hash("s1", "a") != session_hash("s1", "b")
    assert session_hash(None, "a") == ""


def test_feedback_recorded_once_second_click_changes_it(cfg):
    qlog = QueryLog(cfg)
    a = qlog.record("q1")
    b = qlog.record("q2")
    qlog.feedback(a, liked=True)
    qlog.feedback(a, liked=False)
    qlog.feedback(a, liked=False)
    rows = {r["id"]: r for r in qlog.rows()}
    assert len(rows) == 2
    assert rows[a]["feedback"] == "dislike"
    assert rows[b]["feedback"] is None


def test_feedback_unknown_id(cfg):
    with pytest.raises(InvalidInputError, match="No logged answer"):
        QueryLog(cfg).feedback(999, liked=True)


def test_refused_rows_and_bad_status(cfg):
    qlog = QueryLog(cfg)
    qlog.record("", status="refused", reason="InvalidInputError: empty question")
    assert qlog.rows()[0]["status"] == "refused"
    assert "empty" in qlog.rows()[0]["reason"]
    with pytest.raises(InvalidInputError):
        qlog.record("x", status="maybe")


def test_export_csv_matches_rows(cfg, tmp_path):
    qlog = QueryLog(cfg)
    qlog.record("q1", models=["a/b", "c/d"], category="Spaces", confidence=0.3)
    qlog.record("q2", status="error", reason="boom")
    qlog.feedback(1, liked=True)
    out = qlog.export_csv(tmp_path / "out" / "log.csv")
    with out.open() as f:
        got = list(csv.DictReader(f))
    rows = qlog.rows()
    assert [g["question"] for g in got] == [r["question"] for r in rows]
    assert got[0]["models"] == "a/b;c/d"
    assert got[0]["feedback"] == "like"
    assert got[1]["status"] == "error"


def test_sqlite_url(tmp_path):
    url = f"sqlite:///{tmp_path}/sub/log.sqlite"
    assert db_path(url) == tmp_path / "sub" / "log.sqlite"
    QueryLog(Config(log_db=url)).record("q")
    assert (tmp_path / "sub" / "log.sqlite").exists()
    with pytest.raises(InvalidInputError, match="sqlite"):
        db_path("postgresql://host/db")


def test_locked_db_keeps_rows_in_memory_and_retries(cfg):
    qlog = QueryLog(cfg, busy_timeout_s=0.05)
    first = qlog.record("before lock")
    other = sqlite3.connect(db_path(cfg.log_db), isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        rid = qlog.record("while locked", category="Spaces")
        assert rid < 0
        assert qlog.pending == 1
        assert "pending" in (qlog.last_error or "")
        qlog.feedback(rid, liked=False)  # on the in-memory row
        qlog.feedback(first, liked=True)  # on a stored row: queued
        assert qlog.pending == 2
        questions = [r["question"] for r in qlog.rows()]
        assert questions == ["before lock", "while locked"]
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert qlog.flush() == 0
    assert qlog.last_error is None
    rows = {r["question"]: r for r in qlog.rows()}
    assert rows["while locked"]["id"] > 0
    assert rows["while locked"]["feedback"] == "dislike"
    assert rows["before lock"]["feedback"] == "like"
    qlog.feedback(rid, liked=True)  # the provisional id still works after the flush
    assert {r["question"]: r for r in qlog.rows()}["while locked"]["feedback"] == "like"
    assert len(qlog.rows()) == 2


def test_thread_safe_concurrent_records(cfg):
    qlog = QueryLog(cfg)

    def work(n):
        for i in range(20):
            qlog.record(f"t{n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(qlog.rows()) == 80
    assert len({r["id"] for r in qlog.rows()}) == 80


class _StandInScheduler:
    """What QueryLog needs of CommitScheduler: a lock, and stop()."""

    def __init__(self):
        self.lock = threading.Lock()
        self.stopped = False

    def stop(self):
        self.stopped = True


def test_hub_sync_round_trip(tmp_path):
    """Events appended under the synced folder are replayed into a fresh database,
    as after a Space restart; feedback changes survive, duplicates do not appear."""
    remote = tmp_path / "remote_repo"

    def fake_download(repo_id: str, local_dir: Path) -> Path:
        assert repo_id == "me/advisor-log"
        return remote

    cfg1 = Config(log_db=str(tmp_path / "a" / "log.sqlite"))
    sync1 = HubSync(
        "me/advisor-log",
        tmp_path / "a" / "hub_sync",
        scheduler=_StandInScheduler(),
        downloader=fake_download,
    )
    log1 = QueryLog(cfg1, sync=sync1)
    r1 = log1.record("how to fix CUDA out of memory", category="Memory & Performance")
    log1.record("what does LABEL_1 mean", status="refused", reason="rate limit")
    log1.feedback(r1, liked=True)
    log1.feedback(r1, liked=False)
    log1.close()
    assert sync1._scheduler.stopped
    # what CommitScheduler would have uploaded:
    shutil.copytree(tmp_path / "a" / "hub_sync", remote / "querylog")

    cfg2 = Config(log_db=str(tmp_path / "b" / "log.sqlite"))
    sync2 = HubSync(
        "me/advisor-log",
        tmp_path / "b" / "hub_sync",
        scheduler=_StandInScheduler(),
        downloader=fake_download,
    )
    log2 = QueryLog(cfg2, sync=sync2)
    rows = {r["question"]: r for r in log2.rows()}
    assert set(rows) == {"how to fix CUDA out of memory", "what does LABEL_1 mean"}
    assert rows["how to fix CUDA out of memory"]["feedback"] == "dislike"
    assert rows["what does LABEL_1 mean"]["status"] == "refused"
    # a second restart over the same events adds nothing
    log3 = QueryLog(
        cfg2,
        sync=HubSync(
            "me/advisor-log",
            tmp_path / "c",
            scheduler=_StandInScheduler(),
            downloader=fake_download,
        ),
    )
    assert len(log3.rows()) == 2


def test_hub_sync_restore_failure_is_not_fatal(tmp_path):
    def offline(repo_id, local_dir):
        raise ConnectionError("offline")

    sync = HubSync("me/x", tmp_path / "s", scheduler=_StandInScheduler(), downloader=offline)
    qlog = QueryLog(Config(log_db=str(tmp_path / "log.sqlite")), sync=sync)
    qlog.record("still works")
    assert len(qlog.rows()) == 1


def test_disk_full_keeps_rows_in_memory(cfg):
    """SQLite's max_page_count makes inserts fail with 'database or disk is full'."""
    qlog = QueryLog(cfg)
    qlog.record("fits")
    pages = qlog._conn.execute("PRAGMA page_count").fetchone()[0]
    qlog._conn.execute(f"PRAGMA max_page_count = {pages}")
    rid = qlog.record("x" * 20_000)  # needs new pages
    assert rid < 0 and qlog.pending == 1
    assert "full" in qlog.last_error
    assert [len(r["question"]) for r in qlog.rows()] == [4, 20_000]
    qlog._conn.execute("PRAGMA max_page_count = 1073741823")  # space again
    qlog.record("after")
    assert qlog.pending == 0
    assert [r["id"] > 0 for r in qlog.rows()] == [True, True, True]
