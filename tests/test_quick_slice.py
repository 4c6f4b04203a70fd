"""builder.sources.quick: a quick build (--limit N) takes the most useful models per
pipeline tag and language, not the first N rows. Checked on the real corpus slice and
on invented candidates (exact picks)."""

from __future__ import annotations

import statistics
from collections import Counter

import pytest

from builder.report import SourceReport
from builder.sources.cards2022 import read_cards
from builder.sources.hub2026 import read_hub2026
from builder.sources.quick import Candidate, select_rows, usefulness

LIMIT = 300


@pytest.fixture(scope="module")
def cards(corpus_dir):
    report = SourceReport("cards2022")
    picked = [info for info, _ in read_cards(corpus_dir / "model_cards_2022.jsonl.gz", report,
                                              limit=LIMIT)]
    return picked, report


@pytest.fixture(scope="module")
def all_cards(corpus_dir):
    return [info for info, _ in read_cards(corpus_dir / "model_cards_2022.jsonl.gz",
                                           SourceReport("all"))]


def test_quick_cards_cover_every_task_with_its_best_models(cards, all_cards):
    picked, report = cards
    assert len(picked) == LIMIT
    assert report.read == report.kept + report.skipped  # every row accounted for
    assert report.reasons["quick_slice"] == report.read - LIMIT
    tags_all = {m.pipeline_tag for m in all_cards}
    assert {m.pipeline_tag for m in picked} == tags_all  # every task, not 13 of 27
    # each task's picks include one of its most popular models (within 10x of the top;
    # the score also weighs the card, so the very top one may lose to a documented one)
    for tag in tags_all:
        top = max(m.downloads for m in all_cards if m.pipeline_tag == tag)
        got = max(m.downloads for m in picked if m.pipeline_tag == tag)
        assert got >= top / 10, (tag, got, top)
    # the most downloaded model with a good card is in
    best = max((m for m in all_cards if m.card_quality >= 0.75), key=lambda m: m.downloads)
    assert best.id in {m.id for m in picked}
    first = all_cards[:LIMIT]  # what --limit used to take
    assert statistics.median(m.downloads for m in picked) > 100 * max(
        1, statistics.median(m.downloads for m in first))
    assert statistics.mean(m.card_quality for m in picked) > statistics.mean(
        m.card_quality for m in first) + 0.1


def test_quick_cards_keep_several_languages_per_task(cards):
    picked, _ = cards
    langs = Counter((m.languages or ["-"])[0] for m in picked if m.pipeline_tag == "text-classification")
    assert langs["en"] >= 3 and len(langs) >= 5, langs
    assert len({(m.languages or ["-"])[0] for m in picked}) >= 20


def test_quick_2026_skips_removed_and_covers_tasks(corpus_dir):
    report = SourceReport("hub2026")
    picked = [i for i, _ in read_hub2026(corpus_dir / "hub_models_2026.jsonl.gz", report,
                                         limit=LIMIT)]
    full = [i for i, _ in read_hub2026(corpus_dir / "hub_models_2026.jsonl.gz", SourceReport("x"))]
    assert len(picked) == LIMIT and report.read == report.kept + report.skipped
    assert {m.pipeline_tag for m in picked} == {m.pipeline_tag for m in full}
    top = max(full, key=lambda m: m.downloads)
    assert top.id in {m.id for m in picked}


def test_select_rows_exact_picks():
    c = [
        Candidate(0, "a", "en", usefulness(10, 0)),
        Candidate(1, "a", "en", usefulness(1000, 0)),
        Candidate(2, "a", "de", usefulness(5, 0)),
        Candidate(3, "b", "en", usefulness(1, 0, quality=1.0)),
        Candidate(4, "b", "en", usefulness(2, 0)),
    ]
    assert select_rows(c, 2) == {1, 3}  # each tag's best first
    assert select_rows(c, 0) == set()
    assert select_rows(c, 10) == {0, 1, 2, 3, 4}
    # a card (quality 1) outweighs 10x the downloads
    assert usefulness(10, 0, 1.0) > usefulness(100, 0, 0.0)


def test_select_rows_task_turns_follow_the_weight_power():
    # tag "a" has 16x the rows of tag "b"; with TAG_WEIGHT_POWER 0.25 it gets ~2x the turns
    # (a square root would give it 4x): a request names a task whatever its model count
    big = [Candidate(i, "a", "en", usefulness(1000 - i, 0)) for i in range(256)]
    small = [Candidate(1000 + i, "b", "en", usefulness(1000 - i, 0)) for i in range(16)]
    picked = select_rows(big + small, 30)
    n_big = sum(r < 1000 for r in picked)
    assert len(picked) == 30
    assert 17 <= n_big <= 22  # ~2:1 (20:10), not 4:1 (24:6)
    assert 8 <= 30 - n_big <= 13
