"""Insights aggregations on a seeded query log (invented questions), and the study's
trend tables read from the corpus at run time."""

from __future__ import annotations

import pandas as pd
import pytest

import advisor.maintainers.querylog as querylog_mod
from advisor.config import Config
from advisor.errors import CorpusNotFoundError
from advisor.maintainers import insights, trends
from advisor.maintainers.querylog import QueryLog
from advisor.taxonomy import CHALLENGE_CATEGORIES
from tests.conftest import FakeEmbedder

MEM = "Memory & Performance"
USAGE = "Model Usage and Understanding"

# (ts, question, category, confidence, unsure, intent, models, feedback, status)
SEED = [
    (
        "2026-03-02T10:00:00+00:00",
        "CUDA out of memory when fine-tuning bert",
        MEM,
        0.8,
        False,
        "challenge",
        [],
        None,
        "answered",
    ),
    (
        "2026-03-03T10:00:00+00:00",
        "cuda out of memory fine-tuning bert-base",
        MEM,
        0.7,
        False,
        "challenge",
        [],
        "dislike",
        "answered",
    ),
    (
        "2026-03-04T10:00:00+00:00",
        "Out of memory fine-tuning BERT on CUDA",
        MEM,
        0.75,
        False,
        "challenge",
        [],
        None,
        "answered",
    ),
    (
        "2026-03-10T09:00:00+00:00",
        "what does LABEL_1 mean in my output",
        USAGE,
        0.2,
        True,
        "explain",
        [],
        None,
        "answered",
    ),
    (
        "2026-03-11T09:00:00+00:00",
        "What does LABEL_1 mean in the output?",
        USAGE,
        0.3,
        False,
        "explain",
        [],
        "like",
        "answered",
    ),
    (
        "2026-03-11T12:00:00+00:00",
        "best model for german sentiment",
        USAGE,
        0.25,
        False,
        "recommend",
        ["x/ger-sent", "y/multi"],
        "dislike",
        "answered",
    ),
    (
        "2026-03-12T12:00:00+00:00",
        "how do I deploy a quantum toaster",
        None,
        0.1,
        True,
        "challenge",
        [],
        None,
        "answered",
    ),
    ("2026-03-12T13:00:00+00:00", "", None, None, False, None, [], None, "refused"),
]


@pytest.fixture
def seeded(tmp_path, monkeypatch) -> pd.DataFrame:
    stamps = iter(s[0] for s in SEED)
    monkeypatch.setattr(querylog_mod, "_now", lambda: next(stamps))
    qlog = QueryLog(Config(log_db=str(tmp_path / "log.sqlite")))
    for _, q, cat, conf, unsure, intent, models, fb, status in SEED:
        rid = qlog.record(
            q,
            category=cat,
            confidence=conf,
            unsure=unsure,
            intent=intent,
            models=models,
            status=status,
            reason="empty" if status == "refused" else "",
        )
        if fb:
            qlog.feedback(rid, liked=fb == "like")
    return qlog.dataframe()


def test_category_counts_per_week(seeded):
    out = insights.category_counts(seeded, freq="W")
    assert list(out.columns) == ["period", "category", "questions"]
    assert out["questions"].sum() == 7  # the refused row is not counted
    week1 = out[out["period"] == pd.Timestamp("2026-03-02")]
    assert dict(zip(week1["category"], week1["questions"], strict=True)) == {MEM: 3}
    week2 = out[out["period"] == pd.Timestamp("2026-03-09")]
    assert dict(zip(week2["category"], week2["questions"], strict=True)) == {
        USAGE: 3,
        insights.UNCLASSIFIED: 1,
    }
    daily = insights.category_counts(seeded, freq="D")
    assert daily["period"].nunique() == 6


def test_recurring_questions_token_similarity(seeded):
    out = insights.recurring_questions(seeded)
    assert list(out["count"]) == [3, 2]
    assert out.loc[0, "category"] == MEM and out.loc[0, "dislikes"] == 1
    assert "label_1" in out.loc[1, "question"].lower()
    # singletons are not recurring; a stricter threshold keeps only same-word rewordings
    assert "quantum" not in " ".join(out["question"])
    strict = insights.recurring_questions(seeded, threshold=0.95)
    assert list(strict["count"]) == [2, 2]
    assert "bert-base" not in " ".join(strict["question"] + strict["examples"])


