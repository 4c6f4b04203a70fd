"""The task vocabulary: beginner phrasings -> pipeline tags, languages, limits, snippets."""

from __future__ import annotations

import pytest

from advisor.tasks import (
    DEFAULT_CPU_MAX_PARAMS,
    DEFAULT_MOBILE_MAX_PARAMS,
    TASKS,
    parse_request,
)


@pytest.mark.parametrize("text, task", [
    ("sentiment of tweets", "text-classification"),
    ("Spanish NER", "token-classification"),
    ("extract names of people and companies from emails", "token-classification"),
    ("transcribe German audio", "automatic-speech-recognition"),
    ("turn my lecture recordings into text", "automatic-speech-recognition"),
    ("summarize news articles", "summarization"),
    ("translate English to French", "translation"),
    ("I want to build a chatbot", "text-generation"),
    ("generate text like a story", "text-generation"),
    ("question answering over a paragraph", "question-answering"),
    ("zero-shot classification of tickets", "zero-shot-classification"),
    ("classify images of dogs", "image-classification"),
    ("object detection in street photos", "object-detection"),
    ("embeddings for semantic search", "sentence-similarity"),
    ("fill in the blank", "fill-mask"),
    ("text-to-image generation", "text-to-image"),
    ("text to speech for my app", "text-to-speech"),
    ("OCR for scanned receipts", "image-to-text"),
    ("answer questions about a spreadsheet", "table-question-answering"),
])
def test_task_cues(text, task):
    req = parse_request(text)
    assert req.task == task, req.cues
    assert any(task in c for c in req.cues)


def test_unknown_text_has_no_task():
    assert parse_request("hello there").task is None


@pytest.mark.parametrize("text, langs", [
    ("Spanish NER", ["es"]),
    ("ner for es text", ["es"]),
    ("translate English to French", ["en", "fr"]),
    ("a multilingual embedding model", ["multilingual"]),
    ("is it good for UK English?", ["en"]),  # "it"/"UK" are not language codes here
    ("hi, which model for summaries?", []),
])
def test_languages(text, langs):
    assert parse_request(text).languages == langs


def test_limits_licence_library():
    req = parse_request("chatbot that runs on CPU, commercial use, gguf")
    assert (req.license_family, req.library, req.cpu_only) == ("oss", "gguf", True)
    assert req.max_params == DEFAULT_CPU_MAX_PARAMS
    assert parse_request("model for my phone").max_params == DEFAULT_MOBILE_MAX_PARAMS
    assert parse_request("text generation under 1.5B parameters").max_params == 1_500_000_000
    assert parse_request("under 300M params, pytorch").max_params == 300_000_000
    assert parse_request("for non-commercial research only").license_family is None
    assert parse_request("a 7B model").max_params is None  # a size, not a limit


def test_translation_pair_keyword():
    assert "en-fr" in parse_request("translate English to French").keywords


def test_every_task_has_a_title_and_description():
    """prompts/tasks.yaml: the task model learns from these descriptions."""
    assert len(TASKS) >= 25
    for tag, spec in TASKS.items():
        assert spec.tag == tag and spec.title and len(spec.description.split()) >= 8, tag
