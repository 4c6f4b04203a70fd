"""Input length: what a request needs read at once and what a model family reads."""

from __future__ import annotations

import pytest

from advisor.context import (
    LONG_WITHOUT_NUMBER,
    NEEDS_FROM,
    detect_min_tokens,
    load_context_lengths,
    model_context,
)
from advisor.pools import LONG_INPUT_BONUS, SHORT_INPUT_PENALTY, input_fit
from advisor.types import ModelInfo


@pytest.mark.parametrize("text, need", [
    ("My contexts are longer than 512 tokens and the answer gets cut off", 513),
    ("the source texts are around 4K tokens", 4000),
    ("patents average about 30k words", 39000),
    ("Can it take inputs longer than 1,024 tokens?", 1025),
    ("a 10k-word document", 13000),
    ("I want to summarize long documents", LONG_WITHOUT_NUMBER),
    ("both sentences are under 128 tokens", None),
    ("sentiment of English tweets", None),
    ("segment 512x512 images", None),
])
def test_detect_min_tokens(text, need):
    got, cue = detect_min_tokens(text)
    assert got == need
    assert (cue is None) == (need is None)
    assert need is None or need > NEEDS_FROM


def _m(mid: str, tags: list[str]) -> ModelInfo:
    return ModelInfo(id=mid, source="2022", tags=tags)


def test_model_context_reads_family_tags_from_the_data_file():
    table = load_context_lengths()
    assert table["bert"] == 512 and table["led"] > 4096
    assert model_context(_m("a/led", ["pytorch", "led"])) == table["led"]
    assert model_context(_m("a/b", ["pytorch", "bert"])) == 512
    assert model_context(_m("a/unknown", ["pytorch"])) is None


def test_input_fit_ranks_long_readers_up_short_ones_down_unknown_alone():
    need = 4000
    assert input_fit(_m("a/led", ["led"]), need) == LONG_INPUT_BONUS
    assert input_fit(_m("a/bert", ["bert"]), need) == -SHORT_INPUT_PENALTY
    assert input_fit(_m("a/x", []), need) == 0.0


def test_a_long_input_request_prefers_models_that_read_it():
    """End to end through the request reading and the pool: a long-document request
    ranks a long-context model of the task above an equally popular 512-token one."""
    from advisor.recommender import Recommender

    models = {m.id: m for m in [
        ModelInfo(id="org/bert-summarizer", source="2022", pipeline_tag="summarization",
                  tags=["bert", "summarization"], downloads=1000, likes=5),
        ModelInfo(id="org/led-summarizer", source="2022", pipeline_tag="summarization",
                  tags=["led", "summarization"], downloads=1000, likes=5)]}
    rec = Recommender(models)
    short = [r.model_id for r in rec.recommend("a summarization model for news", k=2)]
    long = [r.model_id for r in rec.recommend(
        "a summarization model for documents of about 6k tokens", k=2)]
    assert long[0] == "org/led-summarizer"
    assert set(short) == set(long)


def test_the_understood_line_names_the_input_length():
    from advisor.tasks import ModelRequest
    from advisor.understanding import request_line

    line = request_line(ModelRequest(text="x", task="summarization", min_tokens=6000))
    assert "inputs of ~6,000 tokens" in line
    assert "tokens" not in request_line(ModelRequest(text="x", task="summarization"))
