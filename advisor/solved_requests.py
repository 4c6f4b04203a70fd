"""Models accepted for similar solved requests: a ranking signal learned from labelled
real model-selection requests.

``eval/train_requests.jsonl`` holds real requests (public threads, paraphrased) with the
task they needed and the models the thread's answer pointed to (``good_models``). The
same few models are the accepted answer again and again for requests of one kind (Whisper
for transcription, a French NER checkpoint for French entities), and neither the card
text nor download counts say so. At build time :func:`save_solved_requests` embeds those
requests into ``solved_requests.npz`` in the index (with their task, accepted models and
thread); :func:`load_solved_requests` reads them back. For a new request,
:meth:`SolvedRequests.accepted` finds its :data:`NEIGHBOURS` nearest solved requests of
the same task (cosine at least :data:`MIN_SIMILARITY`) and gives each candidate model
the sum of the cosines of the neighbours that accepted it, plus the thread of the closest
one, which the answer shows as evidence.

Only training rows are read, never ``eval/real_requests.jsonl``: both of its halves stay
held out (``tune`` as well, so its figures remain a fair reading). The weight of the
signal in the score is :data:`advisor.pools.W_ACCEPTED`; the neighbour count and the
floor were chosen with it by cross-validation (``python -m bench.rank_fit``; see
``bench/RESULTS.md``, twenty-second pass).

This module does not rank (the recommender adds the signal to its score) and does not
embed at query time (the caller passes the request's vector).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FILE = "solved_requests.npz"  # in index/
FORMAT_VERSION = 1
NEIGHBOURS = 10  # nearest solved requests of the task that vote (5 / 20 / 30 read alike)
MIN_SIMILARITY = 0.3  # MiniLM cosine under which a request is about something else


@dataclass(frozen=True)
class SolvedRequest:
    """One labelled training request: its text, task, accepted models and thread."""

    text: str
    task: str
    good: tuple[str, ...]
    url: str


def read_solved_requests(path: Path | str) -> list[SolvedRequest]:
    """The rows of ``path`` (``eval/train_requests.jsonl``) with a question, a task and
    ``good_models``; ``[]`` when the file is missing (an install without ``eval/``)."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if r.get("question") and r.get("task") and r.get("good_models"):
            out.append(SolvedRequest(r["question"], r["task"], tuple(r["good_models"]),
                                     r.get("source_url") or ""))
    return out


class SolvedRequests:
    """Solved requests with their vectors (rows L2-normalised, as the embedder gives them)."""

    def __init__(self, rows: Sequence[SolvedRequest], vectors: np.ndarray):
        if len(rows) != len(vectors):
            raise ValueError(f"{len(rows)} solved requests but {len(vectors)} vectors")
        self.rows = list(rows)
        self.vectors = np.asarray(vectors, np.float32).reshape(len(rows), -1)
        self._tasks = np.array([r.task for r in self.rows], dtype=object)

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, keep: Callable[[SolvedRequest], bool]) -> SolvedRequests:
        """The rows ``keep`` accepts (cross-validation holds a fold out this way)."""
        idx = [i for i, r in enumerate(self.rows) if keep(r)]
        return SolvedRequests([self.rows[i] for i in idx], self.vectors[idx])

    def accepted(self, qvec: np.ndarray | None, task: str | None,
                 positions: Mapping[str, int], n: int) -> tuple[np.ndarray, dict[int, str]]:
        """``(scores, threads)`` for a pool of ``n`` candidates (``positions``: model id ->
        position): each candidate's summed cosine over the nearest solved requests of
        ``task`` (any task when ``None``) that accepted it, and for each scored position
        the thread of the closest such request."""
        scores = np.zeros(n)
        threads: dict[int, str] = {}
        if qvec is None or not len(self.rows) or not n:
            return scores, threads
        sims = self.vectors @ np.asarray(qvec, np.float32).ravel()
        if task is not None:
            sims = np.where(self._tasks == task, sims, -1.0)
        for j in np.argsort(-sims, kind="stable")[:NEIGHBOURS]:
            if sims[j] < MIN_SIMILARITY:
                break  # sorted: the rest are further
            for model in self.rows[j].good:
                i = positions.get(model)
                if i is None:
                    continue
                scores[i] += float(sims[j])
                threads.setdefault(i, self.rows[j].url)  # the closest first
        return scores, threads


def text_key(text: str) -> str:
    """The key of a request's vector: the SHA-1 of its (truncated) text."""
    return hashlib.sha1(text[:4000].encode("utf-8", "surrogatepass")).hexdigest()


def save_solved_requests(directory: Path | str, rows: Sequence[SolvedRequest],
                         embed: Callable[[list[str]], np.ndarray], model_id: str,
                         previous: Mapping[str, np.ndarray] | None = None) -> int:
    """Write ``rows`` with their vectors to ``directory/solved_requests.npz``, taking
    the vectors of unchanged texts from ``previous`` (:func:`stored_vectors` of the index
    being replaced) and embedding only the others with ``embed``; returns how many were
    embedded (nothing is written for no rows)."""
    if not rows:
        return 0
    keys = [text_key(r.text) for r in rows]
    have = dict(previous or {})
    todo = [i for i, k in enumerate(keys) if k not in have]
    if todo:
        new = np.asarray(embed([rows[i].text[:4000] for i in todo]), np.float32)
        have.update({keys[i]: v for i, v in zip(todo, new, strict=True)})
    vecs = np.stack([np.asarray(have[k], np.float32) for k in keys])
    meta = {"format_version": FORMAT_VERSION, "embed_model": model_id, "keys": keys,
            "rows": [{"task": r.task, "good": list(r.good), "url": r.url} for r in rows]}
    np.savez(Path(directory) / FILE, vectors=vecs, meta=np.array(json.dumps(meta)))
    return len(todo)


def _read(path: Path) -> tuple[dict, np.ndarray]:
    """The metadata and vectors of a ``solved_requests.npz``; raises ``OSError``,
    ``ValueError`` or ``KeyError`` for a file that is not one."""
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["meta"])), np.asarray(z["vectors"], np.float32)


def stored_vectors(directory: Path | str, model_id: str) -> dict[str, np.ndarray]:
    """``{text key: vector}`` of the solved requests stored in ``directory`` for
    ``model_id`` (``{}`` when there are none): what a rebuild need not embed again."""
    path = Path(directory) / FILE
    if not path.exists():
        return {}
    try:
        meta, vecs = _read(path)
    except (OSError, ValueError, KeyError):
        return {}
    if meta.get("embed_model") != model_id or len(meta.get("keys", [])) != len(vecs):
        return {}
    return dict(zip(meta["keys"], vecs, strict=True))


def load_solved_requests(directory: Path | str | None, model_id: str) -> SolvedRequests | None:
    """The solved requests stored in ``directory`` for ``model_id``'s vectors; ``None``
    (logged) when the file is absent, of another format or another embedding model: the
    recommender then ranks without the signal."""
    if directory is None:
        return None
    path = Path(directory) / FILE
    if not path.exists():
        return None
    try:
        meta, vecs = _read(path)
    except (OSError, ValueError, KeyError) as e:
        log.warning("Solved requests in %s not used (%s); rebuild the index.", path, e)
        return None
    if meta.get("format_version") != FORMAT_VERSION or meta.get("embed_model") != model_id:
        log.warning("Solved requests in %s were made for another format or embedding model; "
                    "rebuild the index to use them.", path)
        return None
    rows = [SolvedRequest("", r["task"], tuple(r["good"]), r.get("url", "")) for r in meta["rows"]]
    return SolvedRequests(rows, vecs)
