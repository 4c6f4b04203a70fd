"""eval/dev_questions.jsonl: schema, exact category names, coverage, real model ids.

Ids say what a question exercises: ``sel-*`` model selection (carry ``task`` and
``good_models``), ``out-*`` interpreting a pasted output or error, ``gen-*`` the rest.
"""

from __future__ import annotations

import collections
import gzip
import json
from pathlib import Path

import pytest

from advisor.guidance import load_guidance
from advisor.taxonomy import CHALLENGE_CATEGORIES

DEV = Path(__file__).resolve().parents[1] / "eval" / "dev_questions.jsonl"
FIELDS = {"id", "question", "category", "subcategory", "task", "good_models", "key_points"}
MIN_QUESTIONS = 100
MIN_PER_CATEGORY = 3
MIN_SELECTION = 25
MIN_OUTPUT = 15


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_schema(rows):
    assert len(rows) >= MIN_QUESTIONS
    for r in rows:
        assert set(r) == FIELDS, r["id"]
        assert isinstance(r["question"], str) and len(r["question"]) >= 15
        assert r["category"] in CHALLENGE_CATEGORIES, r["id"]
        assert isinstance(r["good_models"], list) and isinstance(r["key_points"], list)
        assert 1 <= len(r["key_points"]) <= 4, r["id"]
        assert all(1 <= len(k.split()) <= 3 for k in r["key_points"]), r["id"]
        assert r["id"].split("-")[0] in {"sel", "out", "gen"}, r["id"]


def test_unique_ids_and_questions(rows):
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    qs = [" ".join(r["question"].lower().split()) for r in rows]
    assert len(qs) == len(set(qs))


def test_coverage(rows):
    per_cat = collections.Counter(r["category"] for r in rows)
    for c in CHALLENGE_CATEGORIES:
        assert per_cat[c] >= MIN_PER_CATEGORY, c
    selection = [r for r in rows if r["id"].startswith("sel-")]
    assert len(selection) >= MIN_SELECTION
    assert all(r["task"] and r["good_models"] for r in selection)
    assert sum(r["id"].startswith("out-") for r in rows) >= MIN_OUTPUT


def test_subcategories_are_codebook_names(rows):
    guidance = load_guidance()
    for r in rows:
        subs = guidance[r["category"]].subcategories
        if subs:
            assert r["subcategory"] in subs, r["id"]
        else:
            assert r["subcategory"] == "", r["id"]


def test_subcategories_match_codebook(rows, corpus_dir):
    from builder.report import SourceReport
    from builder.sources.taxonomy import read_taxonomy

    known = {
        (e.category, e.subcategory)
        for e in read_taxonomy(corpus_dir, SourceReport("taxonomy"))
        if e.kind == "challenge"
    }
    for r in rows:
        assert (r["category"], r["subcategory"]) in known, r["id"]


def test_good_models_exist_in_corpus(rows, corpus_dir):
    ids: set[str] = set()
    for name, key in (("model_cards_2022.jsonl.gz", "id"), ("hub_models_2026.jsonl.gz", "id")):
        with gzip.open(corpus_dir / name, "rt", encoding="utf-8") as f:
            for line in f:
                ids.add(json.loads(line)[key])
    missing = [(r["id"], m) for r in rows for m in r["good_models"] if m not in ids]
    assert not missing
