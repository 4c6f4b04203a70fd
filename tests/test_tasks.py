"""The task vocabulary: beginner phrasings -> pipeline tags, languages, limits, snippets."""

from __future__ import annotations

import pytest

from advisor.sizes import (
    DEFAULT_CPU_MAX_PARAMS,
    DEFAULT_EDGE_LLM_MAX_PARAMS,
    DEFAULT_MOBILE_MAX_PARAMS,
    apply_size_budget,
)
from advisor.tasks import TASKS, parse_request


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
    assert parse_request("an app for phone microphone input").max_params == \
        DEFAULT_MOBILE_MAX_PARAMS
    # the data, not the device
    assert parse_request("emotion in phone call recordings").max_params is None
    assert parse_request("find phone numbers in emails").max_params is None
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


@pytest.mark.parametrize("text, library, budget", [
    ("Which LLM fits a 4 GB GPU?", None, 1_500_000_000),
    ("my GPU has only 6GB", None, 2_200_000_000),
    ("Mac M1 with 8 GB of RAM, in GPT4All", "gguf", 10_000_000_000),
    ("16GB VRAM, 4-bit quantized is fine", None, 20_000_000_000),
    ("8 GB unified memory laptop", None, 3_000_000_000),
    ("the dataset is 8 GB of text files", None, None),
    ("I downloaded 20 GB of checkpoints", None, None),
])
def test_memory_named_in_a_request_becomes_a_size_budget(text, library, budget):
    from advisor.sizes import detect_memory_budget

    got, cue = detect_memory_budget(text, library)
    assert got == budget
    assert (cue is None) == (budget is None)


def test_memory_budget_reaches_the_request_and_keeps_the_tighter_limit():
    r = parse_request("a small chat model for my 24 GB GPU")  # "small": 1B is tighter
    assert r.max_params == 1_000_000_000
    r = parse_request("a chat model that runs in llama.cpp on 8 GB of RAM")
    assert r.library == "gguf" and r.max_params == 10_000_000_000
    assert any("8 GB" in c for c in r.cues)


@pytest.mark.parametrize("text, cpu_only", [
    ("which vision model fits my laptop's RTX 4090 with 16 GB of VRAM?", False),
    ("a summariser that runs on my laptop", True),
    ("my laptop without a GPU", True),
    ("my PC has an NVIDIA card; which ASR model?", False),
    ("it must run on CPU even though the server has a GPU", True),
])
def test_a_laptop_is_cpu_only_unless_a_gpu_is_named(text, cpu_only):
    req = parse_request(text)
    assert req.cpu_only is cpu_only
    assert (req.max_params == DEFAULT_CPU_MAX_PARAMS) is cpu_only


@pytest.mark.parametrize("text, budget", [
    ("I use whisper-small now; which ASR model is more accurate?", None),
    ("flair/ner-english-fast misses names: what else?", None),
    ("t5_small summaries are poor", None),
    ("a small-footprint ASR model", 1_000_000_000),
    ("a fast, cheap NER model", 1_000_000_000),
])
def test_a_size_word_inside_a_model_id_is_not_a_budget(text, budget):
    assert parse_request(text).max_params == budget


def test_a_budget_from_words_is_not_a_limit_but_numbers_are():
    """Words ("small", a phone, "8 GB") set the budget that ranks larger models lower;
    only a limit stated in numbers (or the max_params filter) drops them."""
    r = parse_request("a small sentiment model for my phone")
    assert r.max_params == DEFAULT_MOBILE_MAX_PARAMS and r.size_limit is None
    r = parse_request("a sentiment model for my phone, under 300M parameters")
    assert r.max_params == DEFAULT_MOBILE_MAX_PARAMS and r.size_limit == 300_000_000
    r = parse_request("a chat model for 8 GB of VRAM")
    assert r.max_params and r.size_limit is None


def test_a_phone_allows_a_small_chat_model_not_only_a_distilbert():
    """The device budget depends on the task: 100M fits a phone classifier, but nobody
    runs a 100M chat model; a re-inferred task re-derives the budget and its cue."""
    req = parse_request("a model for my Raspberry Pi")
    assert req.max_params == DEFAULT_MOBILE_MAX_PARAMS
    req.task = "text-generation"
    apply_size_budget(req)
    assert req.max_params == DEFAULT_EDGE_LLM_MAX_PARAMS
    assert sum("mobile/edge" in c for c in req.cues) == 1
    assert "2,000,000,000" in " ".join(req.cues)
    # an explicit size or memory still binds
    req = parse_request("a 4 GB phone, chat model under 500M parameters")
    req.task = "text-generation"
    apply_size_budget(req)
    assert req.max_params == 500_000_000


@pytest.mark.parametrize("text, wanted", [
    ("I want to fine-tune a model on my reviews", True),
    ("which base model should I finetune for NER in Dutch", True),
    ("a model only pre-trained on legal text", True),
    ("a sentiment model for German reviews", False),
    ("the model was fine", False),
])
def test_fine_tuning_wish(text, wanted):
    assert parse_request(text).fine_tune is wanted
