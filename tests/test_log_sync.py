"""The query log's Hub mirror with the real ``huggingface_hub.CommitScheduler`` (no
stand-in) against the local Hub-like server of :mod:`bench.fake_hub`: a push and a replay
on an empty disk (a restarted Space), the last events pushed on close, and a process
killed with SIGKILL between two pushes (``tests/log_sync_child.py``).

Pushes are made with ``scheduler.trigger().result()``, never by waiting for the timer
(``CommitScheduler`` pushes once when it starts, then every ``every`` minutes: 5 or 60
here, far beyond a test). The token is a dummy.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import CommitScheduler

from advisor.config import Config
from advisor.maintainers.hubsync import SYNC_PATH_IN_REPO, HubSync
from advisor.maintainers.querylog import SYNC_FOLDER_NAME, QueryLog
from bench.fake_hub import serve

TOKEN = "hf_dummy_log_sync_token_789"
REPO = "me/advisor-log"
CHILD = Path(__file__).with_name("log_sync_child.py")


@pytest.fixture
def hub(monkeypatch):
    """The fake Hub; huggingface_hub is pointed at it through ``Config.hf_endpoint``
    (what QueryLog hands to HubSync), not through a patched constant."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _detect_agent

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # read once at import
    monkeypatch.setattr(_detect_agent, "_fetch_registry", lambda: None)  # no network
    with serve() as state:
        yield state


@pytest.fixture
def open_log(hub):
    """``open_log(dir)``: a QueryLog in ``dir`` configured as the app's (Config ->
    QueryLog -> HubSync -> CommitScheduler) and synced to REPO on the fake Hub. Every
    log is closed (its scheduler stopped) before the server goes away."""
    logs: list[QueryLog] = []

    def _open(data_dir: Path) -> QueryLog:
        cfg = Config(log_db=str(data_dir / "log.sqlite"), log_dataset_repo=REPO,
                     hf_token=TOKEN, hf_endpoint=hub.endpoint)
        qlog = QueryLog(cfg)
        assert qlog.sync is not None, qlog.last_error
        assert isinstance(qlog.sync._scheduler, CommitScheduler)
        logs.append(qlog)
        return qlog

    yield _open
    for qlog in logs:
        qlog.close()


def _push(qlog: QueryLog) -> None:
    qlog.sync._scheduler.trigger().result(timeout=30)


def _without_id(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "id"} for r in rows]


def _remote_files(hub) -> dict[str, bytes]:
    return {p: b for p, b in hub.files(REPO, "main")[1].items()
            if p.startswith(f"{SYNC_PATH_IN_REPO}/")}


def test_round_trip_with_the_real_scheduler(hub, open_log, tmp_path):
    """Rows and feedback pushed by CommitScheduler come back, exactly and once, in a
    log started on an empty data dir; restarting again adds nothing."""
    sync = HubSync(REPO, tmp_path / "a" / SYNC_FOLDER_NAME, every_min=60, token=TOKEN,
                   endpoint=hub.endpoint)
    log1 = QueryLog(Config(log_db=str(tmp_path / "a" / "log.sqlite")), sync=sync)
    try:
        r1 = log1.record("how to fix CUDA out of memory", category="Memory & Performance",
                         models=["a/b", "c/d"], confidence=0.7, latency_ms=12.34,
                         session="s1")
        r2 = log1.record("what does LABEL_1 mean", status="refused", reason="rate limit")
        log1.record("which model for German sentiment?", intent="recommend", citations=3)
        log1.feedback(r1, liked=True)
        log1.feedback(r1, liked=False)  # a second click replaces the first
        log1.feedback(r2, liked=True)
        _push(log1)
        expected = log1.rows()
        local = sync._file.read_bytes()
    finally:
        log1.close()

    remote = _remote_files(hub)
    assert list(remote) == [f"{SYNC_PATH_IN_REPO}/{sync._file.name}"]
    assert next(iter(remote.values())) == local  # the whole file, byte for byte
    assert f"Bearer {TOKEN}" in hub.auth

    log2 = open_log(tmp_path / "b")  # a restarted Space: empty disk
    assert log2.rows() == expected  # same ids too: replayed in the order written
    assert [r["feedback"] for r in log2.rows()] == ["dislike", "like", None]
    assert open_log(tmp_path / "c").rows() == expected
    log2.close()
    assert open_log(tmp_path / "b").rows() == expected  # replay over the same rows: no duplicate
    assert len(_remote_files(hub)) == 1  # replayed rows are not pushed again


