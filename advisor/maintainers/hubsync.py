"""The query log's Hub mirror: JSONL events pushed to a dataset repo, replayed on start.

A free Space's disk is not persistent, so :class:`HubSync` appends every row and
feedback event of :class:`advisor.maintainers.querylog.QueryLog` as JSONL under a local
folder that ``huggingface_hub.CommitScheduler`` pushes to ``cfg.log_dataset_repo``
every few minutes; on start the events are downloaded and replayed. This module knows
nothing of SQLite.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_SYNC_EVERY_MIN = 5.0  # CommitScheduler's own default; one commit per 5 min is
# far below the Hub's commit rate limits
SYNC_PATH_IN_REPO = "querylog"


class HubSync:
    """Mirror the log to a Hub dataset repo as JSONL events (append-only).

    Each process writes ``<folder>/events-<uuid>.jsonl``; ``CommitScheduler`` uploads
    the folder to ``querylog/`` in the repo every ``every_min`` minutes. Events are
    ``{"event": "insert", ...row}`` and ``{"event": "feedback", "uid", "feedback"}``.

    Args:
        repo_id: the dataset repo, e.g. ``me/reuse-advisor-log``.
        folder: local folder the scheduler watches.
        every_min: minutes between commits.
        token: a write token (the Space's ``HF_TOKEN`` secret).
        scheduler: an object with a ``lock`` (a ``CommitScheduler``); built lazily
            from the arguments above when ``None``. Tests pass a stand-in.
        downloader: ``(repo_id, local_dir) -> Path`` fetching the repo's event files;
            defaults to ``huggingface_hub.snapshot_download``.
    """

    def __init__(
        self,
        repo_id: str,
        folder: Path,
        every_min: float = DEFAULT_SYNC_EVERY_MIN,
        token: str | None = None,
        scheduler: Any | None = None,
        downloader: Callable[[str, Path], Path] | None = None,
    ):
        self.repo_id = repo_id
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.every_min = every_min
        self.token = token
        self._downloader = downloader or self._snapshot_download
        self._file = self.folder / f"events-{uuid.uuid4().hex}.jsonl"
        self._scheduler = scheduler if scheduler is not None else self._start_scheduler()
        self._lock = getattr(self._scheduler, "lock", None) or threading.Lock()

    def _start_scheduler(self) -> Any:
        from huggingface_hub import CommitScheduler

        return CommitScheduler(
            repo_id=self.repo_id,
            repo_type="dataset",
            folder_path=self.folder,
            path_in_repo=SYNC_PATH_IN_REPO,
            every=self.every_min,
            token=self.token,
            allow_patterns=["*.jsonl"],
        )

    def _snapshot_download(self, repo_id: str, local_dir: Path) -> Path:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                repo_id,
                repo_type="dataset",
                local_dir=local_dir,
                allow_patterns=[f"{SYNC_PATH_IN_REPO}/*.jsonl"],
                token=self.token,
            )
        )

    def append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False)
        with self._lock:  # the scheduler holds it while it uploads
            with self._file.open("a", encoding="utf-8") as f:
                f.write(line + "\n")

    def restore(self) -> Iterator[dict[str, Any]]:
        """Yield the events stored in the repo (oldest file first); none on failure."""
        target = self.folder.parent / (self.folder.name + "_restore")
        try:
            root = self._downloader(self.repo_id, target)
        except Exception as e:  # noqa: BLE001 - offline, missing repo, no token: same outcome
            log.warning("Could not restore the query log from %s: %s", self.repo_id, e)
            return
        for path in sorted(Path(root).rglob("*.jsonl")):
            if path.resolve().parent == self.folder.resolve():
                continue  # our own live files are already in SQLite
            with path.open(encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        log.warning("Skipping bad log line %s:%d", path.name, n)

    def stop(self) -> None:
        stop = getattr(self._scheduler, "stop", None)
        if callable(stop):
            stop()
