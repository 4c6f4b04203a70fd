"""Request understanding: a text task word does not override the learned modality."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.taskmodel import TaskGuess
from advisor.tasks import load_modalities, parse_request
from advisor.understanding import (
    CUE_MODALITY_MIN,
    MODALITY_DOMINANT,
    RequestUnderstanding,
    modality_against,
    modality_mass,
)


class FixedTaskModel:
    """A task model that reads every request as the same distribution over tags."""

    def __init__(self, probs: dict[str, float]):
        self.labels = list(probs)
        self.p = np.array(list(probs.values()), float)

    def predict(self, text, qvec=None, k=3):
        order = np.argsort(-self.p)[:k]
        return [TaskGuess(self.labels[i], float(self.p[i]), "learned from model cards")
                for i in order]


AUDIO_READ = {"audio-classification": 0.55, "automatic-speech-recognition": 0.25,
              "text-classification": 0.15, "token-classification": 0.05}
TEXT_READ = {"text-classification": 0.5, "audio-classification": 0.3,
             "automatic-speech-recognition": 0.2}
SPEECH = "Which model can recognise emotions such as anger in speech recordings?"


def guesses(probs: dict[str, float]) -> list[TaskGuess]:
    return FixedTaskModel(probs).predict("", k=len(probs))


def test_modalities_file_groups_the_hub_tasks():
    mods = load_modalities()
    assert mods["automatic-speech-recognition"] == "audio"
    assert mods["object-detection"] == "vision"
    assert mods["text-classification"] == "text"
    assert set(mods.values()) == {"audio", "vision", "text"}


def test_modality_mass_sums_the_probabilities_per_modality():
    mass = modality_mass(guesses(AUDIO_READ))
    assert mass["audio"] == pytest.approx(0.8)
    assert mass["text"] == pytest.approx(0.2)


def test_a_text_cue_is_set_aside_only_against_a_dominant_other_modality():
    assert AUDIO_READ["text-classification"] + 0.05 < CUE_MODALITY_MIN
    assert modality_against("text-classification", guesses(AUDIO_READ)) == "audio"
    # text holds enough of the probability: the word counts
    assert modality_against("text-classification", guesses(TEXT_READ)) is None
    balanced = {"audio-classification": MODALITY_DOMINANT - 0.1, "text-classification": 0.3,
                "object-detection": 0.3}
    assert modality_against("text-classification", guesses(balanced)) is None
    # audio and vision words name their modality: never set aside
    vision_cue_text_read = {"fill-mask": 0.9, "image-to-text": 0.1}
    assert modality_against("image-to-text", guesses(vision_cue_text_read)) is None


def test_understanding_follows_the_learned_modality_over_a_text_word():
    assert parse_request(SPEECH).task == "text-classification"  # the word alone
    reader = RequestUnderstanding({}, None, FixedTaskModel(AUDIO_READ))
    req, _ = reader.build_request(SPEECH)
    assert req.task == "audio-classification"
    assert any("set aside" in c and "audio" in c for c in req.cues)
    assert not any(c.endswith("-> text-classification") for c in req.cues)


def test_understanding_keeps_the_text_word_when_the_learned_model_agrees():
    reader = RequestUnderstanding({}, None, FixedTaskModel(TEXT_READ))
    req, _ = reader.build_request("Which model can recognise emotions such as anger in tweets?")
    assert req.task == "text-classification"
    assert not any("set aside" in c for c in req.cues)


def _models_of(spec: list[tuple[str, str, str]]):
    from advisor.types import ModelInfo

    return {mid: ModelInfo(id=mid, pipeline_tag=tag, library=lib, tags=[lib], downloads=1,
                            source="2026")
            for mid, tag, lib in spec}


# a library that loads two tasks, and one that loads every task
LIB_MODELS = _models_of(
    [(f"st/m{i}", "sentence-similarity", "sentence-transformers") for i in range(8)]
    + [(f"st/f{i}", "feature-extraction", "sentence-transformers") for i in range(2)]
    + [(f"tf/qa{i}", "question-answering", "transformers") for i in range(20)]
    + [(f"tf/{t}{i}", t, "transformers") for i in range(5)
       for t in ("sentence-similarity", "text-classification")])
QA_READ = {"question-answering": 0.55, "sentence-similarity": 0.35, "text-classification": 0.1}


def test_a_named_library_weighs_the_tasks_its_models_have():
    """The Haystack question: QA words, but 'sentence-transformers models' -> similarity."""
    reader = RequestUnderstanding(LIB_MODELS, None, FixedTaskModel(QA_READ))
    req, _ = reader.build_request(
        "Is there a tutorial for semantic document search using sentence-transformers models?")
    assert req.library == "sentence-transformers"
    assert req.task == "sentence-similarity"
    assert sum(p for _, p in req.task_alternatives) + req.task_confidence <= 1.0 + 1e-6


def test_a_library_of_every_task_changes_nothing():
    with_lib = RequestUnderstanding(LIB_MODELS, None, FixedTaskModel(QA_READ))
    ratio = with_lib._library_ratio("transformers")
    assert ratio and all(abs(v - 1.0) < 0.35 for v in ratio.values())
    assert with_lib._library_ratio("no-such-library") == {}


VAD_READ = {"voice-activity-detection": 0.8, "automatic-speech-recognition": 0.15,
            "audio-classification": 0.05}
BEFORE_ASR = ("Is there a model that detects when someone is speaking in a recording, so I "
              "can cut the silence before transcription?")


def test_an_outvoted_task_cue_takes_its_boost_words_with_it():
    """"transcription" cues ASR and its model-family boost words; when the request is read
    (or filtered) as another task, those words no longer lift ASR ids in the ranking."""
    cue = parse_request(BEFORE_ASR)
    assert cue.task == "automatic-speech-recognition" and "whisper" in cue.keywords
    read, _ = RequestUnderstanding({}, None, FixedTaskModel(VAD_READ)).build_request(BEFORE_ASR)
    assert read.task == "voice-activity-detection" and "whisper" not in read.keywords
    plain = RequestUnderstanding({}, None, None)
    chosen, _ = plain.build_request(BEFORE_ASR, {"task": "voice-activity-detection"})
    assert "whisper" not in chosen.keywords
    kept, _ = plain.build_request(BEFORE_ASR, {"task": "automatic-speech-recognition"})
    assert "whisper" in kept.keywords
    # tasks that stand in for each other keep the words (embedding models are tagged both)
    ask = "Which embeddings model should I use for semantic search over my documents?"
    assert "sentence-transformers" in parse_request(ask).keywords
    related, _ = plain.build_request(ask, {"task": "feature-extraction"})
    assert "sentence-transformers" in related.keywords


@pytest.mark.parametrize("text, langs", [
    ("summarization models for languages other than English", ["multilingual"]),
    ("embeddings for non-English notes, especially Japanese", ["ja", "multilingual"]),
    ("summarize English and other languages", ["en", "multilingual"]),
    ("a German sentiment model", ["de"]),
])
def test_other_than_english_asks_for_the_other_languages(text, langs):
    req, _ = RequestUnderstanding({}, None, None).build_request(text)
    assert req.languages == langs
    assert ("-> en" in " ".join(req.cues)) == ("en" in langs)
