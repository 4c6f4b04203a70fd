"""Guidance files: every challenge category has one, parsed into non-empty sections."""

from __future__ import annotations

import pytest

from advisor.errors import CorpusNotFoundError
from advisor.guidance import PROMPTS_DIR, load_guidance, parse_guidance
from advisor.taxonomy import CHALLENGE_CATEGORIES, slug


def test_every_category_has_complete_guidance():
    guidance = load_guidance()
    assert set(guidance) == set(CHALLENGE_CATEGORIES)
    for category, g in guidance.items():
        assert (PROMPTS_DIR / f"{slug(category)}.md").exists()
        assert g.category == category
        assert len(g.summary) > 80, category
        assert len(g.causes) >= 3, category
        assert len(g.steps) >= 3, category
        assert 10 <= len(g.typical_questions) <= 20, category
        assert g.docs and all(url.startswith("https://") for _, url in g.docs), category


def test_typical_questions_are_unique_across_categories():
    seen: dict[str, str] = {}
    for category, g in load_guidance().items():
        for q in g.typical_questions:
            key = " ".join(q.lower().split())
            assert key not in seen, f"{q!r} in {category} and {seen.get(key)}"
            seen[key] = category


def test_guidance_questions_are_not_dev_questions():
    """The dev set must not leak into classifier training data."""
    import json

    dev = {
        " ".join(json.loads(line)["question"].lower().split())
        for line in (PROMPTS_DIR.parents[1] / "eval" / "dev_questions.jsonl").open()
    }
    for g in load_guidance().values():
        for q in g.typical_questions:
            assert " ".join(q.lower().split()) not in dev


def test_subcategories_parsed_from_header():
    g = load_guidance()["Memory & Performance"]
    assert g.subcategories == ["GPU & Optimization", "Speed", "Memory", "Large Files"]
    assert load_guidance()["Spaces"].subcategories == []


def test_parse_is_tolerant():
    text = """# memory and performance
Subcategories: Memory

## summary:
Too little memory.

## What to try
* lower the batch size
  and accumulate gradients
1. use bf16

## Unknown section
- ignored

## Docs
- https://example.org/docs plain link
- [Title](https://example.org/t)
"""
    g = parse_guidance(text)
    assert g.category == "Memory & Performance"
    assert g.summary == "Too little memory."
    assert g.steps == ["lower the batch size and accumulate gradients", "use bf16"]
    assert g.causes == [] and g.typical_questions == []
    assert g.docs == [("plain link", "https://example.org/docs"), ("Title", "https://example.org/t")]


def test_bad_title_uses_fallback_and_unknown_files_are_skipped(tmp_path):
    (tmp_path / "spaces.md").write_text("# Something else\n\n## Summary\nS.\n")
    (tmp_path / "not-a-category.md").write_text("# Spaces\n")
    out = load_guidance(tmp_path)
    assert list(out) == ["Spaces"]
    assert out["Spaces"].summary == "S."
    with pytest.raises(ValueError):
        parse_guidance("# Not a category\n")


def test_missing_dir_is_a_typed_error(tmp_path):
    with pytest.raises(CorpusNotFoundError, match="guidance"):
        load_guidance(tmp_path / "nope")