def test_close_pushes_the_events_since_the_last_commit(hub, open_log, tmp_path):
    """QueryLog.close() stops the scheduler; before the fix it did so without a last push,
    which also cancelled CommitScheduler's push at interpreter exit."""
    log1 = open_log(tmp_path / "a")
    rid = log1.record("pushed by the scheduler")
    _push(log1)
    log1.record("recorded after the last commit")
    log1.feedback(rid, liked=True)
    expected = log1.rows()
    log1.close()
    assert open_log(tmp_path / "b").rows() == expected


def test_sigkill_between_pushes_loses_nothing_pushed(hub, open_log, tmp_path):
    """A child process (the app's config, the real scheduler) records N rows, pushes,
    records M rows and changes feedback, pushes, records K rows and changes feedback on
    pushed rows, then dies by SIGKILL before any further push.

    "Nothing lost" means, field by field (uid, question, status, models, feedback...):
    1. a log started on an EMPTY data dir (a Space without a persistent disk) holds
       exactly the N+M rows as they were at the second push, feedback included, each
       once; nothing recorded after that push, which never left the process;
    2. a log started on the killed process's data dir (a persistent disk) holds exactly
       the N+M+K rows as the killed process last read them, each once, with the same ids
       and the feedback set after the last push (the replay of the shorter pushed copy
       must not set it back);
    3. that restarted log pushes the killed process's unpushed events, after which an
       empty data dir gets all N+M+K rows; and feedback it changes on the killed
       process's rows wins over theirs on the next replay (files replay in start order).
    """
    n, m, k = 6, 5, 4
    child_dir = tmp_path / "child"
    out = tmp_path / "child_rows.json"
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": TOKEN,
           "ADVISOR_LOG_DB": str(child_dir / "log.sqlite"), "ADVISOR_LOG_DATASET": REPO,
           "HF_HOME": str(tmp_path / "hf_home")}
    env.pop("HF_HUB_OFFLINE", None)
    proc = subprocess.run([sys.executable, str(CHILD), str(out), str(n), str(m), str(k)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert TOKEN not in proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["scheduler"] == "CommitScheduler"
    pushed, final = report["pushed_2"], report["final"]
    assert len(report["pushed_1"]) == n and len(pushed) == n + m and len(final) == n + m + k
    by_q = {r["question"]: r for r in final}
    first0, first1 = (by_q[f"first question {i}: which model for task {i}?"] for i in (0, 1))
    assert (first0["feedback"], first1["feedback"]) == ("dislike", "dislike")

    # what reached the Hub: one file, a line-complete prefix of the child's local file
    local_files = list((child_dir / SYNC_FOLDER_NAME).glob("*.jsonl"))
    assert len(local_files) == 1
    remote = _remote_files(hub)
    assert list(remote) == [f"{SYNC_PATH_IN_REPO}/{local_files[0].name}"]
    pushed_bytes = next(iter(remote.values()))
    assert local_files[0].read_bytes().startswith(pushed_bytes) and pushed_bytes.endswith(b"\n")
    assert len(pushed_bytes.splitlines()) == n + 2 + m + 2  # rows and feedback events

    # 1. a restart on an empty disk: every pushed row, as pushed, once
    fresh = open_log(tmp_path / "fresh").rows()
    assert _without_id(fresh) == _without_id(pushed)
    assert {r["question"]: r["feedback"] for r in fresh}[first1["question"]] == "like"
    assert len({r["uid"] for r in fresh}) == len(fresh) == n + m

    # 2. a restart on the killed process's disk: every row it wrote, once, as it left them
    same = open_log(child_dir)
    assert same.rows() == final

    # 3. the restarted process pushes what the killed one could not
    same.feedback(first0["id"], liked=True)  # a later process changes an older row
    _push(same)
    assert sorted(_remote_files(hub)) == sorted(
        f"{SYNC_PATH_IN_REPO}/{p.name}" for p in (child_dir / SYNC_FOLDER_NAME).glob("*.jsonl"))
    after = open_log(tmp_path / "fresh2").rows()
    expected = [{**r, "feedback": "like"} if r["uid"] == first0["uid"] else r for r in final]
    assert _without_id(after) == _without_id(expected)
    assert same.rows() == expected
