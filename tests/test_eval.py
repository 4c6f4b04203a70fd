"""advisor.eval end to end on the small index with an invented questions file."""

from __future__ import annotations

import json

import pytest

import advisor.embedding
from advisor.eval import hit_at, key_point_coverage, main, model_matches
from tests.conftest import FakeEmbedder

QUESTIONS = [
    {"id": "q1", "question": "CUDA out of memory when fine-tuning, what should I do?",
     "category": "Memory and Performance", "key_points": ["batch", "gradient_accumulation_steps",
                                                           "zzz-not-there"],
     "known_issue": "cuda-out-of-memory-during-training"},
    {"id": "q2", "question": "Which model should I use for sentiment analysis of english reviews?",
     "category": "Specific Solution Need", "good_models": ["bert", "nobody/none"],
     "key_points": ["pipeline"]},
    {"id": "q3", "question": "How do I deploy my model to a Space with Gradio?"},
]


@pytest.fixture
def questions_file(tmp_path):
    p = tmp_path / "q.jsonl"
    lines = [json.dumps(q) for q in QUESTIONS]
    lines.insert(1, "{not json")
    lines.insert(2, json.dumps({"id": "nq"}))  # no question
    lines.append("")
    lines.append(json.dumps({"id": "bad", "question": "x", "good_models": "bert"}))
    p.write_text("\n".join(lines) + "\n")
    return p


def test_cli_end_to_end(small_index_dir, questions_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ADVISOR_EMBED_MODEL", FakeEmbedder().model_id)
    monkeypatch.setattr(advisor.embedding, "get_embedder", lambda model, backend="torch", **kw: FakeEmbedder())
    details = tmp_path / "out.jsonl"
    rc = main([str(questions_file), "--index-dir", str(small_index_dir), "--details", str(details)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["n"] == 3 and summary["skipped_lines"] == 3
    assert "q.jsonl:2" in captured.err and "q.jsonl:3" in captured.err
    assert summary["category_n"] == 2 and summary["selection_n"] == 1
    assert summary["key_points_n"] == 2
    assert 0.0 <= summary["category_top1"] <= summary["category_top3"] <= 1.0
    assert summary["latency_ms_p50"] <= summary["latency_ms_p95"]

    rows = [json.loads(x) for x in details.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2", "q3"]
    for r in rows:
        assert set(r) == {"id", "categories", "subcategory", "models", "answer", "citations",
                          "known_issues", "also_check", "latency_ms"}
        assert all(isinstance(k, str) for k in r["known_issues"] + r["also_check"])
        assert not set(r["known_issues"]) & set(r["also_check"])
        assert 1 <= len(r["categories"]) <= 3 and r["answer"] and r["citations"]
        assert all(set(c) == {"kind", "id", "url"} for c in r["citations"])
    # the summary's numbers agree with the details written
    q2 = rows[1]
    assert summary["selection_hit@5"] == float(hit_at(["bert", "nobody/none"], q2["models"]))
    cov_q1 = key_point_coverage(QUESTIONS[0]["key_points"], rows[0]["answer"])
    cov_q2 = key_point_coverage(["pipeline"], q2["answer"])
    assert cov_q1 < 1.0  # "zzz-not-there" is never in an answer
    assert summary["key_point_coverage"] == pytest.approx((cov_q1 + cov_q2) / 2, abs=1e-4)
    top1 = [r["categories"][0] for r in rows[:2]]
    expected = sum([top1[0] == "Memory & Performance", top1[1] == "Specific Solution Need"]) / 2
    assert summary["category_top1"] == pytest.approx(expected)
    # the known issue counts when the answer leads with it or lists it after the fixes
    entry = QUESTIONS[0]["known_issue"]
    assert summary["known_issue_n"] == 1
    assert summary["known_issue_lead_rate"] == float(entry in rows[0]["known_issues"])
    assert summary["known_issue_hit_rate"] == float(entry in rows[0]["known_issues"] + rows[0]["also_check"])


def test_missing_index_is_one_line_error(tmp_path, questions_file, capsys, monkeypatch):
    monkeypatch.setattr(advisor.embedding, "get_embedder", lambda model, backend="torch", **kw: FakeEmbedder())
    monkeypatch.setenv("ADVISOR_EMBED_MODEL", FakeEmbedder().model_id)
    rc = main([str(questions_file), "--index-dir", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert rc == 1 and "python -m builder build" in err


def test_missing_questions_file(tmp_path, capsys):
    assert main([str(tmp_path / "nope.jsonl")]) == 1
    assert "No questions file" in capsys.readouterr().err


@pytest.mark.parametrize("good, rec, ok", [
    ("dslim/bert-base-NER", "dslim/bert-base-NER", True),
    ("dslim/bert-base-NER", "dslim/bert-large-NER", False),
    ("opus-mt", "Helsinki-NLP/opus-mt-en-de", True),
    ("OPUS-MT", "Helsinki-NLP/opus-mt-en-de", True),
    ("t5-small", "google/flan-t5-base", False),
])
def test_model_matches(good, rec, ok):
    assert model_matches(good, rec) is ok


def test_hit_at_only_first_five():
    recs = ["a/1", "a/2", "a/3", "a/4", "a/5", "b/target"]
    assert not hit_at(["b/target"], recs)
    assert hit_at(["target"], recs[-1:])


def test_question_words_quoted_back_in_the_category_line_never_count_as_key_points():
    from advisor.eval import without_echo

    answer = ('**Challenge category:** Training Pipeline (confidence 70%). Decided by: the words '
              '"padding side", "tokenizer"; a similar labelled question, "x" (https://x/1).')
    assert "padding side" not in without_echo(answer) and "similar labelled question" in without_echo(answer)
    point = ["Set the tokenizer padding side to left"]
    assert key_point_coverage(point, answer) > key_point_coverage(point, without_echo(answer)) == 0.0
