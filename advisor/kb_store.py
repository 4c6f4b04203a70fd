"""The known-issues knowledge base's stored vectors and solved posts.

At build time :func:`save_vector_cache` embeds every text the matcher compares a question
with (:func:`kb_texts`: the entries' descriptions, phrasings and premises) and the
**solved posts** (:func:`read_solved_posts`: real training posts whose accepted fix is an
entry, ``eval/train_posts.jsonl`` rows with ``known_issue``) into ``kb_vectors.npz`` in
the index, so the app embeds none of them at start; :func:`load_vector_cache` and
:func:`load_solved_posts` read them back. Vectors are keyed by the SHA-1 of their text,
so a rebuild embeds only what changed. With them goes each entry's **signature record**
(:func:`signature_record`: on how many labelled training posts its signatures fire, and
how many of those its fix solved), which :mod:`advisor.kb_rank` reads to decide whether a
signature match is called the likely fix; :func:`load_signature_record` reads it back.

This module does not match questions (:mod:`advisor.known_issues` does) and does not
read the entries' YAML files.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

VECTORS_FILE = "kb_vectors.npz"  # in index/: the entries' texts embedded at build time


@dataclass(frozen=True)
class SolvedPost:
    """A real post whose accepted fix is the entry ``entry``: its thread and either its
    text (at build time) or the key of its vector in ``kb_vectors.npz`` (in the app)."""

    entry: str
    url: str
    text: str = ""
    key: str = ""

    @property
    def vector_key(self) -> str:
        return self.key or text_key(self.text)


def _kb_labelled_rows(path: Path) -> list[dict]:
    """The rows of a labelled-posts file (``eval/train_posts.jsonl``) with a question and
    a ``known_issue`` key (an entry's id, or null for "no entry holds the fix"); other
    rows, and lines that do not parse, are skipped (the classifier's reader reports
    those). A missing file gives ``[]``."""
    out: list[dict] = []
    if not Path(path).exists():
        return out
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            d = json.loads(line) if line.strip() else {}
        except ValueError:
            continue
        if isinstance(d, dict) and "known_issue" in d and d.get("question"):
            out.append(d)
    return out


def read_solved_posts(path: Path) -> list[SolvedPost]:
    """The rows of a labelled-posts file that name a ``known_issue`` entry (see
    :func:`_kb_labelled_rows`)."""
    return [SolvedPost(str(d["known_issue"]), str(d.get("source_url") or ""),
                       " ".join(str(d["question"]).split())[:4000])
            for d in _kb_labelled_rows(path) if d["known_issue"]]


def read_kb_labelled_posts(path: Path) -> list[tuple[str, str]]:
    """``(entry id or "", question)`` of every row labelled for the knowledge base, with
    an entry or with none (see :func:`_kb_labelled_rows`)."""
    return [(str(d["known_issue"] or ""), str(d["question"])) for d in _kb_labelled_rows(path)]


def _required_literal(rx: re.Pattern) -> str:
    """The longest run of plain characters (3 or more) every match of ``rx`` contains,
    lowercased, or "" (then ``rx`` is always run): a fast, case-insensitive test that
    lets :func:`signature_record` skip most regexes. Reads the pattern with the standard
    library's regex parser; on any parser change it gives "" (slower, same counts)."""
    try:
        from re import _constants, _parser  # the stdlib's own reading of the pattern

        best = cur = ""
        for op, arg in _parser.parse(rx.pattern, rx.flags):
            cur = cur + chr(arg) if op is _constants.LITERAL else ""
            best = max(best, cur, key=len)
    except Exception:  # noqa: BLE001 - only an optimisation
        return ""
    return best.lower() if len(best) >= 3 else ""


def signature_record(issues: Sequence[Any], posts: Sequence[tuple[str, str]]
                     ) -> dict[str, tuple[int, int]]:
    """``{entry id: (fired, right)}`` for every entry whose signatures fire on at least one
    of the labelled ``posts`` (:func:`read_kb_labelled_posts`): on how many they fire, and
    how many of those are labelled with the entry itself (the rest hold another fix, or
    none in the knowledge base). About 6 s over 2,500 posts and 1,900 signatures; kept for
    the same entries and posts within a process (tests build many indexes)."""
    return dict(_record(tuple((i.id, tuple(i.signatures)) for i in issues), tuple(posts)))


@functools.lru_cache(maxsize=2)
def _record(sigs: tuple[tuple[str, tuple[re.Pattern, ...]], ...],
            posts: tuple[tuple[str, str], ...]) -> tuple[tuple[str, tuple[int, int]], ...]:
    with_literals = [(entry, [(rx, _required_literal(rx)) for rx in rxs]) for entry, rxs in sigs]
    fired: dict[str, list[int]] = {}
    for label, text in posts:
        low = text.lower()
        for entry, rxs in with_literals:
            if any((not lit or lit in low) and rx.search(text) for rx, lit in rxs):
                count = fired.setdefault(entry, [0, 0])
                count[0] += 1
                count[1] += label == entry
    return tuple((k, (v[0], v[1])) for k, v in fired.items())


def kb_texts(issues: Sequence[Any]) -> list[str]:
    """Every text of the entries the matcher embeds (descriptions, phrasings and
    premises), once."""
    out: dict[str, None] = {}
    for i in issues:
        out[i.match_text] = None
        for p in i.phrasings:
            out[p] = None
        if i.applies_when and i.not_when:
            out[i.applies_when] = None
            out[i.not_when] = None
    return list(out)


def text_key(text: str) -> str:
    """The key of a text's vector in ``kb_vectors.npz``: the SHA-1 of its UTF-8 bytes."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def load_vector_cache(directory: Path, model_id: str | None = None) -> dict[str, np.ndarray]:
    """``{sha1(text): vector}`` from ``directory/kb_vectors.npz``; ``{}`` when absent or
    made with another embedding model than ``model_id`` (when given)."""
    path = Path(directory) / VECTORS_FILE
    if not path.exists():
        return {}
    with np.load(path) as z:
        made_with = str(z["model"]) if "model" in z.files else None
        if model_id is not None and made_with != model_id:
            return {}
        return {str(k): v for k, v in zip(z["keys"], z["vectors"], strict=True)}


def load_solved_posts(directory: Path) -> list[SolvedPost]:
    """The solved posts saved with the vectors (entry, thread and vector key; no text);
    ``[]`` for an index built before they were."""
    path = Path(directory) / VECTORS_FILE
    if not path.exists():
        return []
    with np.load(path) as z:
        if "solved_keys" not in z.files:
            return []
        return [SolvedPost(str(e), str(u), key=str(k)) for k, e, u in
                zip(z["solved_keys"], z["solved_entries"], z["solved_urls"], strict=True)]


def load_signature_record(directory: Path) -> dict[str, tuple[int, int]]:
    """The :func:`signature_record` saved with the vectors; ``{}`` for an index built
    before it was (then every signature match is called the likely fix)."""
    path = Path(directory) / VECTORS_FILE
    if not path.exists():
        return {}
    with np.load(path) as z:
        if "signature_entries" not in z.files:
            return {}
        return {str(e): (int(c[0]), int(c[1]))
                for e, c in zip(z["signature_entries"], z["signature_counts"], strict=True)}


def save_vector_cache(directory: Path, issues: Sequence[Any], embedder,
                      previous: dict[str, np.ndarray] | None = None,
                      solved: Sequence[SolvedPost] = (),
                      record: dict[str, tuple[int, int]] | None = None) -> int:
    """Embed the entries' texts and the ``solved`` posts of existing entries (reusing
    ``previous`` vectors of unchanged texts) into ``directory/kb_vectors.npz``, so the app
    does not embed ~3,000 texts at every start, and save the entries' signature ``record``
    (:func:`signature_record`) with them. Returns how many texts were embedded anew."""
    ids = {i.id for i in issues}
    solved = [p for p in solved if p.entry in ids and p.text]
    texts = list(dict.fromkeys(kb_texts(issues) + [p.text for p in solved]))
    keys = [text_key(t) for t in texts]
    previous = previous or {}
    missing = [t for t, k in zip(texts, keys, strict=True) if k not in previous]
    fresh = dict(zip((text_key(t) for t in missing), embedder.encode(missing), strict=True)) \
        if missing else {}
    vecs = np.stack([np.asarray(previous.get(k, fresh.get(k)), np.float32) for k in keys]) \
        if keys else np.zeros((0, 1), np.float32)
    np.savez(Path(directory) / VECTORS_FILE, keys=np.array(keys), vectors=vecs,
             model=np.array(getattr(embedder, "model_id", "")),
             solved_keys=np.array([p.vector_key for p in solved], dtype=str),
             solved_entries=np.array([p.entry for p in solved], dtype=str),
             solved_urls=np.array([p.url for p in solved], dtype=str),
             signature_entries=np.array([k for k in record or {} if k in ids], dtype=str),
             signature_counts=np.array([record[k] for k in record or {} if k in ids],
                                       np.int64).reshape(-1, 2))
    return len(missing)
