"""Output explainer: each detector on invented outputs, softmax maths, a label map from
a real card (read at test time), thread citations, and robustness on arbitrary text."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.errors import InvalidInputError, InvalidModelIdError
from advisor.explainer import OutputExplainer, repeated_ngram
from advisor.output_numbers import parse_number_lists, sigmoid, softmax
from advisor.types import Hit

EXAMPLES = {
    "label_ids": "[{'label': 'LABEL_1', 'score': 0.9812}]",
    "logits": "SequenceClassifierOutput(loss=None, logits=tensor([[-2.1034,  3.4411]]), "
              "hidden_states=None)",
    "token_ids": "tensor([[  101,  7592,  1010,  2026,  3899,  2003, 10140,   102]])",
    "ner_subwords": "[{'entity': 'B-PER', 'score': 0.99, 'word': 'Sa'}, "
                    "{'entity': 'I-PER', 'score': 0.98, 'word': '##rah'}]",
    "generation_repetition": "[{'generated_text': 'The weather is nice. The weather is nice. "
                             "The weather is nice. The weather is nice.'}]",
    "generation_truncated": "[{'generated_text': 'Once upon a time there was a little girl who'}]",
    "special_tokens": "<pad> Das Haus ist wunderbar.</s><pad><pad>",
    "nan_loss": "{'loss': nan, 'learning_rate': 4.9e-05, 'epoch': 0.12}",
    "shape_mismatch": "RuntimeError: Error(s) in loading state_dict for "
                      "BertForSequenceClassification:\n\tsize mismatch for classifier.weight: "
                      "copying a param with shape torch.Size([2, 768]) from checkpoint, the "
                      "shape in current model is torch.Size([5, 768]).",
    "sequence_too_long": "Token indices sequence length is longer than the specified maximum "
                         "sequence length for this model (913 > 512).",
    "cuda_oom": "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
    "new_head_warning": "Some weights of BertForSequenceClassification were not initialized "
                        "from the model checkpoint at bert-base-uncased and are newly "
                        "initialized: ['classifier.bias', 'classifier.weight']\nYou should "
                        "probably TRAIN this model on a down-stream task",
    "unused_weights_warning": "Some weights of the model checkpoint at bert-base-uncased were "
                              "not used when initializing BertForSequenceClassification: "
                              "['cls.predictions.bias']",
    "tokenizer_padding": "ValueError: Asking to pad but the tokenizer does not have a padding "
                         "token. Please select a token to use as `pad_token`",
    "device_mismatch": "RuntimeError: Expected all tensors to be on the same device, but found "
                       "at least two devices, cuda:0 and cpu!",
    "model_not_found": "OSError: my-model is not a local folder and is not a valid model "
                       "identifier listed on 'https://huggingface.co/models'",
    "pipeline_error": "Traceback (most recent call last):\n  File \"x.py\", line 3\n"
                      "KeyError: 'sentence'",
}


@pytest.fixture
def explainer():
    return OutputExplainer()


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_each_detector(explainer, kind):
    exp = explainer.explain(EXAMPLES[kind])
    assert kind in exp.kinds, exp.kinds
    assert "**What to do**" in exp.answer and "\n1. " in exp.answer
    assert exp.categories and exp.categories[0].category


def test_logits_softmax_shown_and_correct(explainer):
    exp = explainer.explain("logits: tensor([[-1.5, 0.25, 2.0]])")
    assert exp.kinds[0] == "logits"
    expected = np.exp([-1.5, 0.25, 2.0]) / np.exp([-1.5, 0.25, 2.0]).sum()
    for p in expected:
        assert f"{p:.4f}" in exp.answer
    assert "Predicted class: index 2" in exp.answer


def test_probabilities_are_not_called_logits(explainer):
    exp = explainer.explain("tensor([[0.1, 0.9]])")
    assert "scores" in exp.kinds and "logits" not in exp.kinds


@pytest.mark.parametrize("values", [[1.0, 2.0, 3.0], [-1000.0, 0.0, 1000.0], [5.0], [0.0, 0.0]])
def test_softmax_matches_numpy(values):
    ours = softmax(values)
    ref = np.exp(np.array(values) - max(values))
    ref = ref / ref.sum()
    assert np.allclose(ours, ref) and math.isclose(sum(ours), 1.0)


def test_softmax_edge_cases():
    assert softmax([]) == []
    assert softmax([math.inf, 1.0, math.inf]) == [0.5, 0.0, 0.5]
    assert all(math.isnan(x) for x in softmax([math.nan, 1.0]))
    assert softmax([-math.inf, -math.inf]) == [0.5, 0.5]
    assert sigmoid(0.0) == 0.5 and sigmoid(-800) >= 0.0 and sigmoid(800) == 1.0


def test_parse_number_lists():
    assert parse_number_lists("tensor([[-1.2, 3.4], [0.5, 1e-3]])") == [[-1.2, 3.4], [0.5, 0.001]]
    assert parse_number_lists("array([0.1 0.9])") == [[0.1, 0.9]]
    assert parse_number_lists("['a', 1]") == []
    assert parse_number_lists("no numbers [] here [") == []


def test_repeated_ngram():
    assert repeated_ngram("I like it. I like it. I like it.") is not None
    assert repeated_ngram("a perfectly ordinary sentence without loops") is None


def test_unknown_and_empty(explainer):
    exp = explainer.explain("the sky is blue today")
    assert exp.kinds == ["unknown"] and "\n1. " in exp.answer
    for empty in ("", "   \n\t", None):
        with pytest.raises(InvalidInputError):
            explainer.explain(empty)
    with pytest.raises(InvalidModelIdError):
        explainer.explain(EXAMPLES["label_ids"], model_id="../../etc/passwd")


def test_label_map_from_real_card(corpus_dir):
    """A real 2022 card that states LABEL_n meanings -> the explanation names them."""
    from builder.report import SourceReport
    from builder.sources.cards2022 import model_from_row

    info = None
    with gzip.open(corpus_dir / "model_cards_2022.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            if "LABEL_1" not in line:
                continue
            candidate, _ = model_from_row(json.loads(line), SourceReport("cards2022"))
            if "LABEL_1" in candidate.label_map:
                info = candidate
                break
    assert info is not None, "some 2022 card states what LABEL_1 means"
    exp = OutputExplainer({info.id: info}).explain(
        "[{'label': 'LABEL_1', 'score': 0.97}]", model_id=info.id)
    assert exp.label_map["LABEL_1"] == info.label_map["LABEL_1"]
    assert f"`LABEL_1` = **{info.label_map['LABEL_1']}**" in exp.answer
    assert any(c.kind == "model" and c.id == f"model:{info.id}" for c in exp.citations)
    # without the index the answer explains how to look it up instead
    plain = OutputExplainer().explain("[{'label': 'LABEL_1', 'score': 0.97}]", model_id=info.id)
    assert "id2label" in plain.answer and plain.notes


def test_thread_citations_from_retriever():
    class Threads:
        def search(self, query, k=8, kinds=None, doc_ids=None):
            assert kinds == ["thread"] and query
            return [Hit(1, "thread:123#0", "thread:123", "thread", "NaN loss with fp16", "",
                        "https://discuss.huggingface.co/t/123", 0.5)]

    exp = OutputExplainer(None, retriever=Threads()).explain(EXAMPLES["nan_loss"])
    assert exp.citations[0].url == "https://discuss.huggingface.co/t/123"
    assert "### Similar forum threads" in exp.answer


def test_explainer_with_small_index(small_index):
    from advisor.config import Config
    from advisor.retrieval import HybridRetriever

    exp = OutputExplainer(small_index, HybridRetriever(small_index, Config())).explain(
        EXAMPLES["cuda_oom"])
    assert "cuda_oom" in exp.kinds
    assert all(c.kind == "thread" and c.id.startswith("thread:") for c in exp.citations)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_never_crashes_on_arbitrary_text(text):
    try:
        exp = OutputExplainer().explain(text)
    except InvalidInputError:
        assert not text.strip() or not any(c.isprintable() and not c.isspace() for c in text)
        return
    assert exp.kinds and exp.answer


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=-50, max_value=50),
                min_size=2, max_size=8))
def test_pasted_logits_round_trip(values):
    text = "logits=tensor([[" + ", ".join(f"{v:.4f}" for v in values) + "]])"
    exp = OutputExplainer().explain(text)
    assert "logits" in exp.kinds
    probs = softmax([float(f"{v:.4f}") for v in values])
    assert math.isclose(sum(probs), 1.0, rel_tol=1e-9)


def test_finding_texts_come_from_the_data_file():
    """Every kind the explainer reports has its prose and category in prompts/explainer.yaml."""
    from advisor.explainer import detect, load_finding_texts

    texts = load_finding_texts()
    for example in EXAMPLES.values():
        for f in detect(example):
            assert f.category in {t.category for t in texts.values()}
    assert OutputExplainer().explain(EXAMPLES["nan_loss"]).answer.count(
        texts["nan_loss"].steps[0][:40]) == 1


def test_malformed_explainer_file_is_a_clear_error(tmp_path):
    from advisor.errors import KnowledgeBaseError
    from advisor.explainer import load_finding_texts

    good = {"category": "Spaces", "title": "t", "meaning": "m", "steps": ["s"], "query": "q"}
    cases = {
        "missing.yaml": {"unknown": {**good, "steps": []}},
        "regex.yaml": {"unknown": {**good, "signatures": ["(unclosed"]}},
        "category.yaml": {"unknown": {**good, "category": "Nope"}},
        "nofallback.yaml": {"other": good},
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_text(json.dumps(data))  # JSON is YAML
        with pytest.raises(KnowledgeBaseError, match=name):
            load_finding_texts(path)
