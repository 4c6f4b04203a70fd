"""The learned language order (advisor.ask_language): features, labels, fit, order, the
saved file and its use when a request is read. Invented requests and model records."""

from __future__ import annotations

import json

from advisor import ask_language as A
from advisor.types import ModelInfo

MODELS = {
    "zh-a": ModelInfo("zh-a", "2022", "text-classification", languages=["zh"]),
    "zh-b": ModelInfo("zh-b", "2022", "text-classification", languages=["zh"]),
    "en-a": ModelInfo("en-a", "2022", "text-classification", languages=["en"]),
    "de-a": ModelInfo("de-a", "2022", "token-classification", languages=["de"]),
    "ko-a": ModelInfo("ko-a", "2022", "fill-mask", languages=["ko"]),
    "multi": ModelInfo("multi", "2022", "text-classification", languages=["zh", "en"]),
}


def test_features_name_each_language_once_in_order_with_the_words_around_it():
    f = A.features("The tagger only supports English, but my notes are German text.")
    assert list(f) == ["en", "de"]
    assert f["en"]["first"] == 1.0 and f["en"]["english"] == 1.0 and f["en"]["named"] == 2.0
    assert f["en"]["L:supports"] == 1.0 and "R:but" in f["en"]
    assert f["de"]["last"] == 1.0 and f["de"]["R:text"] == 1.0 and "L:notes" in f["de"]
    assert A.features("a multilingual model for my data") == {}


def test_the_asked_language_is_the_one_most_good_models_speak():
    assert A.asked_language(["en", "zh"], ["zh-a", "zh-b", "en-a"], MODELS) == "zh"
    assert A.asked_language(["en", "zh"], ["zh-a", "en-a"], MODELS) is None  # a tie
    assert A.asked_language(["en", "zh"], ["multi"], MODELS) is None  # both, a tie too
    assert A.asked_language(["ko", "de"], ["unknown-id", "zh-a"], MODELS) is None  # none


def _rows(n: int) -> list[tuple[str, str, list[str]]]:
    """Requests that name the language a tool lacks first and the asked one second, and
    some that name the asked one first: only the words around them tell."""
    rows = []
    for i in range(n):
        rows.append((f"Tool {i} only supports English; I need sentiment for Chinese reviews.",
                     "text-classification", ["zh-a", "zh-b"]))
        rows.append((f"I need sentiment for Chinese posts {i}, the English one fails.",
                     "text-classification", ["zh-a"]))
        rows.append((f"App {i} only supports Korean; I need NER for German letters.",
                     "token-classification", ["de-a"]))
    return rows


def test_fit_learns_to_put_the_asked_language_first():
    model = A.fit(_rows(10), MODELS)
    assert model is not None
    text = "The library only supports English; I need sentiment for Chinese comments."
    assert model.order(text, ["en", "zh"]) == ["zh", "en"]
    # the asked language named first stays first; a filter code and multilingual stay last
    assert model.order("I need Chinese sentiment, the English model fails.",
                       ["zh", "en", "multilingual"]) == ["zh", "en", "multilingual"]
    assert model.order("only English here", ["en"]) == ["en"]  # one language: unchanged


def test_too_few_usable_requests_give_no_model_and_translation_is_not_an_example():
    assert A.fit(_rows(2), MODELS) is None
    translation = [("Translate English into Chinese.", "translation", ["zh-a"])] * 50
    assert A.examples(translation, MODELS) == []


def test_saved_order_loads_and_a_missing_or_other_format_file_is_none(tmp_path, caplog):
    model = A.fit(_rows(10), MODELS)
    model.save(tmp_path)
    back = A.AskLanguage.load(tmp_path)
    assert back == model
    assert A.AskLanguage.load(tmp_path / "none") is None
    data = json.loads((tmp_path / A.ASK_LANGUAGE_FILE).read_text())
    data["format_version"] = A.FORMAT_VERSION + 1
    (tmp_path / A.ASK_LANGUAGE_FILE).write_text(json.dumps(data))
    assert A.AskLanguage.load(tmp_path) is None


def test_reading_a_request_orders_its_languages_unless_it_is_translation():
    from advisor.understanding import RequestUnderstanding

    order = A.fit(_rows(10), MODELS)
    reader = RequestUnderstanding(MODELS, ask_language=order)
    text = "The tool only supports English; I need sentiment for Chinese reviews."
    req, _ = reader.build_request(text)
    assert req.languages[:2] == ["zh", "en"]
    assert any("zh asked before en" in c for c in req.cues)
    # without a learned order the first language named is the ask
    assert RequestUnderstanding(MODELS).build_request(text)[0].languages[0] == "en"
    # translation needs both languages in the order named (from English into Chinese)
    text = "The tool only supports English; translate my English manuals into Chinese."
    req, _ = reader.build_request(text)
    assert req.task == "translation" and req.languages[:2] == ["en", "zh"]


def test_on_real_requests_the_learned_order_beats_the_first_language_named(corpus_dir):
    """The labelled training requests and the corpus's 2026 model records (their stated
    languages label which named language was asked), 3-fold cross-validation."""
    from advisor.config import TRAIN_REQUESTS_FILE
    from advisor.labelled import training_request_rows
    from bench.language_order_cv import cross_validate
    from builder.report import SourceReport
    from builder.sources.hub2026 import read_hub2026

    models = {m.id: m for m, _ in read_hub2026(corpus_dir / "hub_models_2026.jsonl.gz",
                                               SourceReport("hub2026"))}
    table = {r["order"]: r for r in cross_validate(
        training_request_rows(TRAIN_REQUESTS_FILE), models, 3, [A.C])}
    assert table["first named"]["requests"] >= A.MIN_REQUESTS
    assert table[f"learned, C={A.C}"]["asked first"] > table["first named"]["asked first"]


def test_a_build_reports_the_learned_order_it_writes(small_index_dir):
    manifest = json.loads((small_index_dir / "manifest.json").read_text())
    present = manifest["task_model"]["language_order"]
    assert present == (small_index_dir / A.ASK_LANGUAGE_FILE).exists()
