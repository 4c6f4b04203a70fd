"""advisor.request: one input -> one checked Request (no index, no model)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from advisor.config import Config
from advisor.errors import InvalidInputError, RateLimitError
from advisor.request import make_request, normalise_history
from advisor.validate import RateLimiter

CFG = Config(max_question_chars=200, max_output_chars=2000)
PICK = "Which model should I use for sentiment analysis of German reviews?"
TRACEBACK = "Traceback (most recent call last):\n" + '  File "x.py", line 1\n' * 30 + \
    "RuntimeError: CUDA out of memory."


@dataclass
class ChatMessage:  # the shape of gradio's ChatMessage
    role: str
    content: object
    metadata: dict | None = None


def test_clean_once_with_the_usual_messages():
    req = make_request("  How do I\x00 fix OOM? hf_" + "a" * 30, CFG)
    assert req.text == "How do I fix OOM? [REDACTED]" and req.query == req.text
    with pytest.raises(InvalidInputError, match="type a question"):
        make_request("   ", CFG)
    with pytest.raises(InvalidInputError, match="limit is 200"):
        make_request("why " * 100, CFG)
    with pytest.raises(InvalidInputError, match="max_parameters"):
        make_request("x", CFG, kind="recommend", filters={"max_parameters": "lots"})
    with pytest.raises(InvalidInputError, match="paste the model output"):
        make_request("", CFG, kind="explain")


def test_a_long_paste_in_the_chat_gets_the_output_limit():
    assert len(TRACEBACK) > CFG.max_question_chars
    assert make_request(TRACEBACK, CFG).text.endswith("CUDA out of memory.")
    with pytest.raises(InvalidInputError, match="limit is 2,000"):
        make_request(TRACEBACK * 5, CFG)


def test_rate_limit_counts_checked_requests_only():
    limiter = RateLimiter(2)
    with pytest.raises(InvalidInputError):  # refused before it counts
        make_request("", CFG, session="s", limiter=limiter)
    for _ in range(2):
        make_request(PICK, CFG, session="s", limiter=limiter)
    with pytest.raises(RateLimitError, match="2 per minute"):
        make_request(PICK, CFG, session="s", limiter=limiter)
    make_request(PICK, CFG, session="other", limiter=limiter)


def test_follow_up_reuses_the_last_model_request():
    history = [{"role": "user", "content": PICK}, {"role": "assistant", "content": "..."}]
    req = make_request("and a smaller one?", CFG, history=history)
    assert req.query.startswith(PICK) and req.query.endswith("small")
    assert req.text == "and a smaller one?" and "reusing your earlier request" in req.follow_up
    alone = make_request("and a smaller one?", CFG)
    assert alone.query == alone.text and alone.follow_up is None


def test_explain_request_keeps_the_model_id():
    req = make_request("[{'label': 'LABEL_1'}]", CFG, kind="explain", model_id=" acme/x ")
    assert req.kind == "explain" and req.model_id == "acme/x"


def test_normalise_history_all_shapes():
    history = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "assistant", "content": "1. [T](u) (thread)", "metadata": {"title": "📚 Sources"}},
        ChatMessage("user", [{"type": "text", "text": "q2"}, "more"]),
        ChatMessage("assistant", "a2", metadata={}),
        ("q3", "a3"),
        ("q4", None),
        {"role": "system", "content": "ignored"},
        {"role": "user", "content": "   "},
    ]
    assert normalise_history(history) == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2 more"},
        {"role": "assistant", "content": "a2"},
        {"role": "user", "content": "q3"},
        {"role": "assistant", "content": "a3"},
        {"role": "user", "content": "q4"},
    ]
    assert normalise_history(None) == []