def test_recurring_questions_with_embedder(seeded):
    out = insights.recurring_questions(seeded, embedder=FakeEmbedder(dim=256), threshold=0.6)
    assert out.loc[0, "count"] == 3 and out.loc[0, "category"] == MEM


def test_disliked_answers(seeded):
    out = insights.disliked_answers(seeded)
    assert list(out["question"]) == [
        "best model for german sentiment",
        "cuda out of memory fine-tuning bert-base",
    ]
    assert out.loc[0, "models"] == "x/ger-sent, y/multi"


def test_coverage_gaps_with_suggestions(seeded, tmp_path):
    guidance = tmp_path / "guidance"
    guidance.mkdir()
    (guidance / "memory-performance.md").write_text("# invented page\n")
    out = insights.coverage_gaps(seeded, guidance_dir=guidance)
    by_cat = out.set_index("category")
    # usage: two low-confidence explain questions + one disliked recommendation
    assert by_cat.loc[USAGE, "questions"] == 3
    assert by_cat.loc[USAGE, "dislikes"] == 1
    assert out.loc[0, "category"] == USAGE  # most frequent first
    # memory: only the disliked one counts; its page exists -> extend it
    assert by_cat.loc[MEM, "questions"] == 1
    assert "Extend prompts/guidance/memory-performance.md" in by_cat.loc[MEM, "suggested_fix"]
    assert "quantum" in by_cat.loc[insights.UNCLASSIFIED, "suggested_fix"]
    # a missing page is named as such
    seeded2 = seeded.assign(intent="challenge")
    gaps2 = insights.coverage_gaps(seeded2, guidance_dir=guidance).set_index("category")
    assert "Missing guidance page" in gaps2.loc[USAGE, "suggested_fix"]


def test_coverage_gaps_recommend_points_at_card(seeded):
    recs = seeded[seeded["intent"] == "recommend"]
    out = insights.coverage_gaps(recs, guidance_dir=None)
    assert "model card of x/ger-sent" in out.loc[0, "suggested_fix"]


def test_empty_log(tmp_path):
    df = QueryLog(Config(log_db=str(tmp_path / "l.sqlite"))).dataframe()
    assert insights.category_counts(df).empty
    assert insights.recurring_questions(df).empty
    assert insights.disliked_answers(df).empty
    assert insights.coverage_gaps(df).empty
    assert insights.status_counts(df) == {
        "answered": 0,
        "refused": 0,
        "error": 0,
        "likes": 0,
        "dislikes": 0,
    }


def test_status_counts(seeded):
    assert insights.status_counts(seeded) == {
        "answered": 7,
        "refused": 1,
        "error": 0,
        "likes": 1,
        "dislikes": 2,
    }


def test_trend_tables_from_corpus(corpus_dir):
    mentions = trends.forum_model_mentions(corpus_dir, top=5)
    assert mentions["model"].nunique() == 5
    assert mentions["topics"].min() >= 0
    assert mentions["month"].dt.year.min() == 2020
    types = trends.hub_model_types(corpus_dir, top=3)
    assert types["model_type"].nunique() == 3
    assert "SUM" not in set(types["model_type"])
    ratio = trends.card_ratio(corpus_dir)
    assert ratio["card_ratio"].between(0, 1).all()
    counts = trends.category_counts(corpus_dir)
    challenges = counts[counts["kind"] == "challenge"]
    assert set(challenges["category"]) == set(CHALLENGE_CATEGORIES)
    assert (counts["kind"] == "benefit").sum() == 6


def test_trends_missing_corpus(tmp_path):
    assert not trends.corpus_available(tmp_path)
    with pytest.raises(CorpusNotFoundError, match="ADVISOR_CORPUS_DIR"):
        trends.card_ratio(tmp_path)
