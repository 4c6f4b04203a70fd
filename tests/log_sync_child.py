"""``python tests/log_sync_child.py OUT.json N M K``: a Space process whose query log is
mirrored to the Hub, killed with SIGKILL (``tests/test_log_sync.py``).

The log is configured from the environment as ``app.py`` does (``ADVISOR_LOG_DB``,
``ADVISOR_LOG_DATASET``, ``HF_ENDPOINT``, ``HF_TOKEN``), so the real
``huggingface_hub.CommitScheduler`` pushes to whatever server ``HF_ENDPOINT`` names. The
process records N rows, pushes and waits, records M rows, pushes and waits, records K
rows, changes feedback on pushed rows, then kills itself before any further push (no
``atexit``, no ``finally``). Feedback is given in every phase and changed after a push.

After each step it writes ``OUT.json``: the rows as its own log reads them after each
push (``pushed_1``, ``pushed_2``) and before the kill (``final``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from advisor.config import Config  # noqa: E402 - after the path fix
from advisor.maintainers.querylog import QueryLog  # noqa: E402


def main(out: Path, n: int, m: int, k: int) -> None:
    qlog = QueryLog(Config.from_env())
    if qlog.sync is None:
        raise SystemExit(f"no Hub sync: {qlog.last_error}")
    scheduler = qlog.sync._scheduler
    report: dict[str, object] = {"scheduler": type(scheduler).__name__}
    ids: dict[str, int] = {}

    def record(phase: str, i: int) -> None:
        q = f"{phase} question {i}: which model for task {i}?"
        ids[q] = qlog.record(
            q,
            status="refused" if i % 4 == 3 else "answered",
            reason="empty question" if i % 4 == 3 else "",
            category="Model Usage and Understanding",
            confidence=0.5 + i / 100,
            models=[f"org/model-{phase}-{i}"],
            citations=i,
            answer_chars=100 + i,
            latency_ms=10.5 + i,
            session=f"session-{i % 3}",
        )

    def save(key: str) -> None:
        report[key] = qlog.rows()
        out.write_text(json.dumps(report))

    for i in range(n):
        record("first", i)
    qlog.feedback(ids["first question 0: which model for task 0?"], liked=True)
    qlog.feedback(ids["first question 1: which model for task 1?"], liked=True)
    scheduler.trigger().result()
    save("pushed_1")

    for i in range(m):
        record("second", i)
    qlog.feedback(ids["first question 0: which model for task 0?"], liked=False)  # changed
    qlog.feedback(ids["second question 0: which model for task 0?"], liked=True)
    scheduler.trigger().result()
    save("pushed_2")

    for i in range(k):
        record("third", i)
    qlog.feedback(ids["first question 1: which model for task 1?"], liked=False)  # after push
    qlog.feedback(ids["third question 0: which model for task 0?"], liked=True)
    save("final")
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main(Path(sys.argv[1]), *(int(a) for a in sys.argv[2:5]))
