"""The query log: one row per question, output or model search, for the Insights tab.

:class:`QueryLog` stores rows in SQLite (``cfg.log_db``: a path or a ``sqlite:///``
URL; WAL mode; one connection guarded by a lock, so it is thread-safe for Gradio's
worker threads). A row holds the question, the detected intent and challenge category
with its confidence, the models recommended, the answer length, the status
(``answered`` / ``refused`` / ``error``, with a reason), the user's feedback
(``like`` / ``dislike``, one value per answer: a second click replaces it), the latency
and a salted hash of the Gradio session. It never stores an IP address, a user name or
a token.

Logging must never cost the user an answer: when the database is locked or the disk is
full, the write is kept in memory (``pending``) and retried on the next call or on
:meth:`QueryLog.flush`; :attr:`QueryLog.last_error` says what went wrong.

When ``cfg.log_dataset_repo`` is set, every row and feedback event is mirrored to that
dataset repo (:mod:`advisor.maintainers.hubsync`) and replayed on start, so the
insights survive Space restarts (free Space disks are not persistent).

This module does not aggregate anything (see :mod:`advisor.maintainers.insights`) and
does not decide what a question means (the engine does).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from advisor.config import Config
from advisor.errors import InvalidInputError
from advisor.maintainers.hubsync import HubSync
from advisor.validate import redact_secrets

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT_S = 1.0  # wait this long for a lock, then keep the row in memory:
# an answer must not wait on the log
DEFAULT_MAX_PENDING = 10_000  # rows kept in memory while the DB is unwritable (memory bound)
SYNC_FOLDER_NAME = "hub_sync"  # beside the SQLite file

STATUSES = ("answered", "refused", "error")
FEEDBACK_VALUES = ("like", "dislike")

COLUMNS = (
    "id",
    "uid",
    "ts",
    "session",
    "kind",
    "question",
    "intent",
    "category",
    "subcategory",
    "confidence",
    "unsure",
    "models",
    "citations",
    "answer_chars",
    "status",
    "reason",
    "feedback",
    "latency_ms",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT UNIQUE NOT NULL,
    ts TEXT NOT NULL,
    session TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT 'ask',
    question TEXT NOT NULL,
    intent TEXT,
    category TEXT,
    subcategory TEXT,
    confidence REAL,
    unsure INTEGER NOT NULL DEFAULT 0,
    models TEXT NOT NULL DEFAULT '[]',
    citations INTEGER NOT NULL DEFAULT 0,
    answer_chars INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    feedback TEXT,
    latency_ms REAL
);
CREATE INDEX IF NOT EXISTS queries_ts ON queries(ts);
"""


def db_path(log_db: str) -> Path:
    """``sqlite:///data/log.sqlite`` or ``data/log.sqlite`` -> a Path.

    Raises:
        InvalidInputError: a URL of another database (only SQLite is built in).
    """
    if "://" in log_db:
        scheme, _, rest = log_db.partition("://")
        if scheme != "sqlite":
            raise InvalidInputError(
                f"ADVISOR_LOG_DB={log_db!r}: only sqlite:/// URLs or file paths are "
                "supported. Use e.g. sqlite:///data/querylog.sqlite."
            )
        # sqlite:///relative/path and sqlite:////absolute/path, as in SQLAlchemy
        return Path(rest[1:] if rest.startswith("/") else rest)
    return Path(log_db)


def session_hash(session: str | None, salt: str) -> str:
    """A salted, truncated sha256 of Gradio's session id: groups one visitor's
    questions without identifying them. Empty for no session."""
    if not session:
        return ""
    return hashlib.sha256(f"{salt}:{session}".encode()).hexdigest()[:16]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class _Pending:
    """A write that failed; replayed in order by :meth:`QueryLog.flush`."""

    op: str  # "insert" | "feedback"
    row: dict[str, Any] = field(default_factory=dict)


