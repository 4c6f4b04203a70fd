"""The real-question sets: frozen splits, disjoint sources, valid labels.

These files are the project's measure of quality (see bench/RESULTS.md); the test keeps
them honest: every row carries the split its URL hashes to, no URL appears in two files
(the training posts stay apart from both evaluation sets), labels use codebook names,
and every good model of a request exists in the corpus.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from advisor.eval import split_of
from advisor.taxonomy import CHALLENGE_CATEGORIES

EVAL = Path(__file__).resolve().parents[1] / "eval"
FILES = {"requests": "real_requests.jsonl", "questions": "real_questions.jsonl",
         "train": "train_posts.jsonl", "train_requests": "train_requests.jsonl"}
MINIMUM = {"requests": 120, "questions": 150, "train": 300, "train_requests": 50}


def _rows(name: str) -> list[dict]:
    return [json.loads(x) for x in (EVAL / FILES[name]).read_text(encoding="utf-8").splitlines()
            if x.strip()]


@pytest.mark.parametrize("name", list(FILES))
def test_rows_are_complete_and_split_by_url_hash(name):
    rows = _rows(name)
    assert len(rows) >= MINIMUM[name]
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["source_url"].startswith("https://"), r["id"]
        assert r["split"] == split_of(r["source_url"]), r["id"]
        assert len(r["question"].split()) >= 8, r["id"]
    halves = Counter(r["split"] for r in rows)
    assert min(halves.values()) >= 0.35 * len(rows)


def test_no_url_in_two_sets():
    seen: dict[str, str] = {}
    for name in FILES:
        for r in _rows(name):
            assert r["source_url"] not in seen, (r["source_url"], seen.get(r["source_url"]), name)
            seen[r["source_url"]] = name


@pytest.mark.parametrize("name", ["questions", "train"])
def test_categories_are_codebook_names_and_cover_the_taxonomy(name):
    rows = _rows(name)
    cats = Counter(r["category"] for r in rows)
    assert set(cats) <= set(CHALLENGE_CATEGORIES)
    assert len(cats) == len(CHALLENGE_CATEGORIES)
    if name == "questions":
        assert sum(bool(r.get("has_paste")) for r in rows) >= 30
        assert all(2 <= len(r["key_points"]) <= 4 for r in rows)


def test_known_issue_labels_name_entries_of_the_knowledge_base():
    """Rows labelled with a known issue (the tune/test questions and the training posts
    that bench.kb_fit learns from) name an existing entry, or null, and carry key points."""
    from advisor.known_issues import load_known_issues

    ids = {i.id for i in load_known_issues()}
    labelled = [r for name in ("questions", "train") for r in _rows(name) if "known_issue" in r]
    assert len(labelled) >= 400
    assert sum(bool(r["known_issue"]) for r in labelled) >= 150
    assert {r["known_issue"] for r in labelled if r["known_issue"]} <= ids
    for r in labelled:  # a known-issue label is judged against the answer's key points
        assert 1 <= len(r["key_points"]) <= 6, r["id"]


def test_requests_cover_tasks_languages_and_exist_in_the_corpus(corpus_dir):
    rows = _rows("requests")
    assert len({r["task"] for r in rows}) >= 20
    langs = {lang for r in rows for lang in (r.get("constraints") or {}).get("languages") or []}
    assert len(langs) >= 10
    ids = set()
    for name in ("model_cards_2022.jsonl.gz", "hub_models_2026.jsonl.gz"):
        with gzip.open(corpus_dir / name, "rt", encoding="utf-8") as f:
            for line in f:
                try:
                    ids.add(json.loads(line)["id"])
                except (ValueError, KeyError):
                    continue
    for r in rows:
        assert 2 <= len(r["good_models"]) <= 6, r["id"]
        missing = [g for g in r["good_models"] if g not in ids]
        assert not missing, (r["id"], missing)
    # the training requests' good models (ranking weights and related tasks learn from
    # them): 0 when nothing in the corpus fits, else 1-6 ids that exist (one when the corpus
    # holds only one model that fits: a hand-keypoint request)
    train = _rows("train_requests")
    assert sum(bool(r.get("good_models")) for r in train) >= 0.9 * len(train)
    for r in train:
        assert len(r["good_models"]) <= 6, r["id"]
        missing = [g for g in r["good_models"] if g not in ids]
        assert not missing, (r["id"], missing)


def test_intent_training_rows_never_read_a_test_question():
    """The intent model learns from the training-only requests (both halves), the tune
    requests and questions, the train posts and the dev set; no row of the test halves
    of the evaluation files."""
    from advisor.intent import training_rows

    texts, labels = training_rows(EVAL)
    held_out = {r["question"] for name in ("requests", "questions") for r in _rows(name)
                if r["split"] == "test"}
    assert not held_out & set(texts)
    positives = {t for t, y in zip(texts, labels, strict=True) if y == 1}
    assert {r["question"] for r in _rows("train_requests")} <= positives
    assert {r["question"] for r in _rows("requests") if r["split"] == "tune"} <= positives
