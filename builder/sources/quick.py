"""Pick the most useful ``limit`` models of a source for a quick build (``--limit N``).

A quick index (the app's first auto-build, ``python -m builder build --limit N``) used
to hold the first N rows of each file: whatever order the scrape wrote. This module
picks instead, in one cheap pass over the raw rows (no YAML parsing, ~3 s for the 29k
2022 cards):

- each row gets a group, ``(pipeline tag, first language)``, and a usefulness score:
  ``log1p(downloads) + 0.5 * log1p(likes) + CARD_WEIGHT * card quality`` (card quality
  0..1 from :func:`builder.cards.card_quality`; 0 without a card);
- the pick takes turns over pipeline tags, and inside a tag over its languages, each
  language best row first. Turns are weighted by a power of the group's size (tasks
  :data:`TAG_WEIGHT_POWER`, languages :data:`LANGUAGE_WEIGHT_POWER`): text-classification
  (thousands of rows) gets somewhat more picks than a task with ten, English more than
  Danish, but every task and language gets its most downloaded, best-carded model early.
  So a 300-model index covers every task instead of the first file rows.

:func:`select_rows` returns the chosen row numbers; the readers (:mod:`.cards2022`,
:mod:`.hub2026`) then parse only those rows, in file order. This module reads no file
and builds no record itself.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from builder.cards import card_quality, is_missing_card
from builder.sources.metadata import languages_from

# One point of card quality (all 8 design sections present) is worth as much as ~20x
# the downloads (log1p): a documented model helps a beginner more than a popular
# undocumented one, but popularity still orders models with similar cards.
CARD_WEIGHT = 3.0
LIKES_WEIGHT = 0.5  # likes are rarer than downloads and partly redundant with them
# Turns over groups are weighted by a power of the group's size. Tasks: 0.25, nearly
# one share each (a request names a task whatever its model count); languages: 0.5 (English
# is most of the demand). Chosen on label-free coverage (share of the full index's top-5
# picks for the `tune` and training requests that the slice holds, builder slice only):
# 3,000 cards, task power 0.5 -> 0.815 / 0.884, 0.25 -> 0.846 / 0.892; 0 -> 0.834 / 0.893.
TAG_WEIGHT_POWER = 0.25
LANGUAGE_WEIGHT_POWER = 0.5
NO_TAG = "(no task)"
NO_LANGUAGE = "(no language)"


@dataclass(frozen=True)
class Candidate:
    row: int  # ordinal of the row among the source's valid rows
    tag: str
    language: str
    score: float


def usefulness(downloads: int | None, likes: int | None, quality: float = 0.0) -> float:
    """The score a row is ranked by inside its group (higher is better)."""
    return (
        math.log1p(max(0, downloads or 0))
        + LIKES_WEIGHT * math.log1p(max(0, likes or 0))
        + CARD_WEIGHT * quality
    )


def describe_2022(row: dict[str, Any]) -> tuple[str | None, list[str], float]:
    """(pipeline tag, languages, score) of a raw 2022 card row."""
    card = row.get("card") if isinstance(row.get("card"), str) else ""
    quality = 0.0 if is_missing_card(card) else card_quality(card, None)[0]
    tags = [t for t in row.get("tags") or [] if isinstance(t, str)]
    return row.get("pipeline_tag"), languages_from(tags), usefulness(
        _int(row.get("downloads")), _int(row.get("likes")), quality)


def describe_2026(row: dict[str, Any]) -> tuple[str | None, list[str], float]:
    """(pipeline tag, languages, score) of a raw 2026 metadata row (no card text)."""
    langs = [str(x).lower() for x in row.get("languages") or [] if x]
    return row.get("pipeline_tag"), langs, usefulness(
        _int(row.get("downloads_30d")), _int(row.get("likes")))


def _int(v: Any) -> int:
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


def candidates(
    rows: Iterable[dict[str, Any]],
    describe: Callable[[dict[str, Any]], tuple[str | None, list[str], float]],
    keep: Callable[[dict[str, Any]], bool] = lambda row: True,
) -> Iterator[Candidate]:
    """One :class:`Candidate` per row ``keep`` accepts; ``row`` counts every row."""
    for i, row in enumerate(rows):
        if not keep(row):
            continue
        try:
            tag, langs, score = describe(row)
        except Exception:  # noqa: BLE001 - an odd row is left to the reader to report
            continue
        yield Candidate(i, str(tag or NO_TAG), str(langs[0]) if langs else NO_LANGUAGE, score)


def select_rows(cands: Iterable[Candidate], limit: int) -> set[int]:
    """The ``limit`` rows picked by weighted turns over tags, then languages (module doc)."""
    if limit <= 0:
        return set()
    groups: dict[str, dict[str, list[Candidate]]] = {}
    for c in cands:
        groups.setdefault(c.tag, {}).setdefault(c.language, []).append(c)

    def by_score(c: Candidate) -> tuple[float, int]:
        return (-c.score, c.row)  # best first; file order breaks ties (deterministic)

    per_tag = []
    for langs in groups.values():
        lists = [sorted(v, key=by_score) for v in langs.values()]
        lists.sort(key=lambda v: by_score(v[0]))
        best = lists[0][0]  # the task's best model comes first, whatever its language
        merged = [best, *_fair_merge(
            [(len(v) ** LANGUAGE_WEIGHT_POWER, by_score(v[0]), iter(v[1:] if v[0] is best else v))
             for v in lists], first_free=False)]
        per_tag.append((len(merged) ** TAG_WEIGHT_POWER, by_score(merged[0]), iter(merged)))
    picked: set[int] = set()
    for c in _fair_merge(per_tag, first_free=True):
        picked.add(c.row)
        if len(picked) >= limit:
            break
    return picked


def _fair_merge(queues: list[tuple[float, tuple[float, int], Iterator[Any]]],
                first_free: bool) -> Iterator[Any]:
    """Merge ``(weight, rank, items)`` queues: the next item comes from the queue whose
    next item has the lowest ``(taken + 1) / weight`` (ties: the better ``rank``), so a
    queue of weight 2 yields about twice as often as one of weight 1 (weights are powers
    of group sizes). ``first_free``: every queue's first item comes before any
    queue's second (tags: every task is covered even in a small index); without it
    small queues wait their turn (languages: English is most of the demand)."""
    heap = [(0.0 if first_free else 1.0 / weight, rank, i, weight, it)
            for i, (weight, rank, it) in enumerate(queues)]
    heapq.heapify(heap)
    taken = [0] * len(queues)
    while heap:
        _, rank, i, weight, it = heapq.heappop(heap)
        try:
            item = next(it)
        except StopIteration:
            continue
        yield item
        taken[i] += 1
        key = taken[i] / weight if first_free else (taken[i] + 1) / weight
        heapq.heappush(heap, (key, rank, i, weight, it))