class QueryLog:
    """SQLite query log with an in-memory fallback and optional Hub sync.

    Args:
        cfg: uses ``log_db``, ``log_salt``, ``log_dataset_repo``, ``hf_token``.
        sync: a :class:`HubSync` to use instead of building one from ``cfg``
            (tests pass one with a stand-in scheduler).
        busy_timeout_s: seconds to wait for a locked database before falling back.
    """

    def __init__(
        self,
        cfg: Config,
        sync: HubSync | None = None,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    ):
        self.cfg = cfg
        self.path = db_path(cfg.log_db)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            str(self.path), timeout=busy_timeout_s, check_same_thread=False, isolation_level=None
        )
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives a crash of the app (not of the OS) without
            # an fsync per answer; the file cannot be corrupted either way
            self._conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.OperationalError as e:  # e.g. locked at start: still usable
            log.warning("Could not switch the query log to WAL mode: %s", e)
        self._conn.executescript(_SCHEMA)
        self._pending: list[_Pending] = []
        self._ids: dict[int, str] = {}  # row id handed out -> uid (provisional ids < 0)
        self._next_provisional = -1
        self.last_error: str | None = None
        self.sync = sync
        if self.sync is None and cfg.log_dataset_repo:
            try:
                self.sync = HubSync(
                    cfg.log_dataset_repo,
                    self.path.parent / SYNC_FOLDER_NAME,
                    token=cfg.hf_token,
                    endpoint=cfg.hf_endpoint,
                )
            except Exception as e:  # noqa: BLE001 - the app must start without the Hub
                self.last_error = f"Hub sync to {cfg.log_dataset_repo} disabled: {e}"
                log.warning(self.last_error)
        if self.sync is not None:
            restored = self._restore()
            if restored:
                log.info("Restored %d query-log rows from %s", restored, self.sync.repo_id)

    # --- writing ----------------------------------------------------------------
    def record(
        self,
        question: str,
        *,
        status: str = "answered",
        reason: str = "",
        kind: str = "ask",
        intent: str | None = None,
        category: str | None = None,
        subcategory: str | None = None,
        confidence: float | None = None,
        unsure: bool = False,
        models: list[str] | None = None,
        citations: int = 0,
        answer_chars: int = 0,
        latency_ms: float | None = None,
        session: str | None = None,
    ) -> int:
        """Store one row and return its id (use it for :meth:`feedback`).

        ``session`` is Gradio's session id; only its salted hash is stored. If the
        database cannot be written, the row is kept in memory and a negative
        provisional id is returned; feedback on it still works.

        Raises:
            InvalidInputError: an unknown ``status``.
        """
        if status not in STATUSES:
            raise InvalidInputError(f"status must be one of {STATUSES}, got {status!r}")
        question = redact_secrets(str(question), self.cfg)  # refused input arrives raw
        reason = redact_secrets(str(reason), self.cfg)
        row = {
            "uid": uuid.uuid4().hex,
            "ts": _now(),
            "session": session_hash(session, self.cfg.log_salt),
            "kind": kind,
            "question": question,
            "intent": intent,
            "category": category,
            "subcategory": subcategory,
            "confidence": None if confidence is None else float(confidence),
            "unsure": int(bool(unsure)),
            "models": json.dumps(list(models or [])),
            "citations": int(citations),
            "answer_chars": int(answer_chars),
            "status": status,
            "reason": reason,
            "feedback": None,
            "latency_ms": None if latency_ms is None else round(float(latency_ms), 1),
        }
        with self._lock:
            self.flush()
            row_id = self._insert(row) if not self._pending else None
            if row_id is None:
                row_id = self._keep(_Pending("insert", row))
            self._ids[row_id] = row["uid"]
        self._sync({"event": "insert", **row})
        return row_id

    def feedback(self, row_id: int, liked: bool) -> None:
        """Set the feedback of one answer: ``like`` or ``dislike``; a second call
        replaces the first (never a second row).

        Raises:
            InvalidInputError: ``row_id`` was not handed out by this log.
        """
        value = "like" if liked else "dislike"
        with self._lock:
            uid = self._ids.get(row_id)
            if uid is None and row_id > 0:
                found = self._conn.execute(
                    "SELECT uid FROM queries WHERE id = ?", (row_id,)
                ).fetchone()
                uid = found["uid"] if found else None
            if uid is None:
                raise InvalidInputError(
                    f"No logged answer with id {row_id}; feedback applies to answers "
                    "given in this session."
                )
            self.flush()
            for p in self._pending:  # still in memory: update it there
                if p.op == "insert" and p.row["uid"] == uid:
                    p.row["feedback"] = value
                    break
            else:
                if self._pending or not self._set_feedback(uid, value):
                    self._keep(_Pending("feedback", {"uid": uid, "feedback": value}))
        if self.sync is not None:
            self._sync({"event": "feedback", "uid": uid, "feedback": value, "ts": _now()})

    def flush(self) -> int:
        """Retry the writes kept in memory, in order; return how many are still pending."""
        with self._lock:
            while self._pending:
                p = self._pending[0]
                if p.op == "insert":
                    real = self._insert(p.row)
                    if real is None:
                        break
                    for rid, uid in list(self._ids.items()):
                        if uid == p.row["uid"] and rid < 0:
                            self._ids[real] = uid
                elif not self._set_feedback(p.row["uid"], p.row["feedback"]):
                    break
                self._pending.pop(0)
            if not self._pending and self.last_error and "pending" in self.last_error:
                log.info("Query log writable again; pending rows written")
                self.last_error = None
            return len(self._pending)

    @property
    def pending(self) -> int:
        """Writes kept in memory because the database could not be written."""
        return len(self._pending)

    def _keep(self, p: _Pending) -> int:
        if len(self._pending) >= DEFAULT_MAX_PENDING:
            dropped = self._pending.pop(0)
            log.error("Query log: dropping an unwritten %s (memory bound reached)", dropped.op)
        self._pending.append(p)
        rid = self._next_provisional
        self._next_provisional -= 1
        return rid

    def _insert(self, row: dict[str, Any]) -> int | None:
        cols = [c for c in COLUMNS if c != "id"]
        try:
            cur = self._conn.execute(
                f"INSERT OR IGNORE INTO queries ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)})",
                [row.get(c) for c in cols],
            )
            if cur.rowcount == 0:  # uid already there (restored twice)
                got = self._conn.execute(
                    "SELECT id FROM queries WHERE uid = ?", (row["uid"],)
                ).fetchone()
                return int(got["id"])
            return int(cur.lastrowid)
        except sqlite3.DatabaseError as e:  # locked, disk full, read-only, corrupt
            self._write_failed(e)
            return None

    def _set_feedback(self, uid: str, value: str) -> bool:
        try:
            self._conn.execute("UPDATE queries SET feedback = ? WHERE uid = ?", (value, uid))
            return True
        except sqlite3.DatabaseError as e:
            self._write_failed(e)
            return False

    def _write_failed(self, e: Exception) -> None:
        self.last_error = (
            f"Query log write failed ({e}); {len(self._pending) + 1} write(s) pending in "
            f"memory, retried on the next question. Check {self.path} (locked? disk full?)."
        )
        log.warning(self.last_error)

    def _sync(self, event: dict[str, Any]) -> None:
        if self.sync is None:
            return
        try:
            self.sync.append(event)
        except OSError as e:
            log.warning("Could not append to the Hub sync folder: %s", e)

    def _restore(self) -> int:
        """Replay the repo's events into SQLite; return the number of new rows."""
        assert self.sync is not None
        added = 0
        cols = [c for c in COLUMNS if c != "id"]
        with self._lock:
            for ev in self.sync.restore():
                if ev.get("event") == "insert" and ev.get("uid"):
                    before = self._conn.total_changes
                    try:
                        self._conn.execute(
                            f"INSERT OR IGNORE INTO queries ({', '.join(cols)}) "
                            f"VALUES ({', '.join('?' for _ in cols)})",
                            [ev.get(c) for c in cols],
                        )
                    except sqlite3.Error as e:
                        log.warning("Skipping a restored row: %s", e)
                        continue
                    added += self._conn.total_changes - before
                elif ev.get("event") == "feedback" and ev.get("feedback") in FEEDBACK_VALUES:
                    self._set_feedback(str(ev.get("uid")), ev["feedback"])
        return added

    # --- reading ----------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """All rows, oldest first, including writes still pending in memory
        (``id`` < 0 for those). ``models`` is a list; ``unsure`` a bool."""
        with self._lock:
            db_rows = [dict(r) for r in self._conn.execute("SELECT * FROM queries ORDER BY id")]
            feedback = {
                p.row["uid"]: p.row["feedback"] for p in self._pending if p.op == "feedback"
            }
            mem = []
            provisional = {uid: rid for rid, uid in self._ids.items() if rid < 0}
            for p in self._pending:
                if p.op == "insert":
                    mem.append({"id": provisional.get(p.row["uid"], 0), **p.row})
        out = []
        for r in db_rows + mem:
            r = dict(r)
            if r["uid"] in feedback:
                r["feedback"] = feedback[r["uid"]]
            r["models"] = json.loads(r["models"] or "[]")
            r["unsure"] = bool(r["unsure"])
            out.append(r)
        return out

    def dataframe(self):
        """:meth:`rows` as a pandas DataFrame with a parsed ``ts`` column."""
        import pandas as pd

        df = pd.DataFrame(self.rows(), columns=list(COLUMNS))
        df["ts"] = pd.to_datetime(df["ts"], utc=True, errors="coerce")
        return df

    def export_csv(self, path: str | Path) -> Path:
        """Write every row (see :meth:`rows`) to ``path`` as CSV; models joined by ``;``.
        The session column is the salted hash, never an identity."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(COLUMNS))
            w.writeheader()
            for r in self.rows():
                r["models"] = ";".join(r["models"])
                w.writerow({c: r.get(c) for c in COLUMNS})
        return path

    def close(self) -> None:
        with self._lock:
            self.flush()
            self._conn.close()
        if self.sync is not None:
            self.sync.stop()
