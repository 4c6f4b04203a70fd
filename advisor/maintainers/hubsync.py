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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_SYNC_EVERY_MIN = 5.0  # CommitScheduler's own default; one commit per 5 min is
# far below the Hub's commit rate limits
SYNC_PATH_IN_REPO = "querylog"
STOP_PUSH_TIMEOUT_S = 30.0  # stop() waits this long for the last push, then gives up


class HubSync:
    """Mirror the log to a Hub dataset repo as JSONL events (append-only).

    Each process writes ``<folder>/events-<start time>-<uuid>.jsonl`` (so file names sort
    in the order the processes started); ``CommitScheduler`` uploads the folder to
    ``querylog/`` in the repo every ``every_min`` minutes. Events are
    ``{"event": "insert", ...row}`` and ``{"event": "feedback", "uid", "feedback"}``.

    Args:
        repo_id: the dataset repo, e.g. ``me/reuse-advisor-log``.
        folder: local folder the scheduler watches.
        every_min: minutes between commits.
        token: a write token (the Space's ``HF_TOKEN`` secret).
        endpoint: the Hub's URL (``cfg.hf_endpoint``); huggingface_hub's default when
            ``None``.
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
        endpoint: str | None = None,
    ):
        self.repo_id = repo_id
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.every_min = every_min
        self.token = token
        self.endpoint = endpoint
        self._downloader = downloader or self._snapshot_download
        started = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self._file = self.folder / f"events-{started}-{uuid.uuid4().hex}.jsonl"
        self._scheduler = scheduler if scheduler is not None else self._start_scheduler()
        self._lock = getattr(self._scheduler, "lock", None) or threading.Lock()

    def _start_scheduler(self) -> Any:
        from huggingface_hub import CommitScheduler, HfApi

        return CommitScheduler(
            repo_id=self.repo_id,
            repo_type="dataset",
            folder_path=self.folder,
            path_in_repo=SYNC_PATH_IN_REPO,
            every=self.every_min,
            token=self.token,
            allow_patterns=["*.jsonl"],
            hf_api=HfApi(endpoint=self.endpoint, token=self.token),
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
                endpoint=self.endpoint,
            )
        )

    def append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False)
        with self._lock:  # the scheduler holds it while it uploads
            with self._file.open("a", encoding="utf-8") as f:
                f.write(line + "\n")

    def restore(self) -> Iterator[dict[str, Any]]:
        """Yield the stored events: file by file in the order their processes started,
        each file's lines in order.

        The files are the repo's and, after a restart on a persistent disk, the earlier
        processes' files still in our folder. Of a file in both, the longer copy is read:
        the repo holds only what was pushed before that process ended, and replaying
        just that would set back feedback changed after its last push. Replaying events
        already in SQLite changes nothing. If the repo cannot be read, the local files
        alone are replayed.
        """
        target = self.folder.parent / (self.folder.name + "_restore")
        files: dict[str, Path] = {}
        try:
            root = self._downloader(self.repo_id, target)
            files = {p.name: p for p in Path(root).rglob("*.jsonl")}
        except Exception as e:  # noqa: BLE001 - offline, missing repo, no token: same outcome
            log.warning("Could not restore the query log from %s: %s", self.repo_id, e)
        for path in self.folder.glob("*.jsonl"):
            if path == self._file:
                continue  # ours: nothing in it yet that SQLite lacks
            remote = files.get(path.name)
            if remote is None or path.stat().st_size > remote.stat().st_size:
                files[path.name] = path
        for name in sorted(files):
            path = files[name]
            with path.open(encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        log.warning("Skipping bad log line %s:%d", path.name, n)

    def stop(self, timeout_s: float = STOP_PUSH_TIMEOUT_S) -> None:
        """Push the events appended since the last commit (waiting at most
        ``timeout_s``), then stop the scheduler. ``CommitScheduler.stop()`` alone would
        also cancel the push it registered for interpreter exit: those events would
        never reach the repo."""
        trigger = getattr(self._scheduler, "trigger", None)
        if callable(trigger):
            try:
                trigger().result(timeout_s)
            except Exception as e:  # noqa: BLE001 - closing must not fail on the Hub
                log.warning("Could not push the last query-log events to %s: %s",
                            self.repo_id, e)
        stop = getattr(self._scheduler, "stop", None)
        if callable(stop):
            stop()
