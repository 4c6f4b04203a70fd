"""builder.sources.cache: parsed model records reused while the file and parser are unchanged.

The records come from slices of the real corpus files, copied into ``tmp_path`` at test
time (so a test can change "the corpus" without touching it).
"""

from __future__ import annotations

import gzip
import logging
from dataclasses import asdict

import pytest

from builder.report import SourceReport
from builder.sources import cache
from builder.sources.cards2022 import CARDS_FILE, read_cards
from builder.sources.read import read_sources
from tests.conftest import small_index_config

SLICE_ROWS = 60


@pytest.fixture
def cards_slice(corpus_dir, tmp_path):
    """The first rows of the real 2022 card file, as a file of our own."""
    out = tmp_path / "corpus" / CARDS_FILE
    out.parent.mkdir()
    with gzip.open(corpus_dir / CARDS_FILE, "rb") as src, gzip.open(out, "wb") as dst:
        for _ in range(SLICE_ROWS):
            dst.write(src.readline())
    return out


class CountingReader:
    def __init__(self, path, limit=None):
        self.path, self.limit, self.calls = path, limit, 0

    def __call__(self, report):
        self.calls += 1
        return read_cards(self.path, report, limit=self.limit)


def _read(path, cache_dir, limit=None):
    reader = CountingReader(path, limit)
    pairs, report = cache.read_cached("cards2022", path, limit, cache_dir, reader)
    return pairs, report, reader.calls


def test_second_read_reuses_the_parsed_records(cards_slice, tmp_path, caplog):
    first, report1, calls1 = _read(cards_slice, tmp_path / "cache")
    with caplog.at_level(logging.INFO, logger="builder.sources.cache"):
        second, report2, calls2 = _read(cards_slice, tmp_path / "cache")
    assert (calls1, calls2) == (1, 0)
    assert [(asdict(m), asdict(d)) for m, d in second] == [(asdict(m), asdict(d)) for m, d in first]
    assert report2.as_dict() == report1.as_dict() and report1.read == SLICE_ROWS
    assert "parsed records reused" in caplog.text
    assert len(list((tmp_path / "cache" / cache.PARSED_DIR).glob("cards2022-*.pickle"))) == 1


def test_changed_file_limit_or_parser_is_parsed_again(cards_slice, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    assert _read(cards_slice, cache_dir)[2] == 1
    assert _read(cards_slice, cache_dir, limit=10)[2] == 1  # another limit: its own records
    assert _read(cards_slice, cache_dir, limit=10)[2] == 0
    # the file changes: one row fewer
    with gzip.open(cards_slice, "rb") as f:
        rows = f.readlines()
    with gzip.open(cards_slice, "wb") as f:
        f.writelines(rows[:-1])
    pairs, report, calls = _read(cards_slice, cache_dir)
    assert calls == 1 and report.read == SLICE_ROWS - 1
    # a parser module changed (its source is part of the key)
    monkeypatch.setattr(cache, "parser_version", lambda: "edited-parser")
    assert _read(cards_slice, cache_dir)[2] == 1
    assert _read(cards_slice, cache_dir)[2] == 0


def test_parser_version_covers_the_card_parser():
    assert "builder.cards" in cache.PARSER_MODULES and "advisor.types" in cache.PARSER_MODULES
    assert len(cache.parser_version()) == 64


def test_broken_or_foreign_cache_file_means_parse_again(cards_slice, tmp_path):
    cache_dir = tmp_path / "cache"
    _read(cards_slice, cache_dir)
    (file,) = (cache_dir / cache.PARSED_DIR).glob("cards2022-*.pickle")
    file.write_bytes(b"not a pickle")
    pairs, report, calls = _read(cards_slice, cache_dir)
    assert calls == 1 and len(pairs) == report.kept == SLICE_ROWS
    assert _read(cards_slice, cache_dir)[2] == 0  # rewritten


def test_unwritable_cache_dir_builds_uncached(cards_slice, tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder would go")
    pairs, _, calls = _read(cards_slice, blocker)
    assert calls == 1 and len(pairs) == SLICE_ROWS


def test_old_files_are_dropped(cards_slice, tmp_path):
    cache_dir = tmp_path / "cache"
    for limit in range(1, cache.KEEP_PER_SOURCE + 3):
        _read(cards_slice, cache_dir, limit=limit)
    files = list((cache_dir / cache.PARSED_DIR).glob("cards2022-*.pickle"))
    assert len(files) == cache.KEEP_PER_SOURCE
    assert _read(cards_slice, cache_dir, limit=cache.KEEP_PER_SOURCE + 2)[2] == 0  # newest kept


def test_read_sources_gives_the_same_data_from_the_cache(corpus_dir, tmp_path):
    cfg = small_index_config(tmp_path / "index", corpus_dir).replace(cache_dir=tmp_path / "c")
    fresh = read_sources(cfg, limit=40)
    again = read_sources(cfg, limit=40)
    assert [asdict(m) for m in again.models] == [asdict(m) for m in fresh.models]
    assert [asdict(d) for d in again.model_docs] == [asdict(d) for d in fresh.model_docs]
    assert {k: r.as_dict() for k, r in again.reports.items()} == {
        k: r.as_dict() for k, r in fresh.reports.items()}
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "c" / "parsed").iterdir()) == [
        "cards2022", "hub2026"]


def test_report_of_a_cached_read_is_a_source_report(cards_slice, tmp_path):
    _read(cards_slice, tmp_path / "cache")
    _, report, _ = _read(cards_slice, tmp_path / "cache")
    assert isinstance(report, SourceReport) and report.name == "cards2022"
